"""The store's lazily fetched chunk texts: ranking reads ids and scores, answers read text."""

from __future__ import annotations

import numpy as np

from retrieval.service import Retriever


def test_texts_are_fetched_for_the_chunks_shown_and_on_demand(seeds_retriever: Retriever) -> None:
    store = seeds_retriever.store
    query = seeds_retriever.embedder.embed_queries(["Palantir contract with ICE"])[0]
    dense = store.query(query, 6)
    assert len(dense) == 6 and all(c._batch is not None for c in dense)
    assert [c.similarity for c in dense] == sorted((c.similarity for c in dense), reverse=True)

    store.load_texts(dense[:2])
    assert all(c._batch is None and c.text and c.metadata["source_id"] for c in dense[:2])
    assert all(c._batch is not None for c in dense[2:])
    # Reading one that was not fetched fetches the rest of its call at once.
    assert dense[4].text and dense[4].metadata["title"]
    assert all(c._batch is None for c in dense)

    by_id = store.get([c.id for c in dense], embedding=query)
    assert {c.id: round(c.similarity, 4) for c in by_id} == {c.id: round(c.similarity, 4) for c in dense}
    plain = {c.id: c for c in store.get([c.id for c in dense])}
    assert all(plain[c.id].text == c.text and plain[c.id].metadata == c.metadata for c in by_id)
    assert np.isclose(max(c.similarity for c in dense), dense[0].similarity)


def test_an_answer_carries_text_and_citation(seeds_retriever: Retriever) -> None:
    answer = seeds_retriever.search("What did No Music for ICE demand?", k=3)
    assert all(p.text and p.title and p.source for p in answer.passages)
