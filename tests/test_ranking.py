"""The ranking's pieces on their own: fusion, languages, the answer rule."""

from __future__ import annotations

import pytest

from retrieval.ranking import (
    AnswerRule,
    Ranked,
    Signals,
    Weights,
    best_similarity,
    crossed_for,
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


def test_the_reading_head_holds_one_spare_distinct_similarity() -> None:
    shared = [_ranked(f"p{n}", f"p{n}.0", 0.9) for n in range(4)]  # one sentence, four passages
    ranked = [*shared, _ranked("q", "q.0", 0.8), _ranked("r", "r.0", 0.7), _ranked("s", "s.0", 0.6)]
    assert reading_head(ranked, k=1) == 5  # 0.9 and 0.8: one spare value
    assert reading_head(ranked, k=2) == 6
    assert reading_head(ranked, k=5) == len(ranked)
    assert reading_head([], k=3) == 0


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
