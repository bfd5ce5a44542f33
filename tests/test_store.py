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
