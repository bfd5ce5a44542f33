"""Calibrate the rule that decides whether citebot answers or declines.

Collects, for in-domain questions (seeds_dev, seeds_check, squad_dev) and off-topic ones
(asked of the seeds), the signals the rule may use: the best sentence's cosine
similarity and the share of the question's words found in the archive. Then
fits the rule ``cosine + coverage_weight * coverage >= threshold`` by k-fold
cross-validation: in each fold, the threshold is the highest that keeps at least
``--answered`` of the training in-domain questions answered, and it is scored on
the held-out questions.

    python benchmarks/calibrate.py [--folds 5] [--answered 0.98]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np

from config import load_settings
from retrieval.evaluation import load_questions
from retrieval.service import Retriever

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def signals(retriever: Retriever, questions: list[str]) -> np.ndarray:
    rows = []
    for q in questions:
        answer = retriever.search(q, k=1)
        rows.append((answer.similarity, retriever.coverage(q)))
    return np.asarray(rows, dtype=np.float64)


def fit(inside: np.ndarray, weight: float, target: float) -> float:
    scores = np.sort(inside[:, 0] + weight * inside[:, 1])
    return float(scores[int(np.floor((1.0 - target) * len(scores)))])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--answered", type=float, default=0.98, help="in-domain answered rate to keep")
    parser.add_argument("--weights", default="0,0.02,0.04,0.06,0.08,0.1,0.15,0.2,0.25")
    parser.add_argument("--data-dir", type=Path, default=HERE / ".cache" / "calibrate")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()

    seeds = Retriever(load_settings(articles_dir=ROOT / "seeds", data_dir=args.data_dir / "seeds"))
    seeds.index()
    squad = Retriever(
        load_settings(
            articles_dir=HERE / "data" / "squad_dev" / "articles", data_dir=args.data_dir / "squad"
        ),
        embedder=seeds.embedder,
    )
    squad.index()
    inside = np.vstack(
        [
            signals(seeds, [q.q for q in load_questions(HERE / "data" / "seeds_dev.jsonl")]),
            signals(seeds, [q.q for q in load_questions(HERE / "data" / "seeds_check.jsonl")]),
            signals(squad, [q.q for q in load_questions(HERE / "data" / "squad_dev" / "questions.jsonl")]),
        ]
    )
    outside = signals(seeds, [q.q for q in load_questions(HERE / "data" / "offtopic.jsonl")])

    rng = random.Random(args.seed)
    fold_in = [i % args.folds for i in range(len(inside))]
    fold_out = [i % args.folds for i in range(len(outside))]
    rng.shuffle(fold_in)
    rng.shuffle(fold_out)
    fold_in_a, fold_out_a = np.asarray(fold_in), np.asarray(fold_out)
    results = []
    for weight in (float(w) for w in args.weights.split(",")):
        answered = declined = 0
        for fold in range(args.folds):
            threshold = fit(inside[fold_in_a != fold], weight, args.answered)
            test_in, test_out = inside[fold_in_a == fold], outside[fold_out_a == fold]
            answered += int(np.sum(test_in[:, 0] + weight * test_in[:, 1] >= threshold))
            declined += int(np.sum(test_out[:, 0] + weight * test_out[:, 1] < threshold))
        full = fit(inside, weight, args.answered)
        results.append(
            {
                "coverage_weight": weight,
                "threshold": round(full, 4),
                "cv_answered": round(answered / len(inside), 3),
                "cv_declined": round(declined / len(outside), 3),
            }
        )
        print(json.dumps(results[-1]), flush=True)
    best = max(results, key=lambda r: (r["cv_declined"], r["cv_answered"]))
    print("best:", json.dumps(best))
    return 0


if __name__ == "__main__":
    sys.exit(main())
