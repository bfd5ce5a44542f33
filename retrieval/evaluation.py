"""Scoring retrieval on question sets: hit@k, MRR@5, answered and declined rates.

A question file holds one JSON object a line: ``{"id", "q", "docs", "answer"}``
(``lang`` optional). A hit is a returned passage whose source matches one of the
gold ``docs`` (a fragment of the source id) and whose text contains one of the
gold ``answer`` strings.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from retrieval.articles import detect_language
from retrieval.models import Answer, Passage

if TYPE_CHECKING:
    from retrieval.service import Retriever

KS = (1, 3, 5)


@dataclass(frozen=True)
class Question:
    id: str
    q: str
    docs: tuple[str, ...] = ()
    answers: tuple[str, ...] = ()
    lang: str = ""


def load_questions(path: Path) -> list[Question]:
    """Read a question file; raises ValueError naming the line of a bad entry."""
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            if isinstance(data, str):
                data = {"q": data}
            questions.append(
                Question(
                    id=str(data.get("id", number)),
                    q=str(data["q"]),
                    docs=tuple(data.get("docs", ())),
                    answers=tuple(data.get("answer", ())),
                    lang=str(data.get("lang") or detect_language(data["q"])),
                )
            )
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"{path}:{number}: not a question object ({error})") from None
    return questions


def is_hit(passage: Passage, question: Question) -> bool:
    source = f"{passage.source_id} {passage.source}"
    text = passage.text.casefold()
    return any(doc in source for doc in question.docs) and any(a.casefold() in text for a in question.answers)


def first_hit(answer: Answer, question: Question) -> int | None:
    """Rank of the first passage that is a hit, None if none is."""
    for passage in answer.passages:
        if is_hit(passage, question):
            return passage.rank
    return None


@dataclass
class Scores:
    """Aggregated scores for a group of questions."""

    n: int = 0
    hits: dict[int, int] = field(default_factory=lambda: {k: 0 for k in KS})
    reciprocal: float = 0.0
    answered: int = 0

    def add(self, rank: int | None, answered: bool) -> None:
        self.n += 1
        self.answered += int(answered)
        if rank is not None:
            for k in KS:
                self.hits[k] += int(rank <= k)
            if rank <= 5:
                self.reciprocal += 1.0 / rank

    def as_dict(self) -> dict[str, float | int]:
        n = max(self.n, 1)
        row: dict[str, float | int] = {"n": self.n}
        row.update({f"hit@{k}": self.hits[k] / n for k in KS})
        row["mrr@5"] = self.reciprocal / n
        row["answered"] = self.answered / n
        return row


@dataclass
class Report:
    """Scores by question language and overall, plus the off-topic declined rate."""

    groups: dict[str, Scores]
    offtopic_n: int = 0
    offtopic_declined: int = 0
    misses: list[dict[str, object]] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {name: s.as_dict() for name, s in self.groups.items()}
        if self.offtopic_n:
            data["offtopic"] = {"n": self.offtopic_n, "declined": self.offtopic_declined / self.offtopic_n}
        data["misses"] = self.misses
        return data


def evaluate(
    search: Callable[[str], Answer],
    questions: Iterable[Question],
    offtopic: Iterable[Question] = (),
) -> Report:
    """Run every question through ``search`` (which should return at least 5 passages)."""
    groups: dict[str, Scores] = defaultdict(Scores)
    misses = []
    for question in questions:
        answer = search(question.q)
        rank = first_hit(answer, question)
        for group in (question.lang or "und", "all"):
            groups[group].add(rank, answer.answered)
        if rank != 1:
            misses.append({"id": question.id, "q": question.q, "rank": rank})
    report = Report(
        groups=dict(sorted(groups.items(), key=lambda kv: (kv[0] == "all", kv[0]))), misses=misses
    )
    for question in offtopic:
        report.offtopic_n += 1
        report.offtopic_declined += int(not search(question.q).answered)
    return report


def evaluate_retriever(
    retriever: Retriever, questions: Iterable[Question], offtopic: Iterable[Question] = ()
) -> Report:
    """Score ``retriever`` (already indexed) on question sets, asking for at least as many
    passages as hit@5 needs."""
    k = max(max(KS), retriever.settings.top_k)
    return evaluate(lambda q: retriever.search(q, k=k), questions, offtopic)
