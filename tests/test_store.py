"""The store: passages and their sentences in two Chroma collections, read for an answer."""

from __future__ import annotations

import numpy as np

from retrieval.catalog import Catalog
from retrieval.service import Retriever
from retrieval.store import sentence_key


def test_sentences_point_to_their_passages_and_score_like_a_query(seeds_retriever: Retriever) -> None:
    store = seeds_retriever.store
    query = seeds_retriever.embedder.embed_queries(["Palantir contract with ICE"])[0]
    nearest = store.query_sentences(query, 8)
    assert len(nearest) == 8
    assert [s.similarity for s in nearest] == sorted((s.similarity for s in nearest), reverse=True)
    assert all(s.text == "" and s.key == "" and s.chunk_id for s in nearest), "ids and scores only"

    passages = {c.id: c for c in store.get(list({s.chunk_id for s in nearest}))}
    texts = store.sentence_texts([s.id for s in nearest])
    assert all(texts[s.id] and texts[s.id].split()[0] in passages[s.chunk_id].text for s in nearest)

    # The same passages' sentences, fetched with their vectors, score the same,
    # whether found through the manifest's sentence counts or a metadata filter.
    counts = Catalog(store.catalog().entries).sentence_counts()
    assert set(counts) == store.all_ids() and sum(counts.values()) == store.sentence_count()
    fetched = {s.id: s for s in store.sentences_of(list(passages), query)}
    counted = {s.id: s for s in store.sentences_counted({c: counts[c] for c in passages}, query)}
    assert set(fetched) == set(counted)
    for s in nearest:
        # The passage read off the sentence id is the one its metadata names.
        assert fetched[s.id].chunk_id == counted[s.id].chunk_id == s.chunk_id
        assert fetched[s.id].key == sentence_key(texts[s.id])
        assert np.isclose(fetched[s.id].similarity, s.similarity, atol=1e-4)
        assert np.isclose(counted[s.id].similarity, s.similarity, atol=1e-4)
        assert fetched[s.id].text == texts[s.id]


def test_every_passage_has_sentences_and_citation_metadata(seeds_retriever: Retriever) -> None:
    store = seeds_retriever.store
    ids = sorted(store.all_ids())
    assert store.sentence_count() > len(ids) > 4
    for chunk in store.get(ids):
        assert chunk.text and chunk.metadata["source_id"] and chunk.metadata["title"]
        assert chunk.metadata["location"].startswith("¶ ")
    assert store.orphan_sentences(set(ids)) == []


def test_an_answer_carries_text_and_citation(seeds_retriever: Retriever) -> None:
    answer = seeds_retriever.search("What did No Music for ICE demand?", k=3)
    assert all(p.text and p.title and p.source for p in answer.passages)
    assert all(p.highlight in p.text for p in answer.passages if p.highlight)


def _records_match_sentences(retriever: Retriever) -> None:
    """Every passage has a vector record, and it holds its sentences' vectors as Chroma keeps them."""
    store = retriever.store
    counts = Catalog(store.catalog().entries).sentence_counts()
    assert store.missing_vectors(set(counts)) == (set(), set())
    from_records = store.vectors_counted(counts)
    by_sentence = store.vectors_by_sentence(counts)
    rows = dict(zip(by_sentence.ids, by_sentence.vectors))
    assert sorted(from_records.ids) == sorted(rows) and len(rows) == sum(counts.values())
    assert all(np.array_equal(vector, rows[i]) for i, vector in zip(from_records.ids, from_records.vectors))


def test_each_passage_keeps_its_sentence_vectors_in_one_record(retriever: Retriever, articles) -> None:  # type: ignore[no-untyped-def]
    retriever.index()
    _records_match_sentences(retriever)
    # Edited and removed articles take their records with them.
    (articles / "001_4b0b25bb2bafa5d9.txt").unlink()
    with (articles / "003_8dd3d7f5671449ac.txt").open("a", encoding="utf-8") as f:
        f.write("\n\nA new closing paragraph, written for the test, with its own sentence.\n")
    report = retriever.index()
    assert report.removed and report.chunks_embedded
    _records_match_sentences(retriever)
    assert retriever.store.vector_count() == retriever.store.count()


def test_an_index_without_vector_records_answers_the_same_and_gets_them_without_embedding(
    retriever: Retriever, embedder
) -> None:  # type: ignore[no-untyped-def]
    retriever.index()
    questions = ["What did No Music for ICE demand?", "Combien de noms comptait la lettre ?", "Palantir AWS"]
    before = [retriever.search(q) for q in questions]
    store = retriever.store
    store.chroma.drop(store.names.vectors)  # as written before the records existed
    store._collections.pop(store.names.vectors, None)
    older = Retriever(retriever.settings, embedder=embedder)
    assert older.store.vector_count() == 0
    for question, answer in zip(questions, before):
        older.clear_query_cache()
        again = older.search(question)
        assert [(p.chunk_id, p.score, p.highlight) for p in again.passages] == [
            (p.chunk_id, p.score, p.highlight) for p in answer.passages
        ]
    # The next run, with nothing to index, writes them from the stored sentences.
    report = older.index()
    assert report.chunks_embedded == 0 and report.unchanged
    _records_match_sentences(older)


def test_a_vector_record_that_does_not_fit_its_passage_is_read_by_its_sentences(retriever: Retriever) -> None:
    retriever.index()
    store = retriever.store
    counts = Catalog(store.catalog().entries).sentence_counts()
    first, second = sorted(counts)[:2]
    store.upsert_vectors({first: np.zeros((counts[first] + 1, 384), np.float32)})
    store.chroma.update(store._require(store.names.vectors), [second], [{"vectors": "not base64!"}])
    asked = {first: counts[first], second: counts[second]}
    read, expected = store.vectors_counted(asked), store.vectors_by_sentence(asked)
    rows = dict(zip(expected.ids, expected.vectors))
    assert sorted(read.ids) == sorted(rows)
    assert all(np.array_equal(vector, rows[i]) for i, vector in zip(read.ids, read.vectors))
