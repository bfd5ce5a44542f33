"""Scoring retrieval on question sets: hit@k, MRR@5, answered and declined rates.

A question file holds one JSON object a line: ``{"id", "q", "docs", "answer"}``
(``lang`` optional; ``previous``, the earlier questions of a conversation, oldest first,
for a follow-up). A hit is a returned passage whose source matches one of the
gold ``docs`` (a fragment of the source id) and whose text contains one of the
gold ``answer`` strings.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrieval.articles import detect_language
from retrieval.models import Answer, Passage
from retrieval.tokenization import question_language

if TYPE_CHECKING:
    from retrieval.service import Retriever

KS = (1, 3, 5)
#: Margins closer than this to the answer rule's threshold are within float noise: the
#: same question scored on another CPU or thread count differed by 0.0002.
NOISE_BAND = 0.003


@dataclass(frozen=True)
class Question:
    id: str
    q: str
    docs: tuple[str, ...] = ()
    answers: tuple[str, ...] = ()
    lang: str = ""
    #: The conversation's earlier questions, oldest first, for a follow-up.
    previous: tuple[str, ...] = ()


def load_questions(path: Path, scored: bool = False) -> list[Question]:
    """Read a question file; with ``scored``, each question must name its gold articles
    (``docs``) and answer strings (``answer``), without which it could never be a hit.

    Raises:
        ValueError: it cannot be read, is not UTF-8 text, holds no question, or an entry
            is bad (the message names the file and the line).
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text: a question file has a JSON object a line") from None
    questions = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            if isinstance(data, str):
                data = {"q": data}
            text = str(data["q"])
            if not any(ch.isalnum() for ch in text):
                raise _BadField("the question is empty")
            docs, answers = _strings(data, "docs", scored), _strings(data, "answer", scored)
            questions.append(
                Question(
                    id=str(data.get("id", number)),
                    q=text,
                    docs=docs,
                    answers=answers,
                    lang=str(data.get("lang") or _language(text)),
                    previous=tuple(str(p) for p in data.get("previous") or ()),
                )
            )
        except KeyError as error:
            raise ValueError(f"{path}:{number}: the question has no {error} field") from None
        except _BadField as error:
            raise ValueError(f"{path}:{number}: {error}") from None
        except (ValueError, TypeError, AttributeError) as error:
            raise ValueError(f"{path}:{number}: not a question object ({error})") from None
    if not questions:
        raise ValueError(f"{path} holds no question: a question file has a JSON object a line")
    return questions


class _BadField(ValueError):
    pass


def _strings(data: dict[str, Any], key: str, required: bool) -> tuple[str, ...]:
    """A question's list of strings under ``key`` (gold article fragments, answer strings)."""
    value = data.get(key)
    if value is None and not required:
        return ()
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        what = "gold article ids (or parts of them)" if key == "docs" else "answer strings"
        raise _BadField(f'"{key}" must be a list of {what}, not {json.dumps(value, ensure_ascii=False)[:60]}')
    return tuple(value)


def _language(question: str) -> str:
    """The question's language by its function words (as the ranking tells it), else by its text."""
    language = question_language(question)
    return language if language in {"en", "fr"} else detect_language(question)


def is_hit(passage: Passage, question: Question) -> bool:
    source = f"{passage.source_id} {passage.source}"
    text = passage.text.casefold()
    return any(doc in source for doc in question.docs) and any(a.casefold() in text for a in question.answers)


def highlight_hit(answer: Answer, question: Question) -> bool:
    """Whether the first passage is a hit and its bold sentence holds a gold answer string."""
    if not answer.passages or not is_hit(answer.passages[0], question):
        return False
    bold = answer.passages[0].highlight.casefold()
    return any(a.casefold() in bold for a in question.answers)


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
    highlighted: int = 0

    def add(self, rank: int | None, answered: bool, highlighted: bool = False) -> None:
        self.n += 1
        self.answered += int(answered)
        self.highlighted += int(highlighted)
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
        row["highlight@1"] = self.highlighted / n
        row["answered"] = self.answered / n
        return row


@dataclass
class Report:
    """Scores by question language and overall, plus the off-topic declined rate."""

    groups: dict[str, Scores]
    offtopic_n: int = 0
    offtopic_declined: int = 0
    misses: list[dict[str, object]] = field(default_factory=list)
    #: The answer rule's margin per question: ``(id, margin, in-domain)``.
    margins: list[tuple[str, float, bool]] = field(default_factory=list)

    def nearest(self, in_domain: bool, answered: bool) -> tuple[str, float] | None:
        """The question of that kind closest to the answer rule's threshold on that side."""
        side = [(i, m) for i, m, inside in self.margins if inside == in_domain and (m >= 0) == answered]
        return min(side, key=lambda item: abs(item[1]), default=None)

    def within(self, band: float) -> int:
        """How many questions lie closer than ``band`` to the threshold (their decision
        could flip with float noise)."""
        return sum(1 for _, m, _ in self.margins if abs(m) < band)

    def margin_summary(self, band: float = NOISE_BAND) -> dict[str, object]:
        kinds = {
            "in_domain_answered": (True, True),
            "in_domain_declined": (True, False),
            "offtopic_declined": (False, False),
            "offtopic_answered": (False, True),
        }
        summary: dict[str, object] = {}
        for name, (inside, answered) in kinds.items():
            found = self.nearest(inside, answered)
            summary[f"nearest_{name}"] = (
                None if found is None else {"id": found[0], "margin": round(found[1], 4)}
            )
        summary["band"] = band
        summary["within_band"] = self.within(band)
        return summary

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {name: s.as_dict() for name, s in self.groups.items()}
        if self.offtopic_n:
            data["offtopic"] = {"n": self.offtopic_n, "declined": self.offtopic_declined / self.offtopic_n}
        data["margins"] = self.margin_summary()
        data["misses"] = self.misses
        return data


def evaluate(
    search: Callable[..., Answer],
    questions: Iterable[Question],
    offtopic: Iterable[Question] = (),
) -> Report:
    """Run every question through ``search`` (which should return at least 5 passages).

    ``search(q)`` is called with the question; a follow-up's earlier questions are passed
    as ``previous=`` too.
    """
    groups: dict[str, Scores] = defaultdict(Scores)
    misses = []
    margins = []
    for question in questions:
        answer = search(question.q, previous=question.previous) if question.previous else search(question.q)
        rank = first_hit(answer, question)
        for group in (question.lang or "und", "all"):
            groups[group].add(rank, answer.answered, highlight_hit(answer, question))
        if rank != 1:
            misses.append({"id": question.id, "q": question.q, "rank": rank})
        margins.append((question.id, answer.margin, True))
    report = Report(
        groups=dict(sorted(groups.items(), key=lambda kv: (kv[0] == "all", kv[0]))),
        misses=misses,
        margins=margins,
    )
    for question in offtopic:
        answer = search(question.q, previous=question.previous) if question.previous else search(question.q)
        report.offtopic_n += 1
        report.offtopic_declined += int(not answer.answered)
        report.margins.append((question.id, answer.margin, False))
    return report


def evaluate_retriever(
    retriever: Retriever, questions: Iterable[Question], offtopic: Iterable[Question] = ()
) -> Report:
    """Score ``retriever`` (already indexed) on question sets, asking for at least as many
    passages as hit@5 needs."""
    k = max(max(KS), retriever.settings.top_k)
    return evaluate(lambda q, previous=None: retriever.search(q, k=k, previous=previous), questions, offtopic)
