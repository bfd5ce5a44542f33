"""The ranking's pieces on their own: fusion, languages, the answer rule."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from retrieval.lexical import LexicalIndex
from retrieval.ranking import (
    AnswerRule,
    IndexView,
    Ranked,
    Ranker,
    Signals,
    Weights,
    best_similarity,
    crossed_for,
)
from retrieval.store import SentenceVectors, StoredSentence


def _ranked(chunk: str, sentence: str, similarity: float, text: str = "", crossed: bool = False) -> Ranked:
    return Ranked(chunk, similarity, StoredSentence(sentence, chunk, text, similarity), crossed=crossed)


def test_weights_add_bm25_and_the_cross_language_bonus() -> None:
    weights = Weights(lexical=0.05, cross_language=0.045)
    assert weights.score(0.8, 1.0, False) == pytest.approx(0.85)
    assert weights.score(0.8, 0.0, True) == pytest.approx(0.845)


def test_a_passage_is_crossed_only_when_both_languages_are_known_and_differ() -> None:
    languages = {"fr1": "fr", "en1": "en", "und1": "und"}
    crossed = crossed_for("en", languages)
    assert [crossed(c) for c in ("fr1", "en1", "und1", "missing")] == [True, False, False, False]
    assert not crossed_for("und", languages)("fr1")


def test_the_answer_rule_adds_weighted_word_and_name_coverage() -> None:
    rule = AnswerRule(min_score=1.0, coverage_weight=0.2, name_weight=0.1)
    assert rule.score(Signals(0.8, 0.5, 1.0)) == pytest.approx(1.0)
    assert rule.answers(Signals(0.8, 0.5, 1.0))
    assert not rule.answers(Signals(0.8, 0.5, 0.5))
    assert rule.margin(Signals(0.85, 0.5, 1.0)) == pytest.approx(0.05)
    assert rule.margin(Signals(0.8, 0.25, 1.0)) == pytest.approx(-0.05)


def test_the_rule_reads_the_best_sentence_with_the_language_correction() -> None:
    weights = Weights(lexical=0.05, cross_language=0.045)
    ranked = [_ranked("en", "en.0", 0.86), _ranked("fr", "fr.0", 0.83, crossed=True)]
    assert best_similarity(ranked, weights) == pytest.approx(0.875)
    assert best_similarity([], weights) == 0.0


class _Sentences:
    """A store of sentence similarities to one question: the nearest come back in order, and
    every read of a passage's sentences is recorded."""

    def __init__(self, similarities: dict[str, float]) -> None:
        self.similarities = similarities
        self.read: list[str] = []

    def _sentence(self, sentence_id: str) -> StoredSentence:
        return StoredSentence(sentence_id, sentence_id.split(".")[0], "", self.similarities[sentence_id])

    def query_sentences(self, embedding: np.ndarray, n: int) -> list[StoredSentence]:
        nearest = sorted(self.similarities, key=self.similarities.__getitem__, reverse=True)[:n]
        return [self._sentence(i) for i in nearest]

    def sentences_counted(
        self, counts: dict[str, int], embedding: np.ndarray, texts: bool = False
    ) -> list[StoredSentence]:
        self.read += list(counts)
        return [self._sentence(f"{chunk}.{n}") for chunk, count in counts.items() for n in range(count)]

    def sentences_of(self, chunk_ids: Sequence[str], embedding: np.ndarray) -> list[StoredSentence]:
        raise AssertionError("every passage's sentence count is known")


def test_a_bm25_candidate_the_vector_search_found_past_the_passages_it_keeps_is_not_cut() -> None:
    # One passage per search. The vector search keeps "lede" and also finds "answer", close
    # behind, whose passage BM25 ranks first; the last sentence it returns is far away.
    store = _Sentences({"lede.0": 0.90, "answer.0": 0.89, "far.0": 0.50, "answer.1": 0.40})
    lexical = LexicalIndex()
    lexical.update(
        {
            "lede": ("The festival opened on Friday.", "en"),
            "answer": ("The letter makes four demands of Amazon.", "en"),
            "far": ("Tides rise twice a day.", "en"),
        },
        remove=(),
    )
    view = IndexView(sentence_counts={"lede": 1, "answer": 2, "far": 1}, languages={})
    ranker = Ranker(store, [lexical], Weights(lexical=0.05, cross_language=0.0), candidates=1)
    question = "What demands does the letter make?"
    ranked = ranker.rank(question, np.zeros(2, np.float32), k=1, language="en", view=view)
    # Bounded by the last sentence returned (0.50 + 0.05), it could not reach "lede" (0.90);
    # its own sentence found (0.89 + 0.05) can, so it is read and comes first.
    assert store.read == ["answer"]
    assert [r.chunk_id for r in ranked] == ["answer", "lede"]
    assert ranked[0].score == pytest.approx(0.94)


def test_sentence_vectors_give_each_passage_its_closest_sentence_as_scored() -> None:
    vectors = SentenceVectors(
        ["a.0", "a.1", "a.2", "b.0", "c.0"],
        np.array([[0.2, 0.0], [0.9, 0.1], [0.9, 0.1], [0.5, 0.5], [1.0, 0.0]], dtype=np.float32),
    )
    query = np.array([1.0, 0.0], dtype=np.float32)
    best = vectors.best({"a", "b"}, query)
    assert [(s.id, s.chunk_id) for s in best] == [("a.1", "a"), ("b.0", "b")]  # the first read of equals
    scored = {s.id: s.similarity for s in vectors.scored({"a", "b"}, query)}
    assert [s.similarity for s in best] == [scored["a.1"], scored["b.0"]]
    assert vectors.best({"missing"}, query) == []
