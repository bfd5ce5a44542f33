"""What fewer candidates change in the answers, on an index ``benchmarks/speed.py`` cached.

``CITEBOT_CANDIDATES`` passages come from each of the two searches (the nearest sentences
and BM25) before fusion. Fewer make an ask faster (speed.py measures by how much, with the
variable set) but may miss the passage whose close sentence and BM25 add up best. The eval
sets cannot tell, since every passage of their small archives is a candidate. So this script
asks the same questions of speed.py's large index with each count, and compares the
answers with those of the first count:

    python benchmarks/candidates.py [--size 10000] [--candidates 40,30,20] [--k 5]

The questions are the first 200 of squad_dev and all of the three seeds sets. For each
count it prints how many questions keep the first bold sentence, keep the k bold
sentences in order, and keep the answer rule's decision.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from config import load_settings
from retrieval.evaluation import load_questions
from retrieval.service import Retriever

DATA = HERE / "data"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=10000, help="passages of the cached speed index")
    parser.add_argument("--candidates", default="40,30,20", help="counts to compare, the reference first")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--cache", type=Path, default=HERE / ".cache" / "speed", help="speed.py's cache")
    args = parser.parse_args()
    index = args.cache / f"index-{args.size}-derived"
    if not index.exists():
        raise SystemExit(f"no cached index at {index}: run benchmarks/speed.py --sizes {args.size} first")
    questions = [q.q for q in load_questions(DATA / "squad_dev" / "questions.jsonl")][:200]
    for name in ("seeds_dev", "seeds_check", "seeds_users"):
        questions += [q.q for q in load_questions(DATA / f"{name}.jsonl")]
    counts = [int(c) for c in args.candidates.split(",")]
    answers: dict[int, list[tuple[list[str], bool]]] = {}
    embedder = None
    for count in counts:
        settings = load_settings(
            articles_dir=args.cache / f"corpus-{args.size}" / "articles",
            data_dir=index,
            read_only=True,
            candidates=count,
        )
        retriever = Retriever(settings, embedder=embedder)
        embedder = retriever.embedder
        answers[count] = []
        for question in questions:
            answer = retriever.search(question, k=args.k)
            answers[count].append(([p.highlight for p in answer.passages], answer.answered))
    reference = answers[counts[0]]
    n = len(questions)
    print(f"{args.size:,} passages, {n} questions, k = {args.k}; against {counts[0]} candidates:")
    for count in counts[1:]:
        pairs = list(zip(reference, answers[count]))
        first = sum(a[:1] == b[:1] for (a, _), (b, _) in pairs)
        all_k = sum(a == b for (a, _), (b, _) in pairs)
        decided = sum(x == y for (_, x), (_, y) in pairs)
        print(
            f"  {count:>3} candidates: same first bold sentence {first}/{n}, "
            f"same {args.k} in order {all_k}/{n}, same decision {decided}/{n}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
