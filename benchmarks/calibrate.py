"""Calibrate the rule that decides whether citebot answers or declines, with a margin.

The rule is ``similarity + coverage_weight * coverage + name_weight * names >=
min_score`` (see ``retrieval.ranking.AnswerRule``): the best sentence's cosine (with the
cross-language bonus), plus the weighted shares of the question's words and of its names
found in the archive.

Signals are collected for every in-domain question (seeds_dev, seeds_check, seeds_users,
squad_dev) and every off-topic one (offtopic, offtopic_check; asked of the seeds). For
each pair of weights, the threshold is placed in a gap between questions, never on one:
among the thresholds that keep at least ``--answered`` of the in-domain questions
answered and decline the most off-topic ones, the one farthest from every question's
score (the middle of the widest gap). A question whose score sits on the threshold flips
with the last digits of its floats, which differ across CPUs and thread counts. The
weights are chosen by k-fold cross-validation (the figures to expect on new questions),
and the margin distribution is printed: how close the nearest in-domain and off-topic
questions come to the threshold.

    python benchmarks/calibrate.py [--folds 5] [--answered 0.98] [--noise 0.003]
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
DATA = HERE / "data"


def signals(retriever: Retriever, questions: list[str]) -> np.ndarray:
    """``(similarity, coverage, names)`` per question, as the answer rule reads them."""
    rows = []
    for q in questions:
        answer = retriever.search(q, k=1)
        rows.append((answer.similarity, answer.coverage, answer.names))
    return np.asarray(rows, dtype=np.float64).reshape(-1, 3)


def scores(data: np.ndarray, weights: tuple[float, float]) -> np.ndarray:
    return data[:, 0] + weights[0] * data[:, 1] + weights[1] * data[:, 2]


def fit(
    inside: np.ndarray, outside: np.ndarray, weights: tuple[float, float], target: float
) -> tuple[float, float]:
    """The threshold for ``weights`` and its margin (half the gap it sits in).

    Candidates are the midpoints between consecutive distinct scores (in-domain and
    off-topic pooled); among those answering at least ``target`` of ``inside`` and
    declining the most of ``outside``, the one in the widest gap wins.
    """
    score_in, score_out = scores(inside, weights), scores(outside, weights)
    pooled = np.unique(np.concatenate([score_in, score_out]))
    cuts = (pooled[:-1] + pooled[1:]) / 2
    gaps = (pooled[1:] - pooled[:-1]) / 2
    best: tuple[float, float, float] | None = None  # (declined, margin, cut)
    for cut, gap in zip(cuts.tolist(), gaps.tolist()):
        if np.mean(score_in >= cut) < target:
            continue
        candidate = (float(np.mean(score_out < cut)), gap, cut)
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    if best is None:  # even the lowest cut answers too few: answer everything
        return float(pooled[0]) - 0.01, 0.01
    return best[2], best[1]


def margins(data: np.ndarray, weights: tuple[float, float], threshold: float) -> np.ndarray:
    return scores(data, weights) - threshold


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--answered", type=float, default=0.98, help="in-domain answered rate to keep")
    parser.add_argument("--coverage-weights", default="0,0.05,0.1,0.15,0.2,0.25")
    parser.add_argument("--name-weights", default="0,0.02,0.04,0.06,0.08,0.1,0.15")
    parser.add_argument("--noise", type=float, default=0.003, help="margins closer than this count as noise")
    parser.add_argument("--data-dir", type=Path, default=HERE / ".cache" / "calibrate")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()

    seeds = Retriever(load_settings(articles_dir=ROOT / "seeds", data_dir=args.data_dir / "seeds"))
    seeds.index()
    squad = Retriever(
        load_settings(articles_dir=DATA / "squad_dev" / "articles", data_dir=args.data_dir / "squad"),
        embedder=seeds.embedder,
    )
    squad.index()

    def asked(retriever: Retriever, name: str) -> np.ndarray:
        return signals(retriever, [q.q for q in load_questions(DATA / name)])

    sets = {
        "seeds_dev": asked(seeds, "seeds_dev.jsonl"),
        "seeds_check": asked(seeds, "seeds_check.jsonl"),
        "seeds_users": asked(seeds, "seeds_users.jsonl"),
        "squad_dev": asked(squad, "squad_dev/questions.jsonl"),
    }
    off_sets = {
        "offtopic": asked(seeds, "offtopic.jsonl"),
        "offtopic_check": asked(seeds, "offtopic_check.jsonl"),
    }
    inside, outside = np.vstack(list(sets.values())), np.vstack(list(off_sets.values()))

    rng = random.Random(args.seed)
    fold_in = [i % args.folds for i in range(len(inside))]
    fold_out = [i % args.folds for i in range(len(outside))]
    rng.shuffle(fold_in)
    rng.shuffle(fold_out)
    fold_in_a, fold_out_a = np.asarray(fold_in), np.asarray(fold_out)
    results = []
    grid = [
        (float(c), float(n)) for c in args.coverage_weights.split(",") for n in args.name_weights.split(",")
    ]
    for weights in grid:
        answered = declined = 0
        for fold in range(args.folds):
            threshold, _ = fit(inside[fold_in_a != fold], outside[fold_out_a != fold], weights, args.answered)
            answered += int(np.sum(margins(inside[fold_in_a == fold], weights, threshold) >= 0))
            declined += int(np.sum(margins(outside[fold_out_a == fold], weights, threshold) < 0))
        threshold, margin = fit(inside, outside, weights, args.answered)
        results.append(
            {
                "coverage_weight": weights[0],
                "name_weight": weights[1],
                "min_score": round(threshold, 4),
                "margin": round(margin, 4),
                "cv_answered": round(answered / len(inside), 3),
                "cv_declined": round(declined / len(outside), 3),
            }
        )
    results.sort(key=lambda r: (r["cv_declined"], r["cv_answered"], r["margin"]), reverse=True)
    for row in results[:8]:
        print(json.dumps(row), flush=True)
    best = results[0]
    weights, threshold = (best["coverage_weight"], best["name_weight"]), best["min_score"]
    print("best:", json.dumps(best))

    report: dict[str, object] = {}
    for name, data in sets.items():
        report[name] = {"answered": round(float(np.mean(margins(data, weights, threshold) >= 0)), 3)}
    for name, data in off_sets.items():
        report[name] = {"declined": round(float(np.mean(margins(data, weights, threshold) < 0)), 3)}
    print("with it, on all questions:", json.dumps(report))

    every_in, every_out = margins(inside, weights, threshold), margins(outside, weights, threshold)
    print("margin distribution (rule score minus threshold):")
    print(
        json.dumps(
            {
                "nearest in-domain answered": round(float(every_in[every_in >= 0].min(initial=np.inf)), 4),
                "nearest in-domain declined": round(float(every_in[every_in < 0].max(initial=-np.inf)), 4),
                "nearest off-topic declined": round(float(every_out[every_out < 0].max(initial=-np.inf)), 4),
                "nearest off-topic answered": round(float(every_out[every_out >= 0].min(initial=np.inf)), 4),
                f"within ±{args.noise:g}": int(
                    np.sum(np.abs(every_in) < args.noise) + np.sum(np.abs(every_out) < args.noise)
                ),
                "in-domain deciles": [
                    round(float(v), 3) for v in np.quantile(every_in, np.linspace(0, 1, 11))
                ],
                "off-topic deciles": [
                    round(float(v), 3) for v in np.quantile(every_out, np.linspace(0, 1, 11))
                ],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
