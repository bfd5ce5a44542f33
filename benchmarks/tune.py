"""Choose the fusion weights by cross-validation instead of by hand.

Two settings shape the ranking score ``cosine + lexical_weight * bm25 +
cross_language_bonus * (passage in another language than the question)``. For
every development question the candidates are ranked once with their signals;
then, in each of k folds (the questions of both sets pooled, each set spread over
the folds), the pair of values that maximises hit@1 (then MRR@5) on the other
folds is chosen and scored on the held-out fold. When several pairs tie, the
middle one is taken: the centre of a plateau moves least on new questions. The
cross-validated figures are what to expect on new questions written the same way.

It also measures, without any labels, how much the model favours the question's
own language: for each seeds question, its mean cosine to the sentences in its own
language minus its mean cosine to the sentences in the other one.

    python benchmarks/tune.py [--folds 5] [--weights 0,0.05,...] [--bonuses 0,0.01,...]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from config import load_settings
from retrieval.evaluation import Question, load_questions
from retrieval.service import Retriever, clean_question
from retrieval.store import sentence_key
from retrieval.tokenization import question_language

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SETS = {
    "seeds_dev": (ROOT / "seeds", HERE / "data" / "seeds_dev.jsonl"),
    "squad_dev": (HERE / "data" / "squad_dev" / "articles", HERE / "data" / "squad_dev" / "questions.jsonl"),
}


@dataclass(frozen=True)
class Candidates:
    """One question's candidate passages and their signals."""

    similarity: np.ndarray
    lexical: np.ndarray
    crossed: np.ndarray
    key: list[str]  # the best sentence's key: one passage per sentence is shown
    hit: np.ndarray


def candidates(retriever: Retriever, question: Question) -> Candidates:
    # Every candidate, as many as are gathered: pruning must not depend on the weights.
    ranked = retriever.candidates(question.q)
    chunks = {c.id: c for c in retriever.store.get([r.chunk_id for r in ranked])}
    texts = retriever.store.sentence_texts([r.sentence.id for r in ranked])
    hit = []
    for r in ranked:
        chunk = chunks[r.chunk_id]
        source = str(chunk.metadata.get("source_id", ""))
        hit.append(
            any(doc in source for doc in question.docs)
            and any(a.casefold() in chunk.text.casefold() for a in question.answers)
        )
    return Candidates(
        similarity=np.array([r.sentence.similarity for r in ranked]),
        lexical=np.array([r.lexical for r in ranked]),
        crossed=np.array([r.crossed for r in ranked], dtype=float),
        key=[sentence_key(texts[r.sentence.id]) for r in ranked],
        hit=np.array(hit, dtype=bool),
    )


def scores(data: list[Candidates], weight: float, bonus: float) -> tuple[float, float, float]:
    """hit@1, hit@5 and MRR@5 with these values."""
    h1 = h5 = rr = 0.0
    for c in data:
        order = np.argsort(-(c.similarity + weight * c.lexical + bonus * c.crossed), kind="stable")
        seen: set[str] = set()
        shown = []
        for i in order:
            if c.key[i] not in seen:
                seen.add(c.key[i])
                shown.append(i)
            if len(shown) == 5:
                break
        ranks = np.nonzero(c.hit[shown])[0]
        if len(ranks):
            h1 += ranks[0] == 0
            h5 += 1
            rr += 1.0 / (ranks[0] + 1)
    n = max(len(data), 1)
    return h1 / n, h5 / n, rr / n


def choose(data: list[Candidates], grid: list[tuple[float, float]]) -> tuple[float, float]:
    """The best pair on ``data``; among ties, the middle weight, then the middle bonus."""
    results = {pair: scores(data, *pair) for pair in grid}
    top = max((r[0], r[2]) for r in results.values())
    best = [pair for pair, r in results.items() if (r[0], r[2]) == top]
    weights = sorted({w for w, _ in best})
    weight = weights[(len(weights) - 1) // 2]
    bonuses = sorted(b for w, b in best if w == weight)
    return weight, bonuses[(len(bonuses) - 1) // 2]


def language_gap(retriever: Retriever, questions: list[Question]) -> list[float]:
    """Per question: mean cosine to own-language sentences minus to the others'."""
    passages, vectors = retriever.store.sentence_vectors()
    languages = retriever.passage_languages()
    language = np.array([languages.get(p, "und") for p in passages])
    gaps = []
    for question in questions:
        text = clean_question(question.q, retriever.settings.max_question_chars)
        own = question_language(text)
        cosine = vectors @ retriever.query_vector(text)
        if (language == own).any() and ((language != own) & (language != "und")).any():
            gaps.append(
                float(cosine[language == own].mean() - cosine[(language != own) & (language != "und")].mean())
            )
    return gaps


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--weights", default="0,0.025,0.05,0.075,0.1,0.15,0.2,0.3")
    parser.add_argument("--bonuses", default=",".join(f"{b / 200:g}" for b in range(21)))
    parser.add_argument("--data-dir", type=Path, default=HERE / ".cache" / "tune")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    grid = [(float(w), float(b)) for w in args.weights.split(",") for b in args.bonuses.split(",")]
    rng = random.Random(args.seed)
    embedder = None
    data: dict[str, list[Candidates]] = {}
    folds: dict[str, list[int]] = {}
    for name, (articles, questions_file) in SETS.items():
        retriever = Retriever(
            load_settings(articles_dir=articles, data_dir=args.data_dir / name), embedder=embedder
        )
        retriever.index()
        embedder = retriever.embedder
        questions = load_questions(questions_file)
        data[name] = [candidates(retriever, q) for q in questions]
        folds[name] = [i % args.folds for i in range(len(questions))]
        rng.shuffle(folds[name])
        gaps = language_gap(retriever, questions)
        if gaps:
            print(
                json.dumps(
                    {
                        "set": name,
                        "language_gap_median": round(float(np.median(gaps)), 4),
                        "language_gap_range": [round(min(gaps), 4), round(max(gaps), 4)],
                    }
                ),
                flush=True,
            )

    chosen = []
    cv = {name: np.zeros(3) for name in SETS}
    for fold in range(args.folds):
        train = [c for name in SETS for c, f in zip(data[name], folds[name]) if f != fold]
        pair = choose(train, grid)
        chosen.append(pair)
        for name in SETS:
            test = [c for c, f in zip(data[name], folds[name]) if f == fold]
            cv[name] += np.array(scores(test, *pair)) * len(test)
    everything = [c for name in SETS for c in data[name]]
    print(json.dumps({"chosen_on_all": choose(everything, grid), "cv_choices": chosen}), flush=True)
    for name in SETS:
        result = cv[name] / len(data[name])
        sweep = {
            f"{w:g}": [round(scores(data[name], w, b)[0], 3) for b in (0.0, 0.02, 0.04, 0.06)]
            for w in sorted({w for w, _ in grid})
        }
        print(
            json.dumps(
                {
                    "set": name,
                    "hit@1 by weight at bonus 0/0.02/0.04/0.06": sweep,
                    "cv_hit@1": round(result[0], 3),
                    "cv_hit@5": round(result[1], 3),
                    "cv_mrr@5": round(result[2], 3),
                }
            ),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
