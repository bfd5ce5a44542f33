"""What a read-only bot's asks wait for to stay current, with and without its follower.

    python benchmarks/follow.py --sizes 10000,100000 [--questions 40] [--runs 5]

On a copy of the index ``benchmarks/speed.py`` built and cached for each size, served by a
real ``chroma run`` on 127.0.0.1: one writer (this process) and one read-only replica with
an empty data folder, as in the README's "Scaling out". Two figures, each measured with
the replica checking the store itself on its asks ("inline", what ``citebot ask`` does)
and with its views kept current by a background thread (``Retriever.follow``, what the
bot does), in alternating rounds:

- an ask that comes more than ``refresh_seconds`` after the last check (a bot's usual
  case: questions are seconds to hours apart): speed.py's questions, their vectors
  cached so that the embedding is left out, the check made due before each inline ask;
- the first ask after the writer indexed one more article (a distractor article under a
  new name), asked once the check is due (inline) or once the follower has had its
  period to bring the view up to date.

Results: ``benchmarks/results/follow-LABEL.json`` and the table printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import speed

from config import load_settings
from retrieval.embedding import create_embedder
from retrieval.layout import BASE_LIBRARY, DataFolder
from retrieval.service import Retriever

NEWS = sorted((HERE / "data" / "distractors").glob("*.md"))


def timed(retriever: Retriever, question: str) -> float:
    started = time.perf_counter()
    retriever.search(question)
    return (time.perf_counter() - started) * 1e3


def measure(size: int, questions: list[str], runs: int, model) -> dict[str, object]:  # type: ignore[no-untyped-def]
    source = speed.CACHE / f"index-{size}-derived"
    if not source.exists():
        raise SystemExit(f"no cached index of {size} passages: run benchmarks/speed.py --sizes {size} first")
    work = speed.CACHE / f"follow-{size}"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(source, work / "data", ignore=shutil.ignore_patterns("*.lock"))
    shutil.copytree(speed.CACHE / f"corpus-{size}" / "articles", work / "articles")
    port = speed.free_port()
    proc = speed.start_chroma(DataFolder(work / "data").chroma, port)
    try:
        served = {"chroma_host": "127.0.0.1", "chroma_port": port}
        writer = Retriever(
            load_settings(articles_dir=work / "articles", data_dir=work / "data", **served), embedder=model
        )
        replica = Retriever(
            load_settings(articles_dir=work / "none", data_dir=work / "replica", read_only=True, **served),
            embedder=model,
        )
        period = replica.settings.refresh_seconds
        for question in questions:  # warm: the view derived, every question's vector cached
            replica.search(question)
        spaced: dict[str, list[float]] = {"inline": [], "follower": []}
        for round_ in range(4):
            mode = "inline" if round_ % 2 == 0 else "follower"
            if mode == "follower":
                replica.follow()
            for question in questions:
                if mode == "inline":
                    replica.views._checked_at = -float("inf")
                spaced[mode].append(timed(replica, question))
            replica.stop_following()
        after_run: dict[str, list[float]] = {"inline": [], "follower": []}
        applied: list[float] = []
        for run in range(2 * runs):
            mode = "inline" if run % 2 == 0 else "follower"
            if mode == "follower":
                replica.follow()
            news = NEWS[run % len(NEWS)]
            shutil.copy(news, work / "articles" / f"news-{run:03d}-{news.name}")
            writer.index()
            generation = writer.registry.record(BASE_LIBRARY).generation
            time.sleep(period * 1.2)
            if mode == "follower":
                waited = time.monotonic()
                while replica.views.get(BASE_LIBRARY).generation != generation:
                    time.sleep(0.01)
                applied.append(time.monotonic() - waited)
            after_run[mode].append(timed(replica, questions[run % len(questions)]))
            replica.stop_following()
        row: dict[str, object] = {"size": size, "refresh_seconds": period}
        for name, values in (("spaced", spaced), ("after_run", after_run)):
            for mode, times in values.items():
                row[f"{name}_{mode}_p50_ms"] = round(statistics.median(times), 2)
                row[f"{name}_{mode}_p95_ms"] = round(speed.pct(times, 95), 2)
                row[f"{name}_{mode}_n"] = len(times)
        row["follower_late_s_max"] = round(max(applied), 3)
        return row
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", default="10000", help="passages, comma-separated (speed.py's cached indexes)"
    )
    parser.add_argument("--questions", type=int, default=40, help="speed.py's first N questions")
    parser.add_argument("--runs", type=int, default=5, help="writer runs per mode")
    parser.add_argument("--label", default="latest")
    args = parser.parse_args()
    model = create_embedder(load_settings())
    questions = speed.questions()
    speed.random.Random(0).shuffle(questions)
    result = {
        "command": "python benchmarks/follow.py " + " ".join(sys.argv[1:]),
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "sizes": [],
    }
    print(
        "| passages | spaced ask p50 / p95 ms, inline → follower | first ask after a run, inline → follower |"
    )
    print("| ---: | ---: | ---: |")
    for size in (int(s) for s in args.sizes.split(",")):
        row = measure(size, questions[: args.questions], args.runs, model)
        result["sizes"].append(row)  # type: ignore[attr-defined]
        print(
            f"| {size:,} | {row['spaced_inline_p50_ms']} / {row['spaced_inline_p95_ms']} → "
            f"{row['spaced_follower_p50_ms']} / {row['spaced_follower_p95_ms']} | "
            f"{row['after_run_inline_p50_ms']} / {row['after_run_inline_p95_ms']} → "
            f"{row['after_run_follower_p50_ms']} / {row['after_run_follower_p95_ms']} |",
            flush=True,
        )
    out = HERE / "results" / f"follow-{args.label}.json"
    out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
