"""Where an ask's time goes, phase by phase, on speed.py's cached index (embedded).

    python benchmarks/phases.py --size 100000 [--questions 120] [--rounds 2]

Asks speed.py's first questions (query vectors not cached, so each is embedded) on the index
``benchmarks/speed.py`` built for that many passages, read-only, after one warm round, and
marks inside each ask, from its start: the question embedded, the lexical side's thread
started and done, the nearest-sentence query started and done, the ranking's wait for the
side, the fusion done, the passages shown read and highlighted, the end. Prints p50 and p95
of each mark in ms, and of the time after the embedding.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from config import load_settings
from retrieval import ranking, service, store
from retrieval.service import Retriever

MARKS = (
    "embedded",
    "side_start",
    "side_end",
    "query_start",
    "query_done",
    "side_wait",
    "side_got",
    "ranked",
    "shown_done",
    "total",
)


def instrument(marks: dict[str, float]) -> None:
    """Wrap the ask's steps so that each records when it ends (or starts) in ``marks``."""

    def mark(name: str) -> None:
        marks.setdefault(name, time.perf_counter())

    def after(owner: object, name: str, label: str, before: str | None = None) -> None:
        original = getattr(owner, name)

        def wrapped(*args: object, **kwargs: object) -> object:
            if before:
                mark(before)
            result = original(*args, **kwargs)
            mark(label)
            return result

        setattr(owner, name, wrapped)

    after(Retriever, "query_vector", "embedded")
    after(store.LibraryStore, "query_sentences", "query_done", before="query_start")
    after(ranking.Ranker, "rank", "ranked")
    shown = service.shown
    service.shown = lambda *a, **k: (list(shown(*a, **k)), mark("shown_done"))[0]
    lexical_side = ranking.Ranker.lexical_side

    def side_run(self: object, *args: object, **kwargs: object) -> object:
        marks["side_start"] = time.perf_counter()
        result = lexical_side(self, *args, **kwargs)  # type: ignore[arg-type]
        marks["side_end"] = time.perf_counter()
        return result

    ranking.Ranker.lexical_side = side_run  # type: ignore[method-assign]
    started = service.Retriever._lexical_side

    def side(self: Retriever, *args: object, **kwargs: object) -> object:
        result = started(self, *args, **kwargs)  # type: ignore[arg-type]

        def waited() -> object:
            mark("side_wait")
            got = result()
            mark("side_got")
            return got

        return waited

    service.Retriever._lexical_side = side  # type: ignore[method-assign]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=100000, help="passages of speed.py's cached index")
    parser.add_argument("--questions", type=int, default=120)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--speed-cache", type=Path, default=HERE / ".cache" / "speed")
    args = parser.parse_args()
    from speed import questions

    folder = args.speed_cache / f"index-{args.size}-derived"
    if not folder.exists():
        raise SystemExit(f"no cached index at {folder}: run benchmarks/speed.py --sizes {args.size} first")
    settings = load_settings(
        articles_dir=args.speed_cache / f"corpus-{args.size}" / "articles", data_dir=folder, read_only=True
    )
    retriever = Retriever(settings)
    asked = questions()[: args.questions]
    for question in asked:
        retriever.search(question)  # warm: the view read, the vector index loaded
    marks: dict[str, float] = {}
    instrument(marks)
    rows = []
    for _ in range(args.rounds):
        for question in asked:
            retriever.clear_query_cache()
            marks.clear()
            start = time.perf_counter()
            retriever.search(question)
            marks["total"] = time.perf_counter()
            rows.append({name: (at - start) * 1000 for name, at in marks.items()})

    def cell(values: list[float]) -> str:
        values = sorted(values)
        p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
        return f"p50 {values[len(values) // 2]:6.1f}  p95 {p95:6.1f} ms"

    print(f"{args.size:,} passages, {len(rows)} asks, ms from each ask's start")
    for name in MARKS:
        print(f"{name:12s} {cell([row[name] for row in rows if name in row])}")
    print(f"{'after embed':12s} {cell([row['total'] - row['embedded'] for row in rows])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
