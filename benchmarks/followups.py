"""Follow-up questions: how each way of using a conversation's earlier questions scores.

Every question of ``data/followups.jsonl`` (41 turns, EN/FR; kinds ``elliptical``,
``explicit`` and ``topic_change``) is searched alone and with its earlier questions by
each method, through ``Retriever.search(q, previous=..., method=...)``: the product's
own path. For each method it reports hit@1, hit@3 and answered per kind and overall,
and how often the method used the history at all.

A history must not make the bot answer what the archive does not hold, so each
method also asks the 24 questions of ``data/offtopic_check.jsonl``, each after an
on-topic question of ``data/seeds_dev.jsonl``, and counts how many are declined.

The weights of the mixing family (history vector weight × history BM25 weight × gate)
are then chosen by k-fold cross-validation (both sets split into folds, the follow-ups
spread over their kinds): on the other folds, the best sum of hit@1, hit@3, answered and
off-topic declined (each a share, so each counts alike), the middle of any tie; scored
on the held-out fold. The cross-validated figures are what to expect on new conversations.

    python benchmarks/followups.py [--folds 5] [--json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from config import load_settings
from retrieval.evaluation import Question, first_hit, load_questions
from retrieval.followup import DEFAULT, FollowUpMethod, uses_history
from retrieval.service import Retriever, clean_question

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
QUESTIONS = HERE / "data" / "followups.jsonl"
KINDS = ("elliptical", "explicit", "topic_change")
K = 5

#: Methods with fixed weights, compared by hand; the grid below is cross-validated.
FIXED = [
    FollowUpMethod("concat (earlier questions pasted in front)", concat=True),
    FollowUpMethod("vector mix 1.0, always", history_weight=1.0),
    FollowUpMethod("vector mix 0.5, always", history_weight=0.5),
    FollowUpMethod("history terms 0.5 in BM25 only, always", lexical_weight=0.5),
    FollowUpMethod("mix 0.5 + terms 0.5, always", history_weight=0.5, lexical_weight=0.5),
    FollowUpMethod("mix 0.5 + terms 0.5, elliptical", history_weight=0.5, lexical_weight=0.5,
                   gate="elliptical"),
]  # fmt: skip
HISTORY_WEIGHTS = (0.25, 0.5, 0.75, 1.0, 1.5)
LEXICAL_WEIGHTS = (0.0, 0.25, 0.5, 1.0)
GATES = ("always", "elliptical")
#: Off-topic questions asked after an on-topic one: the history must not make them answered.
OFFTOPIC = HERE / "data" / "offtopic_check.jsonl"
ONTOPIC = HERE / "data" / "seeds_dev.jsonl"


@dataclass(frozen=True)
class Outcome:
    """One question searched one way."""

    rank: int | None  # of the first hit, None when no passage of the five is one
    answered: bool
    used: bool  # whether the history was used


def grid() -> list[FollowUpMethod]:
    return [
        FollowUpMethod(f"{gate} mix {w:g} + terms {lw:g}", history_weight=w, lexical_weight=lw, gate=gate)
        for gate, w, lw in itertools.product(GATES, HISTORY_WEIGHTS, LEXICAL_WEIGHTS)
    ]


def outcome(retriever: Retriever, question: Question, method: FollowUpMethod | None) -> Outcome:
    if method is None:
        answer = retriever.search(question.q, k=K)
        return Outcome(first_hit(answer, question), answer.answered, False)
    answer = retriever.search(question.q, k=K, previous=question.previous, method=method)
    text = clean_question(question.q, retriever.settings.max_question_chars)
    used = uses_history(text, question.previous, method)
    return Outcome(first_hit(answer, question), answer.answered, used)


def summary(outcomes: list[Outcome]) -> dict[str, float | int]:
    n = max(len(outcomes), 1)
    return {
        "n": len(outcomes),
        "hit@1": sum(o.rank == 1 for o in outcomes) / n,
        "hit@3": sum(o.rank is not None and o.rank <= 3 for o in outcomes) / n,
        "answered": sum(o.answered for o in outcomes) / n,
        "history used": sum(o.used for o in outcomes) / n,
    }


def by_kind(outcomes: list[Outcome], kinds: list[str]) -> dict[str, dict[str, float | int]]:
    rows = {kind: summary([o for o, k in zip(outcomes, kinds) if k == kind]) for kind in KINDS}
    rows["all"] = summary(outcomes)
    return rows


def key(outcomes: list[Outcome], declined: list[bool]) -> float:
    """What a method is chosen by: hit@1 + hit@3 + answered + off-topic declined."""
    row = summary(outcomes)
    return round(
        float(row["hit@1"]) + float(row["hit@3"]) + float(row["answered"]) + sum(declined) / len(declined), 9
    )


def choose(
    results: dict[str, list[Outcome]],
    declined: dict[str, list[bool]],
    methods: list[FollowUpMethod],
    items: list[int],
    off_items: list[int],
) -> str:
    """The best method on ``items`` and ``off_items``; among ties (as in ``tune.py``), the middle
    history weight, then the middle BM25 weight: the centre of a plateau moves least on new questions."""
    scored = {
        m.name: key([results[m.name][i] for i in items], [declined[m.name][i] for i in off_items])
        for m in methods
    }
    top = max(scored.values())
    best = [m for m in methods if scored[m.name] == top]
    gates = sorted({m.gate for m in best})
    gate = gates[(len(gates) - 1) // 2]
    weights = sorted({m.history_weight for m in best if m.gate == gate})
    weight = weights[(len(weights) - 1) // 2]
    lexical = sorted(m.lexical_weight for m in best if m.gate == gate and m.history_weight == weight)
    middle = lexical[(len(lexical) - 1) // 2]
    return next(
        m.name for m in best if (m.gate, m.history_weight, m.lexical_weight) == (gate, weight, middle)
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--data-dir", type=Path, default=HERE / ".cache" / "followups")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    retriever = Retriever(load_settings(articles_dir=ROOT / "seeds", data_dir=args.data_dir))
    retriever.index()
    questions = load_questions(QUESTIONS)
    raw = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    kinds = [str(item["kind"]) for item in raw]

    family = grid()
    methods: list[FollowUpMethod | None] = [None, *FIXED, DEFAULT, *family]
    results: dict[str, list[Outcome]] = {}
    declined: dict[str, list[bool]] = {}
    # Off-topic questions, each asked after an on-topic one (paired in file order).
    ontopic = [q.q for q in load_questions(ONTOPIC)]
    offtopic = [
        replace(q, previous=(ontopic[i % len(ontopic)],)) for i, q in enumerate(load_questions(OFFTOPIC))
    ]
    for method in methods:
        name = "alone (no history)" if method is None else method.name
        if name not in results:
            results[name] = [outcome(retriever, q, method) for q in questions]
            declined[name] = [not outcome(retriever, q, method).answered for q in offtopic]

    # Cross-validation of the family's weights, folds spread over the kinds.
    rng = random.Random(args.seed)
    folds = [0] * len(questions)
    for kind in KINDS:
        members = [i for i, k in enumerate(kinds) if k == kind]
        rng.shuffle(members)
        for n, i in enumerate(members):
            folds[i] = n % args.folds
    off_folds = [i % args.folds for i in range(len(offtopic))]
    rng.shuffle(off_folds)
    held_out: list[Outcome | None] = [None] * len(questions)
    off_held_out: list[bool] = [False] * len(offtopic)
    chosen = []
    for fold in range(args.folds):
        train = [i for i, f in enumerate(folds) if f != fold]
        off_train = [i for i, f in enumerate(off_folds) if f != fold]
        name = choose(results, declined, family, train, off_train)
        chosen.append(name)
        for i, f in enumerate(folds):
            if f == fold:
                held_out[i] = results[name][i]
        for i, f in enumerate(off_folds):
            if f == fold:
                off_held_out[i] = declined[name][i]
    cv = "cross-validated choice from the grid"
    results[cv] = [o for o in held_out if o is not None]
    declined[cv] = off_held_out
    on_all = choose(results, declined, family, list(range(len(questions))), list(range(len(offtopic))))

    report = {
        "questions": len(questions),
        "methods": {
            name: {**by_kind(outcomes, kinds), "offtopic_declined": sum(declined[name]) / len(offtopic)}
            for name, outcomes in results.items()
        },
        "cv_choices": chosen,
        "chosen_on_all": on_all,
        "default": DEFAULT.name,
    }
    if args.json:
        json.dump(report, sys.stdout, indent=1, ensure_ascii=False)
        print()
        return 0
    print(
        f"{len(questions)} follow-ups, k = {K}: hit@1 / hit@3 / answered (share that used the history) "
        f"per kind; off-topic: {len(offtopic)} off-topic questions asked after an on-topic one, declined"
    )
    print(f"{'method':<44}" + "".join(f"{kind:>25}" for kind in (*KINDS, "all")) + "  off-topic")
    shown = ["alone (no history)", *(m.name for m in FIXED), DEFAULT.name, on_all, cv]
    for name in dict.fromkeys(shown):
        rows = report["methods"][name]  # type: ignore[index]
        cells = "".join(
            f"{r['hit@1']:>7.2f}{r['hit@3']:>6.2f}{r['answered']:>6.2f} ({r['history used']:.2f})"
            for r in (rows[kind] for kind in (*KINDS, "all"))
        )
        print(f"{name[:43]:<44}{cells}{rows['offtopic_declined']:>10.2f}")
    print(f"CV choices per fold: {chosen}")
    print(f"best on all {len(questions)}: {on_all}; default: {DEFAULT.name}")
    print("the grid: hit@1 / hit@3 / answered overall, hit@1 per kind, off-topic declined")
    for method in family:
        rows = report["methods"][method.name]  # type: ignore[index]
        print(
            f"  {method.name:<32} {rows['all']['hit@1']:.2f} / {rows['all']['hit@3']:.2f} / "
            f"{rows['all']['answered']:.2f}   ({rows['elliptical']['hit@1']:.2f} / "
            f"{rows['explicit']['hit@1']:.2f} / {rows['topic_change']['hit@1']:.2f})   "
            f"{rows['offtopic_declined']:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
