"""What the deeper search for copies costs and brings, on the indexes ``speed.py`` cached.

When copies of a story (reprints, boilerplate) fill the vector search's candidates, fewer
than k passages are shown; ``Retriever.search`` then searches once more with
``retrieval.service.DEEPER`` times the candidates. speed.py's corpora are made of windows
of seven articles, so each sentence is in about a thousand passages at 100k: the worst
case of copies, where most questions need the deeper search.

For each factor (1 = no deeper search) every question is asked in one process, its
embedding cache emptied first, and timed whole; the time of the deeper search alone (its
ranking and the passages it shows) is timed inside it. Prints, per size and factor, the
ask's p50 / p95 with and without that part and how many answers show fewer than k.

    python benchmarks/copies.py --sizes 10000,100000 --factors 1,4,8,16 --questions 200
"""

from __future__ import annotations

import argparse
import json
import time

import speed  # benchmarks/speed.py, which puts this checkout on the path

from config import load_settings
from retrieval import service
from retrieval.service import Retriever


def measure(size: int, factors: list[int], count: int, k: int) -> list[dict[str, object]]:
    base = speed.CACHE
    settings = load_settings(
        articles_dir=base / f"corpus-{size}" / "articles",
        data_dir=base / f"index-{size}-derived",
        read_only=True,
    )
    retriever = Retriever(settings)
    questions = speed.questions()[:count]
    for question in questions[:20]:
        retriever.search(question, k=k)  # warm: the HNSW index, the model
    deeper = [0.0]
    ranked, shown = retriever._ranked, service.shown
    calls = [0]

    def timed_ranked(*args, **kwargs):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        try:
            return ranked(*args, **kwargs)
        finally:
            if kwargs.get("candidates"):
                deeper[0] += time.perf_counter() - started

    def timed_shown(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls[0] += 1
        started = time.perf_counter()
        try:
            return shown(*args, **kwargs)
        finally:
            if calls[0] > 1:  # the deeper search's
                deeper[0] += time.perf_counter() - started

    retriever._ranked = timed_ranked  # type: ignore[method-assign]
    service.shown = timed_shown
    rows = []
    try:
        for factor in factors:
            service.DEEPER = factor
            whole, without, short = [], [], 0
            for question in questions:
                retriever._query_cache.clear()
                deeper[0], calls[0] = 0.0, 0
                started = time.perf_counter()
                answer = retriever.search(question, k=k)
                seconds = time.perf_counter() - started
                whole.append(seconds * 1000)
                without.append((seconds - deeper[0]) * 1000)
                short += len(answer.passages) < k
            rows.append(
                {
                    "passages": size,
                    "factor": factor,
                    "questions": len(questions),
                    "ask_ms_p50": round(speed.pct(whole, 50), 1),
                    "ask_ms_p95": round(speed.pct(whole, 95), 1),
                    "without_deeper_ms_p50": round(speed.pct(without, 50), 1),
                    "without_deeper_ms_p95": round(speed.pct(without, 95), 1),
                    "fewer_than_k": short,
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    finally:
        service.shown = shown
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000", help="cached index sizes, comma-separated")
    parser.add_argument("--factors", default="1,8", help="DEEPER factors to compare (1: none)")
    parser.add_argument("--questions", type=int, default=200, help="questions per size")
    parser.add_argument("--k", type=int, default=5, help="passages asked for")
    args = parser.parse_args()
    factors = [int(f) for f in args.factors.split(",")]
    for size in (int(s) for s in args.sizes.split(",")):
        if not (speed.CACHE / f"index-{size}-derived").is_dir():
            raise SystemExit(f"no cached index of {size} passages: run speed.py --sizes {size} first")
        measure(size, factors, args.questions, args.k)


if __name__ == "__main__":
    main()
