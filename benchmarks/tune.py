"""Choose the fusion weight by cross-validation instead of by hand.

For every development question, the candidates are ranked once with their two
signals (best sentence cosine, normalised BM25). Then, in each of k folds, the
lexical weight that maximises hit@1 (then MRR@5) on the other folds is chosen
and scored on the held-out fold. The cross-validated figures are what to expect
on new questions written the same way.

    python benchmarks/tune.py [--folds 5] [--weights 0,0.025,0.05,...]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np

from config import load_settings
from retrieval.evaluation import Question, load_questions
from retrieval.service import Retriever, clean_question

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SETS = {
    "seeds_dev": (ROOT / "seeds", HERE / "data" / "seeds_dev.jsonl"),
    "squad_dev": (HERE / "data" / "squad_dev" / "articles", HERE / "data" / "squad_dev" / "questions.jsonl"),
}


def candidates(retriever: Retriever, question: Question) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(similarity, lexical, is_hit) for every candidate passage of ``question``."""
    text = clean_question(question.q, retriever.settings.max_question_chars)
    ranked = retriever._rank(text, retriever._query_vector(text), 10)  # noqa: SLF001 - a tuning tool
    chunks = {c.id: c for c in retriever.store.get([r.chunk_id for r in ranked])}
    hit = []
    for r in ranked:
        chunk = chunks[r.chunk_id]
        source = str(chunk.metadata.get("source_id", ""))
        hit.append(
            any(doc in source for doc in question.docs)
            and any(a.casefold() in chunk.text.casefold() for a in question.answers)
        )
    return (
        np.array([r.sentence.similarity for r in ranked]),
        np.array([r.lexical for r in ranked]),
        np.array(hit, dtype=bool),
    )


def scores(data: list[tuple[np.ndarray, np.ndarray, np.ndarray]], weight: float) -> tuple[float, float, float]:
    """hit@1, hit@5 and MRR@5 with ``weight``."""
    h1 = h5 = rr = 0.0
    for sim, lex, hit in data:
        order = np.argsort(-(sim + weight * lex), kind="stable")[:5]
        ranks = np.nonzero(hit[order])[0]
        if len(ranks):
            h1 += ranks[0] == 0
            h5 += 1
            rr += 1.0 / (ranks[0] + 1)
    n = max(len(data), 1)
    return h1 / n, h5 / n, rr / n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--weights", default="0,0.025,0.05,0.075,0.1,0.15,0.2,0.3")
    parser.add_argument("--data-dir", type=Path, default=HERE / ".cache" / "tune")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    weights = [float(w) for w in args.weights.split(",")]
    rng = random.Random(args.seed)
    embedder = None
    for name, (articles, questions_file) in SETS.items():
        retriever = Retriever(load_settings(articles_dir=articles, data_dir=args.data_dir / name), embedder=embedder)
        retriever.index()
        embedder = retriever.embedder
        data = [candidates(retriever, q) for q in load_questions(questions_file)]
        folds = [i % args.folds for i in range(len(data))]
        rng.shuffle(folds)
        held_out: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        chosen = []
        cv = np.zeros(3)
        for fold in range(args.folds):
            train = [d for d, f in zip(data, folds) if f != fold]
            test = [d for d, f in zip(data, folds) if f == fold]
            best = max(weights, key=lambda w: (scores(train, w)[0], scores(train, w)[2]))
            chosen.append(best)
            cv += np.array(scores(test, best)) * len(test)
            held_out.extend(test)
        cv /= len(data)
        print(json.dumps({
            "set": name,
            "by_weight": {w: [round(x, 3) for x in scores(data, w)] for w in weights},
            "cv_weights": chosen,
            "cv_hit@1": round(cv[0], 3), "cv_hit@5": round(cv[1], 3), "cv_mrr@5": round(cv[2], 3),
        }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
