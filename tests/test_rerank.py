"""The second stage on its own: the kind of answer asked for, the bold text, one passage per bold text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pytest

from retrieval.chunking import quick_sentence_units
from retrieval.ranking import IndexView, Ranked
from retrieval.rerank import DEFAULT, Candidate, cue_of, near_copy, rerank, shown
from retrieval.store import SentenceVectors, StoredChunk, StoredSentence


def candidate(chunk: str, score: float, text: str, sentences: list[tuple[str, float]]) -> Candidate:
    stored = tuple(StoredSentence(f"{chunk}.{n}", chunk, s, sim) for n, (s, sim) in enumerate(sentences))
    best = max(stored, key=lambda s: s.similarity)
    return Candidate(Ranked(chunk, score, best), f"{chunk} {chunk}.txt", "Title", text, stored)


def plain(chunk: str, score: float, sentence: str) -> Candidate:
    """A passage of one sentence."""
    return candidate(chunk, score, sentence, [(sentence, score)])


def holding(chunk: str, score: float, first: str, answer: str, similarity: float) -> Candidate:
    """A passage whose closest sentence ``first`` comes before ``answer``, nearly as close."""
    return candidate(chunk, score, f"{first} {answer}", [(first, score), (answer, similarity)])


DEMANDS = (
    "Hundreds of artists signed the letter.",
    "The letter makes four demands of Amazon:",
    "* Terminate existing contracts",
    "* Reject future engagements.",
)
LISTED = candidate(
    "list",
    0.80,
    "\n\n".join(DEMANDS),
    [(DEMANDS[0], 0.80), (DEMANDS[1], 0.70), (DEMANDS[2], 0.72), (DEMANDS[3], 0.71)],
)
LEDE = candidate(
    "lede", 0.81, "The musicians boycott the festival.", [("The musicians boycott the festival.", 0.81)]
)


@pytest.mark.parametrize(
    ("question", "cue"),
    [
        ("How many names did the letter have?", "number"),
        ("Combien de noms comptait la lettre ?", "number"),
        ("When did the account first tweet?", "date"),
        ("En quelle année la pétition a-t-elle été signée ?", "date"),
        ("What did No Music for ICE demand?", "list"),
        ("Quelles sont les revendications des employés ?", "list"),
        ("What did the chief executive say about the letter?", "quote"),
        ("How did Amazon's CTO react to the protesters?", "quote"),
        ("Qu'a répondu Werner Vogels aux manifestants ?", "quote"),
        ("Quelle phrase les salariés utilisent-ils ?", "quote"),
        ("Who wrote the letter?", ""),  # a who question asks for a name, not for words
        ("Qui avait déjà écrit au patron d'Amazon ?", ""),
        ("Tell me about the SXSW boycott.", ""),
        ("Why did the artists sign?", ""),
    ],
)
def test_the_kind_of_answer_asked_for(question: str, cue: str) -> None:
    assert cue_of(question) == cue


def test_a_list_asked_for_puts_the_passage_holding_it_first_and_bolds_the_whole_list() -> None:
    first, second = rerank("What did the letter demand?", "en", [LEDE, LISTED])
    assert first.candidate is LISTED and second.candidate is LEDE
    assert first.highlight == "\n\n".join(DEMANDS[1:])  # as it reads in the passage: the intro and its items
    assert first.score == pytest.approx(0.80 + DEFAULT.cue)


def test_a_short_list_introduction_joined_to_its_first_item_is_still_a_list() -> None:
    # "We demand that our company:" is too short to be matched alone: the index joins it to
    # the first item, and the unit no longer ends with the colon.
    lines = (
        "The email went to every team.",
        "We demand that our company:",
        "1. Stop selling",
        "2. Stop hosting.",
    )
    joined = f"{lines[1]} {lines[2]}"
    passage = candidate("p", 0.8, "\n\n".join(lines), [(lines[0], 0.8), (joined, 0.75), (lines[3], 0.7)])
    [shown] = rerank("What did the email demand?", "en", [passage])
    assert shown.highlight == "\n\n".join(lines[1:])
    assert shown.score == pytest.approx(0.8 + DEFAULT.cue)
    # A colon with a number after it on the same line introduces no list.
    inline = "The ratio: 3. It held."
    flat = candidate("q", 0.8, f"{lines[0]} {inline}", [(lines[0], 0.8), (inline, 0.75)])
    [shown] = rerank("What did the email demand?", "en", [flat])
    assert shown.highlight == lines[0] and shown.score == pytest.approx(0.8)


def test_without_a_cue_the_first_stage_order_and_the_closest_sentence_stand() -> None:
    first, second = rerank("Why did the artists sign the letter?", "en", [LEDE, LISTED])
    assert (first.candidate, second.candidate) == (LEDE, LISTED)
    assert second.highlight == DEMANDS[0]


def test_a_number_asked_for_bolds_a_sentence_holding_one_when_nearly_as_close() -> None:
    text = "The letter was published on a Monday. By then 475 people had signed it."
    passage = candidate(
        "p",
        0.9,
        text,
        [("The letter was published on a Monday.", 0.86), ("By then 475 people had signed it.", 0.85)],
    )
    [only] = rerank("How many people signed the letter?", "en", [passage])
    assert only.highlight == "By then 475 people had signed it."
    [plain] = rerank("Who published the letter?", "en", [passage])
    assert plain.highlight == "The letter was published on a Monday."


@pytest.mark.parametrize(
    ("asked", "not_asked", "lede", "first", "answer"),
    [
        (  # someone's words; "who" asks for a name instead
            "What did the CTO reply to the protesters?",
            "Who replied to the protesters?",
            "Protesters interrupted the keynote.",
            "He kept talking.",
            "“Let me finish first,” he said.",
        ),
        (  # a list written inline, when no list follows a colon
            "What are the classes defined by random machines?",
            "Why can randomness change what is solved?",
            "Randomness changes what can be solved.",
            "Machines with random bits define classes.",
            "Other classes include BPP, ZPP and RP.",
        ),
    ],
)
def test_the_answer_asked_for_moves_its_passage_up_when_nearly_as_close(
    asked: str, not_asked: str, lede: str, first: str, answer: str
) -> None:
    top = plain("lede", 0.90, lede)
    holder = holding("holder", 0.885, first, answer, 0.87)
    one, two = rerank(asked, "en", [top, holder])
    assert (one.candidate, two.candidate) == (holder, top)
    assert one.highlight == answer and one.score == pytest.approx(0.885 + DEFAULT.cue)
    assert two.score == pytest.approx(0.90)
    # Not asked for it, the same passages keep their order and their closest sentences.
    one, two = rerank(not_asked, "en", [top, holder])
    assert (one.candidate, two.candidate) == (top, holder)
    assert two.highlight == first


@pytest.mark.parametrize(
    ("sentence", "dated"),
    [
        ("The duchy began in 911 as a fiefdom.", True),
        ("Dyrrachium fell in February.", True),
        ("A third attack came in 1185.", True),
        ("Le duché est fondé en 911.", True),
        ("The chain has shops in 300 cities.", False),
        ("Prices rose in 120 %.", False),
        ("The letter had 475 names.", False),
    ],
)
def test_a_date_asked_for_is_held_by_old_years_too(sentence: str, dated: bool) -> None:
    other = "The duchy was a fief."
    passage = candidate("p", 0.9, f"{other} {sentence}", [(other, 0.86), (sentence, 0.85)])
    [only] = rerank("When was the duchy founded?", "en", [passage])
    assert (only.highlight == sentence) is dated


def test_one_passage_per_bold_sentence() -> None:
    shared = "The lighthouse will be lit in May."
    reprint = [candidate(c, s, shared, [(shared, s)]) for c, s in (("a", 0.9), ("b", 0.89))]
    other = candidate("c", 0.5, "Harbour fees rise.", [("Harbour fees rise.", 0.5)])
    assert [
        r.candidate.ranked.chunk_id for r in rerank("When is the lighthouse lit?", "en", [*reprint, other])
    ] == [
        "a",
        "c",
    ]


def test_a_sentence_that_does_not_read_in_the_passage_falls_back_to_the_closest_in_words() -> None:
    passage = "Bees declined. The survey counted wild bees in Europe. Farmers were worried."
    stale = candidate("p", 0.9, passage, [("A sentence of another version.", 0.9)])
    [only] = rerank("How were wild bees counted?", "en", [stale])
    assert only.highlight == "The survey counted wild bees in Europe."


POST = (
    "The protests broke out at the summit last week.",
    "BREAKING: a second group interrupts the keynote to demand that the company cut ties. #NoTech4ICE",
    "— Daniel Altschuler 🦋 (@altochulo) July 11, 2019",
    "2. Stop providing infrastructure to Palantir.",
    "(con’t)",
    "— Amazonians: We Won't Build It (@WeWontBuildIt) July 29, 2019",
    "Vogels was caught off guard by the protests.",
)


@pytest.mark.parametrize("weights", [DEFAULT, None], ids=["read whole", "first stage"])
@pytest.mark.parametrize(
    ("closest", "bold"),
    [
        (POST[2], POST[1:3]),  # a signature alone says nothing: with the paragraph it signs
        (POST[1], POST[1:3]),  # a post with who wrote it and when
        (POST[3], POST[3:6]),  # a thread's signature comes after "(con't)"
        (f"{POST[4]} {POST[5]}", POST[3:6]),  # the unit the index matches: "(con't)" joins the line after
        (POST[0], POST[:1]),  # a sentence that is no post stays as it is
        (POST[6], POST[6:]),
    ],
)
def test_an_embedded_post_is_bold_with_its_signature(
    closest: str, bold: tuple[str, ...], weights: object
) -> None:
    others = [(s, 0.5) for s in POST if s not in closest]
    passage = candidate("post", 0.9, "\n\n".join(POST), [(closest, 0.9), *others])
    [shown] = rerank("Who interrupted the keynote?", "en", [passage], weights)
    assert shown.highlight == "\n\n".join(bold)


THREAD = (
    "On Monday, employees wrote to the mailing list.",
    "Hello Twitter!",
    "We are a group of @amazon workers calling for accountability in the tech we build.",
    "We are reminded of the role IBM played during the Holocaust https://t.co/pMX25yBWZy",
    "— Amazonians: We Won't Build It (@WeWontBuildIt) July 29, 2019",
)


@pytest.mark.parametrize("weights", [DEFAULT, None], ids=["read whole", "first stage"])
@pytest.mark.parametrize(
    ("closest", "paragraphs", "bold"),
    [
        # The unit the index matches ("Hello Twitter!" joins the sentence after it) opens a
        # short post: the whole message is bold, to the signature that says who and when.
        (f"{THREAD[1]} {THREAD[2]}", THREAD, "\n\n".join(THREAD[1:])),
        # The article's sentence before the post names no handle, hashtag or link: as it is.
        (THREAD[0], THREAD, THREAD[0]),
        # A post longer than a tweet is not shown whole.
        (THREAD[2], (*THREAD[:3], THREAD[3] * 4, THREAD[4]), THREAD[2]),
        # Nor is a paragraph with no handle, hashtag or link two paragraphs above a signature.
        (THREAD[0], (THREAD[0], THREAD[0].upper(), THREAD[4]), THREAD[0]),
        # A sentence in the middle of the post's paragraph: the rest of it, and the signature.
        (
            "We stand with you.",
            ("We stand with you. #solidarity https://t.co/dLDhFuPUhI", THREAD[4]),
            "\n\n".join(("We stand with you. #solidarity https://t.co/dLDhFuPUhI", THREAD[4])),
        ),
    ],
)
def test_a_short_post_is_bold_whole_from_its_closest_paragraph_to_its_signature(
    closest: str, paragraphs: tuple[str, ...], bold: str, weights: object
) -> None:
    others = [(s, 0.5) for s in paragraphs if s not in closest]
    passage = candidate("thread", 0.9, "\n\n".join(paragraphs), [(closest, 0.9), *others])
    [shown] = rerank("Who are the workers behind the account?", "en", [passage], weights)
    assert shown.highlight == bold


@pytest.mark.parametrize("weights", [DEFAULT, None], ids=["read whole", "first stage"])
def test_the_headline_is_never_the_bold_text_when_the_passage_has_another_sentence(weights: object) -> None:
    headline = candidate(
        "top",
        0.9,
        "Title\n\nThe letter makes four demands. Four hundred people signed it.",
        [("Title", 0.9), ("The letter makes four demands.", 0.8), ("Four hundred people signed it.", 0.7)],
    )
    [shown] = rerank("What does the letter ask for?", "en", [headline], weights)
    assert shown.highlight == "The letter makes four demands."
    alone = candidate("alone", 0.9, "Title", [("Title", 0.9)])
    assert rerank("What does the letter ask for?", "en", [alone], weights)[0].highlight == "Title"


STATEMENT = (
    "L’organisation a publié une déclaration avec le boycott.",
    "Ils ont déclaré: «Les musiciens devraient dire non.» La suite est ailleurs.",
    "Le festival a lieu au Texas.",
)


@pytest.mark.parametrize("weights", [DEFAULT, None], ids=["read whole", "first stage"])
@pytest.mark.parametrize(
    ("text", "bold"),
    [
        # The sentence after points back ("Ils", "They", "With this they"): the two read as one,
        # in one paragraph or across two, and only the first sentence of the next paragraph goes.
        ("\n\n".join(STATEMENT), f"{STATEMENT[0]}\n\nIls ont déclaré: «Les musiciens devraient dire non.»"),
        ("The board met in May. They rejected eleven proposals.", None),
        ("The board met in May. With this they rejected eleven proposals.", None),
        # Not when the next sentence names its own subject, nor into a list or a post.
        ("The board met in May. The shareholders rejected eleven proposals.", "The board met in May."),
        ("The board met in May.\n\n* It rejected eleven proposals.", "The board met in May."),
        (
            "The board met in May.\n\n— Board (@board) May 2, 2019",
            "The board met in May.\n\n— Board (@board) May 2, 2019",
        ),
    ],
)
def test_a_sentence_that_points_back_at_the_bold_one_is_bold_with_it(
    text: str, bold: str | None, weights: object
) -> None:
    first = text.split("\n\n")[0].split(". ")[0].rstrip(".") + "."
    rest = text[len(first) :].strip()
    passage = candidate("p", 0.9, text, [(first, 0.9), (rest, 0.5)])
    [shown] = rerank("Did the board meet?", "en", [passage], weights)
    assert shown.highlight == (text if bold is None else bold)


def test_passages_that_share_their_bold_sentence_are_one_whatever_follows_it() -> None:
    shared = "The lighthouse will be lit in May."
    a = candidate("a", 0.9, f"{shared} It stands on the cape.", [(shared, 0.9)])
    b = candidate("b", 0.89, f"{shared} It was built in 1850.", [(shared, 0.89)])
    [only] = rerank("Is the lighthouse lit?", "en", [a, b])
    assert only.candidate is a and only.highlight == f"{shared} It stands on the cape."


def words(text: str) -> int:
    return len(text.split())


SPLIT = quick_sentence_units(words, min_tokens=3)


@dataclass
class Passages:
    """A store of passages and their sentences that records what is read of it."""

    texts: dict[str, str]
    counts: dict[str, int] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)
    reads: list[tuple[str, list[str]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.counts = self.counts or {c: len(SPLIT(t)) for c, t in self.texts.items()}

    @property
    def view(self) -> IndexView:
        return IndexView(self.counts, {c: "en" for c in self.texts})

    def get(self, ids: Sequence[str]) -> list[StoredChunk]:
        self.reads.append(("passages", list(ids)))
        return [
            StoredChunk(i, self.texts[i], {"title": self.titles.get(i, "")}) for i in ids if i in self.texts
        ]

    def sentence_texts(self, ids: Sequence[str]) -> dict[str, str]:
        self.reads.append(("sentences", list(ids)))
        return {i: SPLIT(self.texts[i.split(".")[0]])[int(i.split(".")[1])] for i in ids}

    def sentences_counted(
        self, counts: dict[str, int], embedding: np.ndarray, texts: bool = False
    ) -> list[StoredSentence]:
        """Every sentence, its similarity falling with its place in the passage."""
        self.reads.append(("whole sentences" if texts else "sentence vectors", list(counts)))
        return [
            StoredSentence(f"{c}.{n}", c, text if texts else "", 0.9 - 0.01 * n)
            for c in counts
            for n, text in enumerate(SPLIT(self.texts[c]))
        ]


def best(chunk: str, n: int, similarity: float) -> Ranked:
    return Ranked(chunk, similarity, StoredSentence(f"{chunk}.{n}", chunk, "", similarity))


SHARED = "The lighthouse will be lit in May."


def test_shown_reads_only_the_passages_it_may_show_and_finds_the_bold_in_their_text() -> None:
    store = Passages(
        {
            **{
                f"p{n}": f"Harbour news number {n} today. {SHARED}" for n in range(4)
            },  # one sentence, four passages
            "q": "Fees rise at the harbour. Boats pay more.",
            "r": "The ferry runs twice a day.",
        }
    )
    ranked = [*(best(f"p{n}", 1, 0.9) for n in range(4)), best("q", 0, 0.8), best("r", 0, 0.7)]
    first, second = shown("Why do ferries run?", ranked, 2, store, np.zeros(2), SPLIT)
    assert (first.candidate.ranked.chunk_id, first.highlight) == ("p0", SHARED)
    assert (second.candidate.ranked.chunk_id, second.highlight) == ("q", "Fees rise at the harbour.")
    assert store.reads == [("passages", ["p0", "q"])]  # no sentence read, no passage sharing p0's sentence


def test_shown_reads_a_sentence_its_passage_splits_otherwise_and_goes_on_past_a_repeated_one() -> None:
    store = Passages(
        {
            "a": f"Old news from the port. {SHARED}",
            "b": f"{SHARED.upper()} Nothing else is planned.",
            "c": "Other news here.",
        },
    )
    store.counts["a"] = 3  # indexed with another cut: its sentence is read from the store
    ranked = [best("a", 1, 0.9), best("b", 0, 0.85), best("c", 0, 0.8)]
    first, second = shown("Why do ferries run?", ranked, 2, store, np.zeros(2), SPLIT)
    assert first.highlight == SHARED
    # b's bold is a's sentence in capitals: the same key, so c is read and shown instead.
    assert second.candidate.ranked.chunk_id == "c"
    assert store.reads == [("passages", ["a", "b"]), ("sentences", ["a.1"]), ("passages", ["c"])]


def test_a_question_with_a_cue_reads_its_head_whole_but_not_the_sentences_texts() -> None:
    store = Passages(
        {
            "a": "The ferry runs along the coast. It was built in 1998 by the yard.",
            "b": "Boats pay fees at the port.",
        }
    )
    ranked = [best("a", 0, 0.9), best("b", 0, 0.85)]
    first, second = shown("When was the ferry built?", ranked, 2, store, np.zeros(2), SPLIT)
    assert first.highlight == "It was built in 1998 by the yard."  # nearly as close, and holds a date
    assert second.candidate.ranked.chunk_id == "b"
    assert store.reads == [("passages", ["a", "b"]), ("sentence vectors", ["a", "b"])]
    store.reads.clear()
    store.counts["b"] = 2  # indexed with another cut: the texts are read with the vectors
    first, _ = shown("When was the ferry built?", ranked, 2, store, np.zeros(2), SPLIT)
    assert first.highlight == "It was built in 1998 by the yard."
    assert store.reads == [("passages", ["a", "b"]), ("whole sentences", ["a", "b"])]


def test_a_cue_head_is_scored_from_the_vectors_bm25_read_for_the_passages_they_hold() -> None:
    text = "The ferry runs along the coast. It was built in 1998 by the yard."
    store = Passages({"a": text, "b": "Boats pay fees at the port."})
    ranked = [best("a", 0, 0.9), best("b", 0, 0.85)]
    query = np.array([1.0, 0.0], dtype=np.float32)
    held = SentenceVectors(["a.0", "a.1"], np.array([[0.9, 0.1], [0.89, 0.2]], dtype=np.float32))
    first, _ = shown("When was the ferry built?", ranked, 2, store, query, SPLIT, vectors=held)
    assert first.highlight == "It was built in 1998 by the yard."
    assert [s.similarity for s in first.candidate.sentences] == pytest.approx([0.9, 0.89])
    assert store.reads == [("passages", ["a", "b"]), ("sentence vectors", ["b"])]


def test_a_passage_matched_by_its_headline_is_read_whole_for_its_bold_sentence() -> None:
    store = Passages(
        {
            "a": "Ferry Line Opens\n\nThe ferry runs along the coast. Boats pay fees.",
            "b": "Fees rise at the port.",
        },
        titles={"a": "Ferry Line Opens"},
    )
    ranked = [best("a", 0, 0.9), best("b", 0, 0.8)]
    first, second = shown("Why do ferries run?", ranked, 2, store, np.zeros(2), SPLIT)
    assert first.highlight == "The ferry runs along the coast."  # the closest sentence but the headline
    assert second.highlight == "Fees rise at the port."
    assert store.reads == [("passages", ["a", "b"]), ("sentence vectors", ["a"])]


def test_a_passage_matched_by_its_headline_bolds_the_runner_up_the_first_stage_found_without_a_read() -> None:
    store = Passages(
        {"a": "Ferry Line Opens\n\nThe ferry runs along the coast. Boats pay fees."},
        titles={"a": "Ferry Line Opens"},
    )
    runner_up = StoredSentence("a.2", "a", "", 0.85)  # the vector search found it too
    ranked = [replace(best("a", 0, 0.9), runner_up=runner_up)]
    [first] = shown("Why do ferries run?", ranked, 1, store, np.zeros(2), SPLIT)
    assert first.highlight == "Boats pay fees."
    assert store.reads == [("passages", ["a"])]


STORM = "The storm cut power to 40,000 homes along the coast early Tuesday, the utility company said."


@pytest.mark.parametrize(
    ("first", "second", "copy"),
    [
        (STORM, STORM.replace("early Tuesday", "early on Tuesday"), True),
        (STORM, STORM.upper(), True),
        (STORM, STORM.replace("40,000", "45,000"), False),  # a figure changed
        (STORM, STORM.replace("cut power", "did not cut power"), False),  # a negation
        (STORM, STORM.replace("the utility company said", "the mayor said"), False),
        ("The vote passed.", "The vote failed.", False),  # one word of three
    ],
)
def test_near_copy(first: str, second: str, copy: bool) -> None:
    assert near_copy(first, second) is copy and near_copy(second, first) is copy
