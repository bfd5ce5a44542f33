"""The BM25 index: the scores of bm25s, incremental updates, save and load."""

from __future__ import annotations

import pickle
import random
from pathlib import Path

import numpy as np
import pytest

from retrieval.chunking import split_sentences
from retrieval.layout import DataFolder
from retrieval.lexical import (
    LexicalIndex,
    Row,
    Rows,
    coverage,
    pack_rows,
    search,
    unpack_block,
    unpack_rows,
    write_json,
)
from retrieval.tokenization import question_language, tokenize, tokenize_query

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def _sentences() -> list[tuple[str, str]]:
    out = []
    for path in sorted(SEEDS.iterdir()):
        language = "fr" if path.name.startswith("000_") else "en"
        for paragraph in path.read_text(encoding="utf-8").split("\n\n"):
            out += [(s, language) for s in split_sentences(paragraph) if len(s) > 20]
    return out


def _corpus(seed: int, size: int) -> dict[str, tuple[str, str]]:
    rng = random.Random(seed)
    sentences = _sentences()
    return {
        f"c{seed}-{i}": (" ".join(s for s, _ in rng.sample(sentences, 3)), rng.choice(["en", "fr"]))
        for i in range(size)
    }


def _bm25s_scores(corpus: dict[str, tuple[str, str]], question: str) -> dict[str, float]:
    import bm25s

    ids = sorted(corpus)
    model = bm25s.BM25()
    model.index([tokenize(*corpus[i]) or [""] for i in ids], show_progress=False)
    tokens = [t for t in tokenize_query(question) if t in model.vocab_dict]
    if not tokens:
        return {}
    scores = model.get_scores(tokens)
    return {i: float(s) for i, s in zip(ids, scores) if s > 0}


QUESTIONS = [
    "Palantir contract with ICE",
    "Quel festival à Las Vegas ?",
    "musicians demand Amazon",
    "zzz nothing",
]


@pytest.mark.parametrize("question", QUESTIONS)
def test_scores_match_bm25s(tmp_path: Path, question: str) -> None:
    corpus = _corpus(1, 120)
    index = LexicalIndex()
    index.update(add=corpus, remove=[])
    expected = _bm25s_scores(corpus, question)
    got = dict(search([index], question, len(corpus)))
    assert got.keys() == expected.keys()
    for chunk_id, score in expected.items():
        assert got[chunk_id] == pytest.approx(score, rel=1e-4)
    ranked = search([index], question, 5)
    assert [s for _, s in ranked] == sorted((s for _, s in ranked), reverse=True)
    assert len(ranked) == min(5, len(expected))


def test_incremental_updates_equal_a_fresh_build(tmp_path: Path) -> None:
    first, second = _corpus(2, 80), _corpus(3, 40)
    index = LexicalIndex()
    index.update(add=first, remove=[])
    removed = sorted(first)[::3]
    changed = {sorted(first)[1]: ("Palantir and ICE, again and again", "en")}
    index.update(add={**second, **changed}, remove=removed)

    final = {k: v for k, v in first.items() if k not in removed} | second | changed
    fresh = LexicalIndex()
    fresh.update(add=final, remove=[])
    assert index.ids == set(final) == fresh.ids
    for question in QUESTIONS:
        got, want = dict(search([index], question, 500)), dict(search([fresh], question, 500))
        assert got.keys() == want.keys()
        assert np.allclose([got[k] for k in want], list(want.values()), rtol=1e-5)
        assert got == pytest.approx(_bm25s_scores(final, question), rel=1e-4)


def test_passages_tied_at_the_cut_are_kept_by_id_whatever_their_row_order() -> None:
    """Reprints score alike: which of them make the top n must not depend on the order the
    index received them (a writer's run by run, a replica's in one read)."""
    copies = {f"p{n:03}": ("Palantir founded by Peter Thiel works with ICE.", "en") for n in range(60)}
    copies["other"] = ("The festival in Austin is over.", "en")
    names = list(copies)
    forward, backward = LexicalIndex(), LexicalIndex()
    forward.update(add=copies, remove=[])
    for start in range(len(names), 0, -10):  # added in another order, ten at a time
        backward.update(add={k: copies[k] for k in names[max(0, start - 10) : start]}, remove=[])
    for n in (1, 7, 40):
        got = search([forward], "Who founded Palantir?", n)
        assert got == search([backward], "Who founded Palantir?", n)
        assert [chunk for chunk, _ in got] == sorted(k for k in copies if k.startswith("p"))[:n]


def test_save_load_round_trip_as_plain_arrays(tmp_path: Path) -> None:
    path = DataFolder(tmp_path).lexical_cache("base")
    index = LexicalIndex()
    index.update(add=_corpus(4, 50), remove=[])
    index.save(path, {"generation": 7})
    loaded, meta = LexicalIndex.load(path)  # type: ignore[misc]
    assert meta == {"generation": 7}
    assert loaded.ids == index.ids and len(loaded) == 50 and next(iter(index.ids)) in loaded
    assert search([loaded], "Palantir ICE", 10) == search([index], "Palantir ICE", 10)
    loaded.update(add={"extra": ("Palantir Palantir", "en")}, remove=[])
    assert search([loaded], "Palantir", 1)[0][0] == "extra"

    # Never a pickle: the arrays are read with allow_pickle=False, and a pickle is no cache.
    path.write_bytes(pickle.dumps({"version": 2, "ids": ["a"]}))
    assert LexicalIndex.load(path) is None
    index.save(path, {})
    other = LexicalIndex()
    other.update(add=_corpus(5, 10), remove=[])
    other.save(tmp_path / "other.npz", {})
    (tmp_path / "other.npz").replace(path)  # arrays of another index beside this JSON
    assert LexicalIndex.load(path) is None
    path.with_name(path.name + ".json").write_text('{"version": 99}', encoding="utf-8")
    assert LexicalIndex.load(path) is None


def test_rows_rebuild_the_same_index_elsewhere() -> None:
    """What the writer stores (each passage's row, the words) rebuilds its index exactly."""
    writer = LexicalIndex()
    writer.update(add=_corpus(6, 60), remove=[])
    later = writer.update(add={"late": ("Palantir, late and again", "en")}, remove=["p6-3"])
    ids = sorted(writer.ids)
    rows = dict(zip(ids, unpack_rows(pack_rows([writer.row(i) for i in ids]))))
    reader = LexicalIndex()
    reader.apply(rows, terms=writer.terms)
    assert set(later) == {"late"}
    for question in QUESTIONS:
        assert search([reader], question, 100) == search([writer], question, 100)


def test_a_catalog_read_as_one_flat_block_is_the_same_index() -> None:
    """Rows read article by article into one block (how a process reads a whole catalog)
    give the index that the same rows added one by one give, and it changes the same way."""
    writer = LexicalIndex()
    writer.update(add=_corpus(7, 90), remove=[])
    ids = sorted(writer.ids)
    articles = [ids[i : i + 7] for i in range(0, len(ids), 7)]  # 13 articles, the last one shorter
    packed = [(pack_rows([writer.row(i) for i in chunks]), chunks) for chunks in articles]
    by_row = LexicalIndex()
    by_row.apply(
        {i: r for text, chunks in packed for i, r in zip(chunks, unpack_rows(text))}, terms=writer.terms
    )
    block = Rows.joined([unpack_block(text, chunks) for text, chunks in packed])
    assert block.ids == [i for chunks in articles for i in chunks] and block.counts.dtype == np.uint16
    flat = LexicalIndex()
    flat.apply(block, terms=writer.terms)
    assert flat.ids == by_row.ids == writer.ids
    for chunk_id in ids:
        row, original = flat.row(chunk_id), writer.row(chunk_id)
        assert dict(zip(row.terms.tolist(), row.counts.tolist())) == dict(
            zip(original.terms.tolist(), original.counts.tolist())
        )
        assert row.length == original.length
    for question in QUESTIONS:
        assert (
            search([flat], question, 100)
            == search([by_row], question, 100)
            == search([writer], question, 100)
        )
    # Then an update: a block replacing two passages and adding one, removing another.
    change = writer.update(
        add={ids[0]: ("Palantir again and again", "en"), "new": ("Amazon late", "en")}, remove=[ids[5]]
    )
    flat.apply(Rows.of(change), remove=[ids[5]], terms=writer.terms[len(flat.terms) :])
    for question in QUESTIONS:
        assert search([flat], question, 100) == search([writer], question, 100)
    with pytest.raises(ValueError, match="7 BM25 rows for 6 passages"):
        unpack_block(packed[0][0], articles[0][:6])


def test_a_catalog_block_skips_unreadable_rows_and_keeps_a_passage_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An entry whose rows cannot be read is left out with a warning, and a passage two
    entries list (a damaged catalog) is kept once, with the later entry's row."""
    from retrieval.catalog import ArticleEntry
    from retrieval.library import entry_block

    writer = LexicalIndex()
    writer.update(add=_corpus(8, 4), remove=[])
    a, b, c, d = sorted(writer.ids)

    def entry(chunks: list[str], rows: str) -> ArticleEntry:
        return ArticleEntry("0" * 64, "t", "en", chunks, "2026-12-06T00:00:00+00:00", rows=rows)

    def pack(chunks: list[str]) -> str:
        return pack_rows([writer.row(i) for i in chunks])

    entries = {
        "one": entry([a, b], pack([a, b])),
        "bad": entry([c], "not rows"),
        "two": entry([d], pack([d])),
    }
    with caplog.at_level("WARNING"):
        block = entry_block(entries, "base")
    assert block.ids == [a, b, d] and "bad has no usable BM25 rows" in caplog.text
    entries["three"] = entry([a], pack([b]))  # lists a again, with b's row
    block = entry_block(entries, "base")
    assert sorted(block.ids) == [a, b, d]
    index = LexicalIndex()
    index.apply(block, terms=writer.terms)
    assert sorted(index.row(a).terms.tolist()) == sorted(writer.row(b).terms.tolist())


def test_the_cache_header_is_streamed_as_json_dumps_would_write_it() -> None:
    """The cache's JSON, written piece by piece, is byte for byte what ``json.dumps`` gives."""
    import io
    import json

    class Entry:
        def __init__(self, title: str) -> None:
            self.title = title

        def to_json(self) -> dict[str, object]:
            return {"title": self.title, "chunks": ["a", "b"]}

    ids = [f"passage-{n}" for n in range(10_000)]
    header = {
        "version": 3,
        "ids": ids,
        "terms": ["élection", "grève", '"quoted"', "\\back"],
        "empty": [],
        "nothing": {},
        "catalog": {"000_fr.txt": Entry("Dans sa lutte…"), "001_en.txt": Entry("No Music For ICE")},
        "none": None,
    }
    written = io.BytesIO()
    write_json(written, header)
    expected = {**header, "catalog": {k: v.to_json() for k, v in header["catalog"].items()}}  # type: ignore[union-attr]
    assert written.getvalue() == json.dumps(expected, ensure_ascii=False).encode("utf-8")
    with pytest.raises(TypeError, match="object is not JSON serializable"):
        write_json(io.BytesIO(), {"x": object()})


def test_counts_too_large_for_two_bytes_are_kept_whole(tmp_path: Path) -> None:
    """Term counts are held in two bytes when they fit; a larger one keeps four."""
    index = LexicalIndex()
    index.apply({"big": Row(np.array([0], np.int32), np.array([70_000], np.int32), 70_000)}, terms=["x"])
    assert index.row("big").counts.tolist() == [70_000]
    assert index.row("big").counts.dtype == np.int32
    index.save(tmp_path / "lex.npz", {})
    loaded = LexicalIndex.load(tmp_path / "lex.npz")
    assert loaded is not None and loaded[0].row("big").counts.tolist() == [70_000]


def test_several_indexes_are_searched_as_one_corpus() -> None:
    one, two = _corpus(7, 50), _corpus(8, 30)
    together = LexicalIndex()
    together.update(add={**one, **two}, remove=[])
    first, second = LexicalIndex(), LexicalIndex()
    first.update(add=one, remove=[])
    second.update(add=two, remove=[])
    for question in QUESTIONS:
        got, want = dict(search([first, second], question, 200)), dict(search([together], question, 200))
        assert got.keys() == want.keys()
        assert np.allclose([got[k] for k in want], list(want.values()), rtol=1e-6)
        assert coverage([first, second], question) == coverage([together], question)


def test_empty_index_and_clear(tmp_path: Path) -> None:
    index = LexicalIndex()
    assert search([index], "anything", 5) == []
    index.update(add={"a": ("", "en"), "b": ("Amazon workers", "en")}, remove=[])
    assert [i for i, _ in search([index], "Amazon", 5)] == ["b"]
    index.update(add={}, remove=["a", "b"])
    assert len(index) == 0 and search([index], "Amazon", 5) == []
    index.update(add={"c": ("Amazon", "en")}, remove=[])
    index.clear()
    assert search([index], "Amazon", 5) == [] and not index.ids


def test_words_about_the_archive_are_not_searched_nor_counted(tmp_path: Path) -> None:
    index = LexicalIndex()
    index.update({"a": ("Andy Jassy runs AWS. This article has sources.", "en")}, [])
    assert tokenize_query("Qui est Andy Jassy selon les articles ?") == tokenize_query("Qui est Andy Jassy ?")
    assert tokenize_query("according to the sources, who runs AWS?") == tokenize_query("who runs AWS?")
    # "article" and "sources" are in the archive, but say nothing about what is asked.
    assert coverage([index], "Qui est Andy Jassy selon les articles ?") == 1.0
    assert coverage([index], "Who is Andy Jassy, according to the sources?") == coverage(
        [index], "Who is Andy Jassy?"
    )
    assert coverage([index], "Werner Vogels according to the articles") == 0.0


@pytest.mark.parametrize(
    ("question", "language"),
    [
        ("What did the letter say musicians should refuse?", "en"),
        ("Who founded Palantir?", "en"),
        ("Qui est Andy Jassy selon les articles ?", "fr"),
        ("Quel festival à Las Vegas est alimenté par AWS ?", "fr"),
        ("Que doivent faire les musiciens selon la déclaration de No Music for ICE ?", "fr"),
        ("Quelle division d'Amazon pose problème aux artistes ?", "fr"),
        ("¿Quién fundó Palantir y cuándo?", "es"),
        ("Wer ist der Chef von Amazon?", "de"),
        ("facial recognition shareholders vote", "und"),  # no function words: no guess
        ("Palantir AWS", "und"),
        # A name's words tell nothing of the question's language; an elision or a space
        # before "?" is French.
        ("Que demande No Music for ICE ?", "fr"),
        ("Qu’a exigé No Music for ICE ?", "fr"),
        ("What did No Music for ICE demand?", "en"),
        ("Is the Keystone XL Pipeline in Canada?", "en"),
    ],
)
def test_question_language(question: str, language: str) -> None:
    assert question_language(question) == language


def test_packed_rows_are_checked() -> None:
    with pytest.raises(ValueError, match="not packed BM25 rows"):
        unpack_rows("not base64!")
    with pytest.raises(ValueError, match="not packed BM25 rows"):
        unpack_rows(pack_rows([])[:-8] + "AAAAAAAA")
    assert unpack_rows(pack_rows([])) == []
