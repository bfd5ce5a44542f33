"""Chunking: token limits, overlap, stable content-derived ids and locations."""

from __future__ import annotations

import hashlib

from retrieval.chunking import chunk_article, quick_sentence_units, sentence_units, split_sentences
from retrieval.embedding import Embedder
from retrieval.models import Article

from data_paths import SEEDS


def _article(text: str, title: str = "T", source_id: str = "a.txt") -> Article:
    return Article(
        source_id=source_id,
        title=title,
        text=text,
        language="en",
        sha256=hashlib.sha256(text.encode()).hexdigest(),
    )


LONG = "\n\n".join(
    " ".join(f"Sentence {p}-{s} says something about Amazon and the cloud contracts." for s in range(12))
    for p in range(5)
)


def test_chunks_respect_the_token_limit(embedder: Embedder) -> None:
    chunks = chunk_article(_article(LONG), embedder.count_tokens, max_tokens=80, overlap_tokens=20)
    assert len(chunks) > 5
    assert all(embedder.count_tokens(c.text) <= 80 + 4 for c in chunks)  # joins add a few tokens at most
    assert [c.position for c in chunks] == list(range(len(chunks)))


def test_consecutive_chunks_overlap_within_a_paragraph(embedder: Embedder) -> None:
    chunks = chunk_article(_article(LONG), embedder.count_tokens, max_tokens=80, overlap_tokens=30)
    first_sentences = split_sentences(chunks[1].text)
    assert first_sentences[0] in chunks[0].text


def test_short_paragraphs_stay_whole_and_locations_name_them(embedder: Embedder) -> None:
    text = "One.\n\nTwo is here.\n\nThree follows."
    chunks = chunk_article(_article(text), embedder.count_tokens, max_tokens=100, overlap_tokens=10)
    assert len(chunks) == 1
    assert chunks[0].location == "¶ 1–3"
    assert chunks[0].text == text


def test_ids_are_stable_and_change_with_content(embedder: Embedder) -> None:
    a = chunk_article(_article(LONG), embedder.count_tokens, 80, 20)
    b = chunk_article(_article(LONG), embedder.count_tokens, 80, 20)
    assert [c.id for c in a] == [c.id for c in b]
    edited = LONG.replace("Sentence 4-11", "Sentence 4-eleven")
    c = chunk_article(_article(edited), embedder.count_tokens, 80, 20)
    assert [x.id for x in c[:-1]] == [x.id for x in a[: len(c) - 1]]
    assert c[-1].id != a[-1].id
    other = chunk_article(_article(LONG, source_id="b.txt"), embedder.count_tokens, 80, 20)
    assert not {x.id for x in other} & {x.id for x in a}


def test_an_overlong_sentence_is_cut_between_words(embedder: Embedder) -> None:
    text = " ".join(["immigration"] * 600)
    chunks = chunk_article(_article(text), embedder.count_tokens, max_tokens=64, overlap_tokens=0)
    assert len(chunks) > 5
    assert all(embedder.count_tokens(c.text) <= 64 for c in chunks)
    assert sum(c.text.count("immigration") for c in chunks) == 600


def test_sentence_split_keeps_abbreviations_and_handles_french() -> None:
    assert split_sentences("Mr. Smith went to Washington. He met Dr. Jones.") == [
        "Mr. Smith went to Washington.",
        "He met Dr. Jones.",
    ]
    assert split_sentences("Ils ont déclaré: «Non.» Les musiciens refusent. À suivre.") == [
        "Ils ont déclaré: «Non.»",
        "Les musiciens refusent.",
        "À suivre.",
    ]


def test_quick_sentence_units_cut_the_seeds_passages_as_the_indexer_does(embedder: Embedder) -> None:
    split = quick_sentence_units(embedder.count_tokens)
    texts = [
        chunk.text
        for path in sorted(SEEDS.iterdir())
        for chunk in chunk_article(_article(path.read_text(encoding="utf-8")), embedder.count_tokens, 288, 32)
    ]
    texts.append("Short. Also short. Then a sentence long enough to stand on its own here.\n\nEnd.")
    assert len(texts) > 10
    for text in texts:
        assert split(text) == sentence_units(text, embedder.count_tokens)
