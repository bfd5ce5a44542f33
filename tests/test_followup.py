"""Follow-up questions: when the history is used, how it shapes the query, and search with it."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from retrieval import followup
from retrieval.errors import QuestionError
from retrieval.followup import FollowUpMethod, looks_elliptical, prepare
from retrieval.lexical import LexicalIndex, search
from retrieval.service import Retriever
from retrieval.tokenization import tokenize_query


@pytest.mark.parametrize(
    "question",
    [
        "And how many signed it?",
        "and what about the second one?",
        "Et qui y joue ?",
        "Who did it help?",
        "What else did they turn down?",
        "Why?",
        "Qu'a-t-il répondu ?",
        "C'était dans quelle ville ?",
        "Et ça se passe dans quel État ?",
    ],
)
def test_questions_that_lean_on_what_came_before_are_elliptical(question: str) -> None:
    assert looks_elliptical(question)


@pytest.mark.parametrize(
    "question",
    [
        "Who founded Palantir?",
        "How much is Palantir paid under its ICE contract?",  # a pronoun, but it names what it asks about
        "Pourquoi le ciel est-il bleu ?",  # "-il" repeats the subject, it does not point back
        "Combien d'entrepôts Amazon possède-t-il en France ?",
        "What causes the northern lights in winter?",
        "Quelles données le logiciel de Palantir collecte-t-il pour l'ICE ?",
        "",
    ],
)
def test_questions_that_stand_alone_are_not(question: str) -> None:
    assert not looks_elliptical(question)


class CountingEmbedder:
    """A unit vector per text, the same in every run (nearly orthogonal to the others), and
    a count of calls."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, text: str) -> np.ndarray:
        self.calls.append(text)
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
        vector = np.random.default_rng(seed).normal(size=512).astype(np.float32)
        return vector / np.linalg.norm(vector)


def test_without_history_the_query_is_the_question_alone() -> None:
    embed = CountingEmbedder()
    for previous in ([], ["Who founded Palantir?"]):
        # The second question stands alone: the history changes nothing.
        question = "And who founded it?" if not previous else "What is the boiling point of Tungsten?"
        prepared = prepare(question, previous, embed)
        assert not prepared.used_history and prepared.history_terms == {}
        np.testing.assert_array_equal(prepared.vector, embed(question))


def test_history_is_mixed_in_below_the_question_and_older_turns_count_less() -> None:
    embed = CountingEmbedder()
    method = FollowUpMethod("test", history_weight=0.5, lexical_weight=0.4, decay=0.5, gate="elliptical")
    previous = ["Which festival does Tungsten sponsor?", "Who runs the Zanzibar cloves cooperative?"]
    prepared = prepare("And when did it start?", previous, embed, method)
    assert prepared.used_history
    assert np.isclose(np.linalg.norm(prepared.vector), 1.0, atol=1e-5)
    question, latest, oldest = embed("And when did it start?"), embed(previous[1]), embed(previous[0])
    history = latest + 0.5 * oldest
    expected = question + 0.5 * history / np.linalg.norm(history)
    np.testing.assert_allclose(prepared.vector, expected / np.linalg.norm(expected), atol=1e-5)
    # The question stays the main part: closer to the query than any earlier question.
    assert prepared.vector @ question > prepared.vector @ latest > prepared.vector @ oldest
    assert prepared.history_terms[tokenize_query("Zanzibar")[0]] == pytest.approx(0.4)
    assert prepared.history_terms[tokenize_query("Tungsten")[0]] == pytest.approx(0.2)


def test_each_text_is_embedded_once_and_only_the_last_turns_count() -> None:
    embed = CountingEmbedder()
    previous = [f"Question number {n} about the Zanzibar harbour?" for n in range(6)]
    prepare("And why?", previous, embed, followup.DEFAULT)
    assert sorted(embed.calls) == sorted(["And why?", *previous[-followup.MAX_TURNS :]])


def test_the_naive_baseline_pastes_the_history_in_front() -> None:
    embed = CountingEmbedder()
    prepared = prepare("And why?", ["Who left the harbour?"], embed, FollowUpMethod("concat", concat=True))
    np.testing.assert_array_equal(prepared.vector, embed("Who left the harbour? And why?"))
    assert set(prepared.history_terms.values()) == {1.0}


def test_bm25_history_terms_count_less_than_the_question_s() -> None:
    index = LexicalIndex()
    index.update(
        {
            "harbour": ("The harbour of Zanzibar exports cloves and spices.", "en"),
            "festival": ("The festival in Tungsten hired forty musicians.", "en"),
            "both": ("Musicians played in the harbour.", "en"),
        },
        remove=(),
    )
    assert search([index], "musicians", 3, extra=None) == search([index], "musicians", 3)
    history = {t: 0.3 for t in tokenize_query("Zanzibar harbour cloves")}
    ranked = [chunk for chunk, _ in search([index], "musicians", 3, extra=history)]
    # The question's own term comes first; the history breaks the tie between its passages.
    assert ranked[0] == "both" and set(ranked) == {"both", "festival", "harbour"}
    alone = dict(search([index], "musicians", 3))
    weighted = dict(search([index], "musicians", 3, extra=history))
    assert weighted["festival"] == pytest.approx(alone["festival"])
    # A history term that is also the question's keeps its full weight.
    assert search([index], "harbour", 3, extra={t: 0.01 for t in tokenize_query("harbour")}) == search(
        [index], "harbour", 3
    )


def test_search_with_history_finds_what_the_follow_up_refers_to(seeds_retriever: Retriever) -> None:
    previous = ["Which company did the Amazon employees compare to IBM in the 1940s?"]
    question = "what did it do then?"
    alone = seeds_retriever.search(question)
    followed = seeds_retriever.search(question, previous=previous)
    assert followed.previous == tuple(previous) and alone.previous == ()
    assert "IBM" in followed.passages[0].text
    assert "IBM" not in alone.passages[0].text
    assert followed.to_json()["previous"] == previous and "previous" not in alone.to_json()


def test_search_without_history_is_unchanged(seeds_retriever: Retriever) -> None:
    question = "Who founded Palantir?"
    plain = seeds_retriever.search(question)
    for previous in ([], ["  "], ["What did No Music for ICE demand from Amazon?"]):
        answer = seeds_retriever.search(question, previous=previous)
        assert [p.chunk_id for p in answer.passages] == [p.chunk_id for p in plain.passages]
        assert answer.margin == plain.margin


def test_an_earlier_question_that_is_too_long_is_refused(seeds_retriever: Retriever) -> None:
    with pytest.raises(QuestionError, match="too long"):
        seeds_retriever.search("And why?", previous=["x" * 5000])
