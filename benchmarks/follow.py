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
  period to bring the view up to date;
- the first question of a fresh process, asked ``--delay`` seconds after it starts (a bot
  connects to Discord meanwhile), with and without the warm-up the bot starts at once
  (``Retriever.warm``): the replica through the server (its data folder holding the cache
  it derived), then, with the server stopped, the writer's embedded store. Each in a new
  process, in turns, ``--starts`` times each way;
- once, not per size: questions asked every 0.1 s (embedding included) while the same
  process indexes ``--indexing-articles`` new articles of speed.py's 1k corpus into an
  embedded store, the run embedding at normal priority (``citebot index``) and in the
  background (``index(background=True)``: the bot's runs), in turns, twice each; against
  the same questions with nothing being indexed.

Results: ``benchmarks/results/follow-LABEL.json`` and the table printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
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


FIRST = r"""
import sys, threading, time
t0 = time.perf_counter()
sys.path.insert(0, {root!r})
from config import load_settings
from retrieval.service import Retriever
retriever = Retriever(load_settings(**{settings!r}))
if {warm!r}:
    threading.Thread(target=retriever.warm, daemon=True).start()
time.sleep(max(0.0, {delay!r} - (time.perf_counter() - t0)))
started = time.perf_counter()
retriever.search({question!r})
print("RESULT", (time.perf_counter() - started) * 1e3)
"""


def first_question(
    settings: dict[str, object], question: str, delay: float, starts: int
) -> dict[str, list[float]]:
    """ms to answer the first question of a fresh process, without and with the warm-up."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITEBOT_")}
    times: dict[str, list[float]] = {"cold": [], "warmed": []}
    for start in range(2 * starts):
        warm = start % 2 == 1
        code = FIRST.format(root=str(ROOT), settings=settings, warm=warm, delay=delay, question=question)
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
        )
        line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT")), None)
        if line is None:
            raise RuntimeError(f"first question failed:\n{out.stderr[-3000:]}")
        times["warmed" if warm else "cold"].append(float(line.split()[1]))
    return times


def while_indexing(model, questions: list[str], articles: int, rounds: int = 2) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """Ask latency while this process indexes, normal vs background embedding."""
    source = speed.CACHE / "corpus-1000" / "articles"
    files = sorted(source.iterdir())
    if len(files) < 8 + articles:
        raise SystemExit("speed.py's 1k corpus is missing or too small: run benchmarks/speed.py first")
    root = speed.CACHE / "follow-indexing"
    shutil.rmtree(root, ignore_errors=True)
    times: dict[str, list[float]] = {"idle": [], "normal": [], "background": []}
    took: dict[str, list[float]] = {"normal": [], "background": []}
    for run in range(2 * rounds):
        way = "normal" if run % 2 == 0 else "background"
        work = root / f"run-{run}"  # a folder of its own: Chroma keeps each path's client open
        (work / "articles").mkdir(parents=True)
        for file in files[:8]:
            shutil.copy(file, work / "articles" / file.name)
        retriever = Retriever(
            load_settings(articles_dir=work / "articles", data_dir=work / "data"), embedder=model
        )
        retriever.index()
        for question in questions[:20]:
            retriever.clear_query_cache()
            times["idle"].append(timed(retriever, question))
            time.sleep(0.1)
        for file in files[8 : 8 + articles]:
            shutil.copy(file, work / "articles" / file.name)
        done = threading.Event()

        def index(retriever: Retriever = retriever, way: str = way, done: threading.Event = done) -> None:
            started = time.perf_counter()
            try:
                retriever.index(background=way == "background")
            finally:
                took[way].append(time.perf_counter() - started)
                done.set()

        thread = threading.Thread(target=index)
        thread.start()
        asked = 0
        while not done.is_set():
            retriever.clear_query_cache()
            times[way].append(timed(retriever, questions[asked % len(questions)]))
            asked += 1
            time.sleep(0.1)
        thread.join()
    shutil.rmtree(root, ignore_errors=True)
    row: dict[str, object] = {"articles": articles}
    for way, values in times.items():
        row[f"{way}_p50_ms"] = round(statistics.median(values), 1)
        row[f"{way}_p95_ms"] = round(speed.pct(values, 95), 1)
        row[f"{way}_n"] = len(values)
    for way, values in took.items():
        row[f"{way}_index_s"] = [round(t, 1) for t in values]
    return row


def measure(
    size: int, questions: list[str], runs: int, model, delay: float, starts: int
) -> dict[str, object]:  # type: ignore[no-untyped-def]
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
        first = {
            "replica": first_question(
                {
                    "articles_dir": str(work / "none"),
                    "data_dir": str(work / "replica"),
                    "read_only": True,
                    **served,
                },
                questions[0],
                delay,
                starts,
            )
        }
        proc.terminate()
        proc.wait(10)
        first["embedded"] = first_question(
            {"articles_dir": str(work / "articles"), "data_dir": str(work / "data")},
            questions[0],
            delay,
            starts,
        )
        for store, values in first.items():
            for mode, times in values.items():
                row[f"first_{store}_{mode}_ms"] = [round(t, 1) for t in times]
                row[f"first_{store}_{mode}_p50_ms"] = round(statistics.median(times), 1)
        return row
    finally:
        if proc.poll() is None:
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
    parser.add_argument("--delay", type=float, default=5.0, help="seconds from a start to its first question")
    parser.add_argument(
        "--starts", type=int, default=3, help="fresh processes per way, for the first question"
    )
    parser.add_argument(
        "--indexing-articles",
        type=int,
        default=40,
        help="articles indexed while asking (0: skip that measure)",
    )
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
        "| passages | spaced ask p50 / p95 ms, inline → follower | first ask after a run, inline → follower "
        "| first question of a process, p50 ms, cold → warmed up: replica, embedded |"
    )
    print("| ---: | ---: | ---: | ---: |")
    for size in (int(s) for s in args.sizes.split(",")):
        row = measure(size, questions[: args.questions], args.runs, model, args.delay, args.starts)
        result["sizes"].append(row)  # type: ignore[attr-defined]
        print(
            f"| {size:,} | {row['spaced_inline_p50_ms']} / {row['spaced_inline_p95_ms']} → "
            f"{row['spaced_follower_p50_ms']} / {row['spaced_follower_p95_ms']} | "
            f"{row['after_run_inline_p50_ms']} / {row['after_run_inline_p95_ms']} → "
            f"{row['after_run_follower_p50_ms']} / {row['after_run_follower_p95_ms']} | "
            f"{row['first_replica_cold_p50_ms']} → {row['first_replica_warmed_p50_ms']}, "
            f"{row['first_embedded_cold_p50_ms']} → {row['first_embedded_warmed_p50_ms']} |",
            flush=True,
        )
    if args.indexing_articles:
        row = while_indexing(model, questions[: args.questions], args.indexing_articles)
        result["while_indexing"] = row
        print(
            f"questions while the same process indexes {row['articles']} articles, p50 / p95 ms: "
            f"nothing indexed {row['idle_p50_ms']} / {row['idle_p95_ms']}, "
            f"embedding at normal priority {row['normal_p50_ms']} / {row['normal_p95_ms']} "
            f"(runs {row['normal_index_s']} s), in the background {row['background_p50_ms']} / "
            f"{row['background_p95_ms']} (runs {row['background_index_s']} s)",
            flush=True,
        )
    out = HERE / "results" / f"follow-{args.label}.json"
    out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
