"""Ranking: from a question to the passages that answer it, and whether they do.

Typed pieces with one job each. :class:`retrieval.service.Retriever` composes them
for a search, and the benchmarks call the same pieces:

- :class:`Ranker` gathers candidate passages from the sentences nearest the question
  and from BM25, and scores each by its best sentence (:class:`Weights`);
- :mod:`retrieval.rerank` (the second stage) reorders the first candidates, keeps one
  passage per bold sentence and picks that sentence;
- :class:`AnswerRule` decides whether the passages answer the question.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from retrieval import lexical as bm25
from retrieval.lexical import LexicalIndex
from retrieval.store import SentenceVectors, StoredSentence

#: Sentences fetched per wanted passage, so that ``candidates`` distinct passages come back.
SENTENCES_PER_PASSAGE = 3
#: Sorts an undated passage after every dated one among equal scores.
UNDATED = 2**63


class SentenceSource(Protocol):
    """Where the ranking reads sentences (``retrieval.store.LibraryStore`` or ``retrieval.scope.Scope``)."""

    def query_sentences(self, embedding: np.ndarray, n: int) -> list[StoredSentence]: ...

    def sentences_counted(
        self, counts: dict[str, int], embedding: np.ndarray, texts: bool = False
    ) -> list[StoredSentence]: ...

    def sentences_of(self, chunk_ids: Sequence[str], embedding: np.ndarray) -> list[StoredSentence]: ...

    def vectors_counted(self, counts: dict[str, int]) -> SentenceVectors: ...


@dataclass(frozen=True)
class Weights:
    """How a passage's signals add up to its score.

    Attributes:
        lexical: weight of its BM25 score over the best BM25 score of the question.
        cross_language: added when the passage is in another language than the
            question: the model rates a sentence in the question's language above its
            translation, and half the answers are only in the other language.
    """

    lexical: float
    cross_language: float

    def score(self, similarity: float, lexical: float, crossed: bool) -> float:
        return similarity + self.lexical * lexical + self.cross_language * crossed


@dataclass(frozen=True)
class Ranked:
    """A candidate passage: its fused score and the signals it was computed from.

    Attributes:
        chunk_id: the passage.
        score: the fused score it is ranked by.
        sentence: its sentence closest to the question (with that cosine similarity).
        lexical: its BM25 score over the question's best BM25 score (0 when BM25 missed it).
        crossed: whether it is in another language than the question (and got the bonus).
        runner_up: its next closest sentence, when the vector search found it too (then no
            sentence of the passage it did not find is closer); None otherwise.
    """

    chunk_id: str
    score: float
    sentence: StoredSentence
    lexical: float = 0.0
    crossed: bool = False
    runner_up: StoredSentence | None = None


@dataclass(frozen=True)
class LexicalSide:
    """What a search finds before it has the question's vector, so that it can be found
    while the model embeds the question.

    Attributes:
        scores: ``{passage id: BM25 over the best BM25 score}`` of the BM25 candidates.
        vectors: their sentences' vectors (None: read the ones needed after the vector
            search, as an index older than the sentence counts requires).
    """

    scores: dict[str, float]
    vectors: SentenceVectors | None = None


@dataclass(frozen=True)
class IndexView:
    """What ranking reads of the index's bookkeeping (the last finished run's)."""

    #: ``{passage id: how many sentences it is matched by}``; empty for an index older than the counts.
    sentence_counts: Mapping[str, int]
    #: ``{passage id: its article's language}``.
    languages: Mapping[str, str]
    #: ``{passage id: its article's publication date, Unix seconds}`` (dated articles only).
    dates: Mapping[str, int] = field(default_factory=dict)


class Ranker:
    """Scores passages by their best sentence's cosine similarity plus weighted BM25.

    A passage is matched by its sentences (a question usually paraphrases one) and
    shown whole. Candidates come from the sentences nearest the question and from
    BM25. A BM25-only candidate's sentences are fetched to score it the same way,
    unless it cannot reach the first ``k``. Its sentences all rank below the last one
    the vector search returned, or below its closest one that the search returned past
    the passages it keeps, and that bounds its score.

    Args:
        store: the sentence vectors and passages (of one library, or of several: a ``Scope``).
        lexical: the BM25 indexes, searched as one corpus.
        weights: how the signals add up.
        candidates: passages taken from each of the two searches.
    """

    def __init__(
        self, store: SentenceSource, lexical: Sequence[LexicalIndex], weights: Weights, candidates: int
    ) -> None:
        self.store = store
        self.lexical = lexical
        self.weights = weights
        self.candidates = candidates

    def rank(
        self,
        question: str,
        query: np.ndarray,
        k: int,
        language: str,
        view: IndexView,
        *,
        history_terms: Mapping[str, float] | None = None,
        allowed: Container[str] | None = None,
        side: Callable[[], LexicalSide] | None = None,
    ) -> list[Ranked]:
        """Every candidate passage, best first.

        Args:
            question: the cleaned question (for BM25).
            query: its embedding.
            k: how many passages will be shown (BM25-only candidates that cannot
                reach the first ``k`` are not fetched).
            language: the question's language, ``und`` when unknown.
            view: the index's sentence counts and languages.
            history_terms: BM25 terms of a conversation's earlier questions, with their
                weights (see :mod:`retrieval.followup`); none by default.
            allowed: the only passages that may be candidates (a date filter, which the
                store's sentence query applies too); every passage when None.
            side: gives :meth:`lexical_side` for the same question, history and filter
                (started beforehand in another thread), called once the vector search is
                done; the lexical search runs here when None.
        """
        crossed = crossed_for(language, view.languages)
        asked = self.candidates * SENTENCES_PER_PASSAGE
        found = self.store.query_sentences(query, asked)
        if allowed is not None:
            found = [s for s in found if s.chunk_id in allowed]
        sentences: dict[str, list[StoredSentence]] = {}
        past: dict[str, float] = {}  # the closest sentence found of each passage past the first `candidates`
        for sentence in found:
            if sentence.chunk_id in sentences or len(sentences) < self.candidates:
                sentences.setdefault(sentence.chunk_id, []).append(sentence)
            else:
                past.setdefault(sentence.chunk_id, sentence.similarity)  # found is nearest first
        by_words = side() if side is not None else self.lexical_side(question, history_terms, allowed)
        bm25 = by_words.scores
        missing = [chunk_id for chunk_id in bm25 if chunk_id not in sentences]
        if missing and len(found) == asked:
            ceilings = {c: past.get(c, found[-1].similarity) for c in missing}
            missing = self._reachable(missing, sentences, bm25, crossed, k, ceilings)
        if by_words.vectors is not None:
            read = by_words.vectors.best(set(missing), query)
        else:
            read = self._sentences_of(missing, query, view.sentence_counts)
        for sentence in read:
            sentences.setdefault(sentence.chunk_id, []).append(sentence)
        ranked = []
        for chunk_id, group in sentences.items():
            best, *rest = sorted(group, key=lambda s: s.similarity, reverse=True)
            lexical, other = bm25.get(chunk_id, 0.0), crossed(chunk_id)
            score = self.weights.score(best.similarity, lexical, other)
            ranked.append(Ranked(chunk_id, score, best, lexical, other, rest[0] if rest else None))
        # Equal scores (a story reprinted) in one order whichever way the sentences were
        # read: the first published first (the original before its reprints), then by id.
        dates = view.dates
        ranked.sort(key=lambda r: (-r.score, dates.get(r.chunk_id, UNDATED), r.chunk_id))
        return ranked

    def lexical_side(
        self,
        question: str,
        history_terms: Mapping[str, float] | None = None,
        allowed: Container[str] | None = None,
        counts: Mapping[str, int] | None = None,
    ) -> LexicalSide:
        """The BM25 candidates (``{passage id: BM25 over the best BM25 score}``, the best
        ``candidates`` passages) and, given every passage's sentence ``counts``, the vectors
        of all their sentences: :meth:`rank` needs those of the candidates the vector
        search misses, and reading them all costs nothing while the question is embedded
        (8 ms hidden behind 28 at 10k passages, ``benchmarks/README.md``)."""
        lexical = bm25.search(self.lexical, question, self.candidates, extra=history_terms, allowed=allowed)
        top = lexical[0][1] if lexical else 0.0
        scores = {chunk_id: score / top for chunk_id, score in lexical} if top > 0 else {}
        if counts is None or not all(chunk_id in counts for chunk_id in scores):
            return LexicalSide(scores)
        return LexicalSide(scores, self.store.vectors_counted({c: counts[c] for c in scores}))

    def _reachable(
        self,
        missing: list[str],
        sentences: dict[str, list[StoredSentence]],
        bm25: dict[str, float],
        crossed: Callable[[str], bool],
        k: int,
        ceilings: Mapping[str, float],
    ) -> list[str]:
        """The BM25-only candidates whose best possible score reaches the ``k``-th passage's.

        A candidate's best sentence is at most as close as its ``ceilings`` value: the
        last sentence the vector search returned, or the closest of its own that the search
        returned past the passages it keeps. The passages are counted as the ones shown
        will be, one per sentence: one sentence shared by passages has one vector, so one
        similarity. Sentences that only happen to score the same are counted once too,
        which lowers the bar: it only costs a few more reads.
        """
        by_sentence: dict[float, float] = {}
        for chunk_id, group in sentences.items():
            best = max(group, key=lambda s: s.similarity)
            value = self.weights.score(best.similarity, bm25.get(chunk_id, 0.0), crossed(chunk_id))
            by_sentence[best.similarity] = max(value, by_sentence.get(best.similarity, -np.inf))
        scores = sorted(by_sentence.values(), reverse=True)
        bar = scores[k - 1] if len(scores) >= k else -np.inf
        return [c for c in missing if self.weights.score(ceilings[c], bm25[c], crossed(c)) >= bar]

    def _sentences_of(
        self, chunk_ids: list[str], query: np.ndarray, counts: Mapping[str, int]
    ) -> list[StoredSentence]:
        if all(chunk_id in counts for chunk_id in chunk_ids):
            return self.store.sentences_counted({c: counts[c] for c in chunk_ids}, query)
        return self.store.sentences_of(chunk_ids, query)  # an index written before the counts were kept


def crossed_for(language: str, languages: Mapping[str, str]) -> Callable[[str], bool]:
    """Whether a passage (by id) is in another language than ``language``; False whenever
    either language is unknown."""
    if language == "und":
        return lambda chunk_id: False
    return lambda chunk_id: languages.get(chunk_id, "und") not in (language, "und")


@dataclass(frozen=True)
class Signals:
    """What the answer rule reads of a search.

    Attributes:
        similarity: the best sentence's cosine similarity, plus the cross-language bonus
            when that sentence is in another language than the question.
        coverage: the share of the question's content words found in the archive.
        names: the share of the question's names (capitalised words, acronyms, numbers)
            found in the archive; 1.0 when it names nothing.
    """

    similarity: float
    coverage: float
    names: float


@dataclass(frozen=True)
class AnswerRule:
    """Whether the passages found answer the question (fitted by ``benchmarks/calibrate.py``).

    Answered when ``similarity + coverage_weight * coverage + name_weight * names``
    reaches ``min_score``. The margin, that score minus ``min_score``, says how far a
    question is from flipping: calibration puts the threshold in a gap between
    questions, so that the last digits of a float (which differ across CPUs and thread
    counts) do not decide.
    """

    min_score: float
    coverage_weight: float
    name_weight: float

    def score(self, signals: Signals) -> float:
        return signals.similarity + self.coverage_weight * signals.coverage + self.name_weight * signals.names

    def margin(self, signals: Signals) -> float:
        return self.score(signals) - self.min_score

    def answers(self, signals: Signals) -> bool:
        return self.margin(signals) >= 0


def best_similarity(ranked: list[Ranked], weights: Weights) -> float:
    """The closest sentence's cosine with the ranking's correction for language: an
    answer in the other language scores lower."""
    return max((r.sentence.similarity + weights.cross_language * r.crossed for r in ranked), default=0.0)
