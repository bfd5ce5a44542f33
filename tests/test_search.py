"""Answering questions over the seeds: citations, cross-lingual retrieval, bad questions."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

from retrieval import service
from retrieval.embedding import Embedder
from retrieval.errors import QuestionError
from retrieval.evaluation import NOISE_BAND
from retrieval.layout import BASE_LIBRARY
from retrieval.ranking import LexicalSide, Ranker
from retrieval.scope import Scope
from retrieval.service import Retriever
from retrieval.tokenization import question_language


def test_demands_are_found_with_their_citation(seeds_retriever: Retriever) -> None:
    answer = seeds_retriever.search("What did No Music for ICE demand?")
    assert answer.answered
    passage = answer.passages[0]  # a list asked for, and this passage holds one: it comes first
    assert "Terminate existing contracts" in passage.text, [p.text[:80] for p in answer.passages]
    assert passage.highlight.startswith("The letter makes four demands of Amazon:")
    assert "Reject future engagements" in passage.highlight and passage.highlight in passage.text
    assert passage.source == "001_4b0b25bb2bafa5d9.txt"
    assert passage.title.startswith("Hundreds Of Musicians")
    assert passage.language == "en"
    assert passage.location.startswith("¶ ")
    assert [p.rank for p in answer.passages] == list(range(1, len(answer.passages) + 1))
    assert [p.score for p in answer.passages] == sorted((p.score for p in answer.passages), reverse=True)


def test_words_asked_for_show_the_quote_first(seeds_retriever: Retriever) -> None:
    answer = seeds_retriever.search(
        "Quelle phrase les salariés utilisent-ils pour dire qu'ils ne travailleront pas pour la police "
        "de l'immigration ?"
    )
    first = answer.passages[0]  # the quote's passage, 0.015 above the next one: well clear of noise
    assert first.source_id.startswith("002_"), [p.highlight[:60] for p in answer.passages]
    assert first.highlight.startswith("«Nous refusons de construire la plateforme")


def test_english_question_answered_from_a_french_article(seeds_retriever: Retriever) -> None:
    answer = seeds_retriever.search(
        "Whose immigration policies do people indirectly support by doing business with Amazon, "
        "according to No Music for ICE?"
    )
    assert any(p.source_id.startswith("000_") and "Donald Trump" in p.text for p in answer.passages[:3])


def test_french_question_answered_from_an_english_article(seeds_retriever: Retriever) -> None:
    answer = seeds_retriever.search("Quel festival à Las Vegas est alimenté par AWS ?")
    assert any("Intersect Festival" in p.text for p in answer.passages[:3])


def test_passages_in_the_other_language_get_the_bonus(seeds_retriever: Retriever) -> None:
    settings = seeds_retriever.settings
    plain = Retriever(
        settings.model_copy(update={"cross_language_bonus": 0.0}), embedder=seeds_retriever.embedder
    )
    question = "What did musicians say about Trump's immigration policies?"
    with_bonus = {p.chunk_id: p for p in seeds_retriever.search(question, k=8).passages}
    without = {p.chunk_id: p for p in plain.search(question, k=8).passages}
    shared = with_bonus.keys() & without.keys()
    languages = {with_bonus[c].language for c in shared}
    assert languages == {"en", "fr"}, languages
    for chunk_id in shared:
        gained = with_bonus[chunk_id].score - without[chunk_id].score
        expected = settings.cross_language_bonus if with_bonus[chunk_id].language == "fr" else 0.0
        assert gained == pytest.approx(expected, abs=1e-6), (with_bonus[chunk_id].language, gained)
    # The answer rule reads the best cosine with the same correction.
    corrected, raw = seeds_retriever.search(question).similarity, plain.search(question).similarity
    assert raw <= corrected <= raw + settings.cross_language_bonus + 1e-6


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("Combien de noms comptait la lettre au moment de la publication ?", "475 names"),
        (
            "What policy had the president announced that separated families arriving illegally?",
            "tolérance zéro",
        ),
    ],
)
def test_answers_only_in_the_other_language_are_answered(
    seeds_retriever: Retriever, question: str, answer: str
) -> None:
    result = seeds_retriever.search(question)
    # Well inside the answered side: a decision within float noise of the threshold tests nothing.
    assert result.margin > NOISE_BAND, (result.margin, result.similarity, result.coverage, result.names)
    assert result.answered
    assert answer in result.passages[0].text


def test_no_bonus_when_the_question_language_is_unknown(seeds_retriever: Retriever) -> None:
    plain = Retriever(
        seeds_retriever.settings.model_copy(update={"cross_language_bonus": 0.0}),
        embedder=seeds_retriever.embedder,
    )
    question = "Palantir AWS"  # too short to tell its language
    assert [(p.chunk_id, p.score) for p in seeds_retriever.search(question).passages] == [
        (p.chunk_id, p.score) for p in plain.search(question).passages
    ]


def test_k_limits_the_passages(seeds_retriever: Retriever) -> None:
    assert len(seeds_retriever.search("Palantir", k=2).passages) == 2
    many = seeds_retriever.search("Palantir", k=25).passages
    assert 5 < len(many) <= 25
    assert len({p.highlight for p in many}) == len(many), "no two passages matched by the same sentence"


def test_highlight_is_a_sentence_of_the_passage(seeds_retriever: Retriever) -> None:
    answer = seeds_retriever.search("What contract does Palantir have with ICE?")
    top = answer.passages[0]
    assert top.highlight and top.highlight in top.text
    assert "Palantir" in top.highlight


@pytest.mark.parametrize(
    "question",
    [
        "Combien de revendications la lettre des musiciens adresse-t-elle à Amazon ?",  # asks for a number
        "Musicians pledge to cut ties with Amazon",  # no kind of answer asked for
    ],
)
def test_a_headline_is_shown_as_the_title_not_as_the_bold_sentence(
    seeds_retriever: Retriever, question: str
) -> None:
    first = seeds_retriever.search(question).passages[0]
    assert first.title.startswith("Hundreds Of Musicians Pledge")
    assert first.text.startswith(first.title)  # the passage opens with its headline, which matches best
    assert first.highlight and first.highlight in first.text
    assert first.highlight.casefold() != first.title.casefold()


def test_the_sentence_that_goes_on_with_the_bold_one_is_bold_too(seeds_retriever: Retriever) -> None:
    # The closest sentence introduces the statement (0.85 against 0.79 for the next closest of its
    # passage, which comes first by 0.02); the statement follows it: «Ils ont déclaré: …».
    first = seeds_retriever.search(
        "What did the SXSW boycott statement accuse Amazon of taking part in?"
    ).passages[0]
    assert first.highlight.startswith("L’organisation a publié une déclaration")
    assert "séparation brutale des familles" in first.highlight and first.highlight in first.text


@pytest.mark.parametrize("question", ["", "   ", "\n\t", "?!", "\x00\x01"])
def test_empty_questions_are_refused(seeds_retriever: Retriever, question: str) -> None:
    with pytest.raises(QuestionError, match="empty"):
        seeds_retriever.search(question)


def test_huge_questions_are_refused(seeds_retriever: Retriever) -> None:
    with pytest.raises(QuestionError, match="too long"):
        seeds_retriever.search("Amazon " * 10_000)


def test_control_characters_are_dropped(seeds_retriever: Retriever) -> None:
    answer = seeds_retriever.search("Who is\x00 Andy\u200b Jassy?")
    assert answer.question == "Who is Andy Jassy?"


@pytest.mark.parametrize(
    "question",
    ["What is the recipe for a classic French onion soup?", "Qui a remporté le Tour de France en 2021 ?"],
)
def test_off_topic_questions_are_declined_with_the_closest_passages(
    seeds_retriever: Retriever, question: str
) -> None:
    answer = seeds_retriever.search(question)
    assert answer.margin < -NOISE_BAND, answer.margin
    assert answer.answered is False
    assert answer.passages, "the closest passages are still offered, labelled by answered=False"


def test_answered_questions_report_their_signals(seeds_retriever: Retriever) -> None:
    answer = seeds_retriever.search("Which data analytics company uses AWS and works with ICE?")
    assert answer.answered
    assert 0.0 < answer.similarity <= 1.0
    assert answer.coverage == 1.0


def test_syndicated_copies_fill_one_slot(tmp_path, embedder) -> None:  # type: ignore[no-untyped-def]
    """One sentence in twenty articles (a wire story reprinted) is shown once; the other
    slots go to passages matched by other sentences, however far down they rank."""
    from config import load_settings

    folder = tmp_path / "articles"
    folder.mkdir()
    wire = "The harbour authority confirmed that the new lighthouse will be lit on the first of May."
    for n in range(20):
        reprint = f"Paper number {n} printed this story on its front page, beside the weekly weather."
        (folder / f"copy{n:02}.txt").write_text(f"{wire}\n\n{reprint}\n", encoding="utf-8")
    others = [
        "The lighthouse keeper retired after forty years on the island.",
        "Fishing boats were told to avoid the harbour entrance during the works.",
        "The old lighthouse lamp will be shown in the town museum.",
        "Harbour fees rise by four percent from May.",
    ]
    for n, text in enumerate(others):
        (folder / f"other{n}.txt").write_text(f"Harbour news {n}\n\n{text}\n", encoding="utf-8")
    retriever = Retriever(load_settings(articles_dir=folder, data_dir=tmp_path / "data"), embedder=embedder)
    retriever.index()

    answer = retriever.search("When will the new lighthouse be lit?", k=5)
    assert len(answer.passages) == 5
    assert sum(wire in p.text for p in answer.passages) == 1, [p.text for p in answer.passages]
    assert answer.passages[0].highlight == wire
    assert len({p.highlight for p in answer.passages}) == 5


def test_copies_that_fill_every_candidate_still_leave_k_passages_shown(tmp_path, embedder) -> None:  # type: ignore[no-untyped-def]
    """More copies of a story than the search's candidates: a deeper search finds the
    other passages, each shown once."""
    from config import load_settings

    folder = tmp_path / "articles"
    folder.mkdir()
    wire = "The harbour authority confirmed that the new lighthouse will be lit on the first of May."
    for n in range(24):
        (folder / f"copy{n:02}.txt").write_text(f"Lighthouse to be lit\n\n{wire}\n", encoding="utf-8")
    others = [
        "The lighthouse keeper retired after forty years on the island.",
        "Fishing boats were told to avoid the harbour entrance during the works.",
        "The old lighthouse lamp will be shown in the town museum.",
        "Harbour fees rise by four percent from May.",
    ]
    for n, text in enumerate(others):
        (folder / f"other{n}.txt").write_text(f"Harbour news {n}\n\n{text}\n", encoding="utf-8")
    settings = load_settings(articles_dir=folder, data_dir=tmp_path / "data", candidates=4)
    retriever = Retriever(settings, embedder=embedder)
    retriever.index()

    answer = retriever.search("When will the new lighthouse be lit?", k=5)
    assert len(answer.passages) == 5, [p.source for p in answer.passages]
    assert sum(wire in p.text for p in answer.passages) == 1
    assert {p.text.split("\n")[-1] for p in answer.passages[1:]} == set(others)


def test_the_first_published_copy_of_a_story_is_the_one_cited(tmp_path, embedder) -> None:  # type: ignore[no-untyped-def]
    """Copies that score the same are shown by the original: the first published."""
    from config import load_settings

    folder = tmp_path / "articles"
    folder.mkdir()
    wire = "The harbour authority confirmed that the new lighthouse will be lit on the first of May."
    days = [12, 3, 27, 9, 18, 6, 21, 15]
    for n, day in enumerate(days):
        (folder / f"paper{n}.md").write_text(
            f"---\ntitle: Lighthouse to be lit\ndate: 2026-03-{day:02}\nsite: Paper {n}\n---\n{wire}\n",
            encoding="utf-8",
        )
    retriever = Retriever(load_settings(articles_dir=folder, data_dir=tmp_path / "data"), embedder=embedder)
    retriever.index()

    answer = retriever.search("When will the new lighthouse be lit?", k=3)
    assert answer.passages[0].site == "Paper 1" and answer.passages[0].published == "2026-03-03"
    assert len(answer.passages) == 1  # the copies are one passage


def test_a_reprinted_quoted_post_is_shown_once(tmp_path, embedder) -> None:  # type: ignore[no-untyped-def]
    """A quoted post's bold text runs on to its signature, past the best sentence: copies
    are still told apart by the text shown."""
    from config import load_settings

    folder = tmp_path / "articles"
    folder.mkdir()
    post = (
        "NOW: Fourth group of engineers demands that the harbour board stop the lighthouse sale."
        "\n\n— Harbour Watch (@HarbourWatch) July 29, 2019"
    )
    for n in range(12):
        filler = " ".join(
            f"Paper {n} also reported on the weather, the tides and the ferry timetable." for _ in range(3)
        )
        (folder / f"copy{n:02}.txt").write_text(
            f"Harbour board under pressure\n\n{filler}\n\n{post}\n\nThe board meets again in June.\n",
            encoding="utf-8",
        )
    retriever = Retriever(load_settings(articles_dir=folder, data_dir=tmp_path / "data"), embedder=embedder)
    retriever.index()

    answer = retriever.search("What did the fourth group of engineers demand?", k=5)
    highlights = [p.highlight for p in answer.passages]
    assert len(highlights) == len(set(highlights)), highlights


def test_a_reprint_edited_by_a_word_is_shown_once_and_a_changed_figure_is_not(tmp_path, embedder) -> None:  # type: ignore[no-untyped-def]
    from config import load_settings

    folder = tmp_path / "articles"
    folder.mkdir()
    lede = "The storm cut power to 40,000 homes along the coast early Tuesday, the utility company said."
    copies = {
        "wire.txt": lede,
        "echo.txt": lede.replace("early Tuesday", "early on Tuesday"),  # a reprint's edit
        "update.txt": lede.replace("40,000", "65,000"),  # a new figure: news of its own
    }
    for name, text in copies.items():
        (folder / name).write_text(f"Storm cuts power\n\n{text}\n", encoding="utf-8")
    (folder / "other.txt").write_text(
        "Ferry news\n\nThe ferries to the islands were cancelled for a second day.\n", encoding="utf-8"
    )
    retriever = Retriever(load_settings(articles_dir=folder, data_dir=tmp_path / "data"), embedder=embedder)
    retriever.index()

    shown = [p.source for p in retriever.search("How many homes lost power in the storm?", k=4).passages]
    assert len([s for s in shown if s in ("wire.txt", "echo.txt")]) == 1, shown
    assert "update.txt" in shown and "other.txt" in shown


OVERLAP_QUESTIONS = [
    "What did No Music for ICE demand?",
    "Combien de noms comptait la lettre au moment de la publication ?",
    "Which contract did Palantir sign with ICE?",
    "Quels artistes ont quitté le festival SXSW ?",
]


def _ready(side: LexicalSide) -> Callable[[], LexicalSide]:
    """A lexical side already found, given as a search's side thread gives it."""
    return lambda: side


def test_bm25_candidates_read_before_the_vector_search_rank_as_when_read_after(
    seeds_retriever: Retriever,
) -> None:
    scope = Scope(((seeds_retriever.store, seeds_retriever.views.get(BASE_LIBRARY)),))
    # Few candidates, so that BM25 brings passages the vector search did not keep.
    ranker = Ranker(scope, scope.lexical, seeds_retriever.weights, candidates=3)
    bm25_only = 0
    for question in OVERLAP_QUESTIONS:
        query = seeds_retriever.query_vector(question)
        language = question_language(question)
        side = ranker.lexical_side(question, counts=scope.view.sentence_counts)
        assert side.vectors is not None
        early = ranker.rank(question, query, 5, language, scope.view, side=_ready(side))
        after = ranker.rank(question, query, 5, language, scope.view)
        assert [(r.chunk_id, r.score, r.sentence.id) for r in early] == [
            (r.chunk_id, r.score, r.sentence.id) for r in after
        ]
        kept = list(dict.fromkeys(s.chunk_id for s in scope.query_sentences(query, 9)))[:3]
        bm25_only += sum(r.chunk_id not in kept for r in early)
    assert bm25_only > 0, "no BM25-only candidate was scored from the early read"


class _WaitsForTheLexicalSearch:
    """The real model, which embeds a question only once the lexical search for it has
    started (or 10 s have passed), and records which it was."""

    def __init__(self, model: Embedder) -> None:
        self.model = model
        self.identity, self.dim, self.max_tokens = model.identity, model.dim, model.max_tokens
        self.started = threading.Event()
        self.overlapped: list[bool] = []

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        self.overlapped.append(self.started.wait(10))
        return self.model.embed_queries(texts)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self.model.embed_passages(texts)

    def count_tokens(self, text: str) -> int:
        return self.model.count_tokens(text)


def test_the_lexical_search_runs_while_the_question_is_embedded(
    seeds_retriever: Retriever, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "SIDE_PATIENCE", 10.0)  # the other test worker may keep the cores busy
    model = _WaitsForTheLexicalSearch(seeds_retriever.embedder)
    threads: list[threading.Thread] = []
    policies: list[int] = []
    counted: list[bool] = []  # whether it read every candidate's sentence vectors
    lexical_side = Ranker.lexical_side

    def recorded(self: Ranker, *args: Any, **kwargs: Any) -> LexicalSide:
        threads.append(threading.current_thread())
        policies.append(os.sched_getscheduler(threading.get_native_id()))
        counted.append(kwargs.get("counts") is not None)
        model.started.set()
        return lexical_side(self, *args, **kwargs)

    question = OVERLAP_QUESTIONS[0]
    expected = [p.chunk_id for p in seeds_retriever.search(question).passages]
    monkeypatch.setattr(Ranker, "lexical_side", recorded)
    replica = Retriever(seeds_retriever.settings.model_copy(update={"read_only": True}), embedder=model)  # type: ignore[arg-type]
    answer = replica.search(question)
    assert model.overlapped == [True]
    assert threads[0] is not threading.current_thread()
    # It runs only on cores the model's threads leave idle (on Linux, where threads have their own policy).
    assert policies[0] == os.SCHED_IDLE
    assert os.sched_getscheduler(0) == os.SCHED_OTHER
    assert [p.chunk_id for p in answer.passages] == expected
    # Asked again, the question's vector is cached: nothing to overlap, it runs here.
    model.started.clear()
    assert [p.chunk_id for p in replica.search(question).passages] == [p.chunk_id for p in answer.passages]
    assert model.overlapped == [True] and threads[1] is threading.current_thread()
    assert counted == [True, False], "run here, it reads only the vectors the ranking needs"


def test_a_search_does_the_lexical_search_itself_when_its_thread_is_held_up(
    seeds_retriever: Retriever, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _WaitsForTheLexicalSearch(seeds_retriever.embedder)
    release = threading.Event()
    on_side: list[bool] = []
    lexical_side = Ranker.lexical_side
    main = threading.current_thread()

    def held_up(self: Ranker, *args: Any, **kwargs: Any) -> LexicalSide:
        on_side.append(threading.current_thread() is not main)
        if on_side[-1]:
            model.started.set()
            release.wait(10)  # as if other work kept the cores busy
        return lexical_side(self, *args, **kwargs)

    question = OVERLAP_QUESTIONS[1]
    expected = [(p.chunk_id, p.score, p.highlight) for p in seeds_retriever.search(question).passages]
    monkeypatch.setattr(Ranker, "lexical_side", held_up)
    replica = Retriever(seeds_retriever.settings.model_copy(update={"read_only": True}), embedder=model)  # type: ignore[arg-type]
    try:
        answer = replica.search(question)
    finally:
        release.set()
    assert on_side == [True, False], "after SIDE_PATIENCE, the search does it itself"
    assert [(p.chunk_id, p.score, p.highlight) for p in answer.passages] == expected
