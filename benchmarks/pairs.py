"""Ask latency of two checkouts, measured in turns on the indexes ``speed.py`` cached.

One ``speed.py`` run is one sample: on two shared cores, with the page cache holding
some of a 3 GB index and not the rest, the p95 ratio of the same code moves by 0.2
between runs. A change to the ask path is judged better by alternating: each round
runs speed.py's ask measure (60 questions, the query embedding timed bare and inside
the ask, question by question) in a fresh process for each checkout, in turns, and
the medians over the rounds are compared.

    git worktree add /tmp/before REF
    python benchmarks/pairs.py --before /tmp/before --sizes 10000,100000 --server --rounds 4

``--before`` and ``--after`` are this checkout by default, so a setting can be compared
instead: ``--after-set candidates=20`` (any ``CITEBOT_`` setting, lower case, without the
prefix). Results: ``benchmarks/results/pairs-LABEL.{json,md}``.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import speed  # benchmarks/speed.py, which puts this checkout on the path

HERE = Path(__file__).resolve().parent

CHILD = r"""
from __future__ import annotations
import math, sys, time, statistics
sys.path.insert(0, {code!r})
from config import load_settings
from retrieval.service import Retriever
{functions}
settings = load_settings(**{settings!r})
retriever = Retriever(settings)
print("RESULT", json.dumps(ask_latency(retriever, retriever.embedder, {questions!r}, {count!r})))
"""


def measure(code: Path, settings: dict[str, object], questions: list[str], count: int) -> dict[str, float]:
    """speed.py's ask measure, run in a fresh process on ``code``'s retrieval package."""
    functions = "import json\n" + inspect.getsource(speed.pct) + "\n" + inspect.getsource(speed.ask_latency)
    source = CHILD.format(
        code=str(code), functions=functions, settings=settings, questions=questions, count=count
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITEBOT_")}
    out = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True, env=env, check=False)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise RuntimeError(f"the measure failed on {code}:\n{out.stderr[-3000:]}")


def _setting(item: str) -> tuple[str, str]:
    name, equals, value = item.partition("=")
    if not equals or not name.strip():
        raise SystemExit(f"{item!r}: a setting is NAME=VALUE, such as candidates=20")
    return name.strip().lower().removeprefix("citebot_"), value.strip()


def summary(samples: list[dict[str, float]]) -> dict[str, float]:
    keys = ("ratio_p50", "ratio_p95", "overhead_p50_ms", "bare_p50_ms", "ask_p50_ms", "ask_p95_ms")
    return {key: statistics.median(s[key] for s in samples) for key in keys}


def compare(
    codes: dict[str, Path],
    overrides: dict[str, dict[str, str]],
    settings: dict[str, object],
    questions: list[str],
    args: argparse.Namespace,
) -> dict[str, object]:
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in codes}
    order = list(codes)
    for round_ in range(args.rounds):
        for name in order if round_ % 2 == 0 else reversed(order):
            chosen = {**settings, **overrides[name]}
            samples[name].append(measure(codes[name], chosen, questions, args.questions))
            s = samples[name][-1]
            print(f"    {name}: p50 / p95 ratio {s['ratio_p50']:.2f} / {s['ratio_p95']:.2f}", flush=True)
    return {name: {"median": summary(runs), "runs": runs} for name, runs in samples.items()}


def markdown(result: dict) -> str:  # type: ignore[type-arg]
    lines = [
        f"# Ask latency in turns — {result['label']}",
        "",
        f"`{result['command']}` — {result['when']}, {result['machine']}, load {result['load']} at the start",
        "",
        "Medians over the rounds of each run's figures.",
        "",
        "| passages | store | code | ask ÷ bare p50 / p95 | ask p50 / p95 ms | after the embedding, p50 ms |",
        "| ---: | --- | --- | ---: | ---: | ---: |",
    ]
    for row in result["rows"]:
        for name, measured in row["codes"].items():
            m = measured["median"]
            lines.append(
                f"| {row['size']:,} | {row['store']} | {_named(name, result)} "
                f"| {m['ratio_p50']:.2f}× / {m['ratio_p95']:.2f}× "
                f"| {m['ask_p50_ms']:.1f} / {m['ask_p95_ms']:.1f} | {m['overhead_p50_ms']:.1f} |"
            )
    return "\n".join(lines) + "\n"


def _named(name: str, result: dict) -> str:  # type: ignore[type-arg]
    settings = result.get("settings", {}).get(name)
    return f"{name} ({', '.join(f'{k}={v}' for k, v in settings.items())})" if settings else name


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--before", type=Path, default=HERE.parent, help="a checkout (this one)")
    parser.add_argument("--after", type=Path, default=HERE.parent, help="the other checkout (this one)")
    for name in ("before", "after"):
        parser.add_argument(
            f"--{name}-set",
            action="append",
            default=[],
            metavar="SETTING=VALUE",
            help=f"a setting for the {name} measures (repeatable)",
        )
    parser.add_argument("--sizes", default="10000", help="cached index sizes, comma-separated")
    parser.add_argument("--server", action="store_true", help="also through a `chroma run` server")
    parser.add_argument("--rounds", type=int, default=4, help="measures of each checkout, in turns")
    parser.add_argument("--questions", type=int, default=60, help="questions per measure")
    parser.add_argument("--label", default="latest", help="names the result files")
    parser.add_argument("--cache", type=Path, default=speed.CACHE, help=f"speed.py's cache ({speed.CACHE})")
    args = parser.parse_args()
    codes = {"before": args.before.resolve(), "after": args.after.resolve()}
    for name, code in codes.items():
        if not (code / "retrieval" / "service.py").is_file():
            raise SystemExit(f"--{name} {code}: not a citebot checkout")
    overrides = {name: dict(_setting(item) for item in getattr(args, f"{name}_set")) for name in codes}
    if codes["before"] == codes["after"] and overrides["before"] == overrides["after"]:
        raise SystemExit("nothing to compare: give --before, --after or --after-set")
    questions = speed.questions()
    result: dict[str, object] = {
        "label": args.label,
        "command": "python benchmarks/pairs.py " + " ".join(sys.argv[1:]),
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}",
        "load": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "codes": {name: str(code) for name, code in codes.items()},
        "settings": overrides,
        "rows": [],
    }
    rows: list[dict[str, object]] = result["rows"]  # type: ignore[assignment]
    for size in [int(s) for s in args.sizes.split(",") if s.strip()]:
        index = args.cache / f"index-{size}-derived"
        articles = args.cache / f"corpus-{size}" / "articles"
        if not index.is_dir():
            raise SystemExit(f"no cached index at {index}: run benchmarks/speed.py --sizes {size} first")
        print(f"{size} passages, embedded", flush=True)
        embedded = {"articles_dir": str(articles), "data_dir": str(index), "read_only": True}
        measured = compare(codes, overrides, embedded, questions, args)
        rows.append({"size": size, "store": "embedded", "codes": measured})
        if not args.server:
            continue
        copy = args.cache / f"server-{size}"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(index, copy / "data", ignore=shutil.ignore_patterns("*.lock"))
        port = speed.free_port()
        process = speed.start_chroma(copy / "data" / "chroma", port)
        try:
            print(f"{size} passages, through a server", flush=True)
            served = {
                "articles_dir": str(articles),
                "data_dir": str(copy / "replica"),
                "chroma_host": "127.0.0.1",
                "chroma_port": port,
                "read_only": True,
            }
            measured = compare(codes, overrides, served, questions, args)
            rows.append({"size": size, "store": "server", "codes": measured})
        finally:
            process.terminate()
            process.wait(30)
            shutil.rmtree(copy, ignore_errors=True)
    stem = speed.RESULTS / f"pairs-{args.label}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=1), "utf-8")
    stem.with_suffix(".md").write_text(markdown(result), "utf-8")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
