"""The ranking's pieces on their own: fusion, one passage per sentence, highlight, the answer rule."""

from __future__ import annotations

import pytest

from retrieval.ranking import (
    AnswerRule,
    Ranked,
    Signals,
    Weights,
    best_similarity,
    crossed_for,
    distinct,
    highlight,
    reading_head,
)
from retrieval.store import StoredSentence


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


def test_one_passage_per_best_sentence() -> None:
    ranked = [
        _ranked("p1", "p1.0", 0.9, "The lighthouse will be lit in May."),
        _ranked("p2", "p2.3", 0.9, "The lighthouse will be lit in May."),  # a reprint, or an overlap
        _ranked("p3", "p3.1", 0.8),  # text not read yet: given in ``texts``
        _ranked("p4", "p4.0", 0.7, "Harbour fees rise."),
    ]
    kept = distinct(ranked, k=3, texts={"p3.1": "Boats avoid the entrance."})
    assert [r.chunk_id for r in kept] == ["p1", "p3", "p4"]
    assert [r.chunk_id for r in distinct(ranked, k=1, texts={})] == ["p1"]


def test_the_head_read_for_distinct_passages_ends_before_the_k_plus_2nd_similarity() -> None:
    shared = [_ranked(f"p{n}", f"p{n}.0", 0.9) for n in range(4)]  # one sentence, four passages
    ranked = [*shared, _ranked("q", "q.0", 0.8), _ranked("r", "r.0", 0.7), _ranked("s", "s.0", 0.6)]
    assert reading_head(ranked, k=1) == 5  # 0.9 and 0.8: one spare value
    assert reading_head(ranked, k=2) == 6
    assert reading_head(ranked, k=5) == len(ranked)
    assert reading_head([], k=3) == 0


def test_the_highlight_is_the_matching_sentence_or_the_closest_in_words() -> None:
    passage = "Bees declined. The survey counted wild bees in Europe. Farmers were worried."
    assert highlight("Farmers were worried.", "q", passage, "en") == "Farmers were worried."
    assert (
        highlight("", "How were wild bees counted?", passage, "en")
        == "The survey counted wild bees in Europe."
    )
    assert highlight("A sentence of another version.", "nothing shared", passage, "en") == ""


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
