"""What every index must satisfy after a finished run, whatever happened before it."""

from __future__ import annotations

from retrieval.catalog import Catalog
from retrieval.library import catalog_index, entry_rows
from retrieval.service import Retriever


def assert_consistent(
    retriever: Retriever, expected: dict[str, set[str]] | None = None, library: str = "base"
) -> None:
    """The library's record, catalog, passages, sentences and BM25 rows describe one and
    the same index (and, with ``expected``, the clean build ``{source id: passage ids}``)."""
    record = retriever.registry.record(library)
    assert record is not None, "no library record"
    assert not record.dirty, "the last run did not finish"
    store = retriever.store_of(library)
    catalog = Catalog(store.catalog().entries)
    catalog_ids = catalog.chunk_ids()
    assert catalog.chunk_count == len(catalog_ids), "a passage is listed twice in the catalog"
    assert (record.articles, record.passages) == (len(catalog.entries), len(catalog_ids)), (
        "stale record counts"
    )
    assert store.all_ids() == catalog_ids, "Chroma passages differ from the catalog"
    # BM25 is rebuilt by any process from the rows the catalog entries carry and the words.
    rows = entry_rows(catalog.entries)
    assert set(rows) == catalog_ids, "a passage lacks its BM25 row"
    terms = store.terms(0)
    assert all(int(r.terms.max(initial=-1)) < len(terms) for r in rows.values()), "a row uses an unknown word"
    derived = catalog_index(catalog, terms)
    assert derived.ids == catalog_ids and len(derived) == len(catalog_ids)
    owners = [passage for passage in store.sentence_vectors()[0]]
    assert set(owners) == catalog_ids, "a passage lacks its sentences, or a sentence its passage"
    assert store.orphan_sentences(catalog_ids) == []
    # Searches fetch a passage's sentences by the counts the catalog records.
    recorded = catalog.sentence_counts()
    assert set(recorded) == catalog_ids, "the catalog lacks sentence counts"
    assert recorded == {c: owners.count(c) for c in catalog_ids}, "sentence counts differ from the store"
    # Each stored passage carries the metadata of the article version the catalog lists.
    owner = {c: name for name, entry in catalog.entries.items() for c in entry.chunks}
    for chunk in store.get(sorted(catalog_ids)):
        assert chunk.metadata["source_id"] == owner[chunk.id]
        assert chunk.metadata["article_sha256"] == catalog.entries[owner[chunk.id]].sha256
    if expected is not None:
        assert {n: set(e.chunks) for n, e in catalog.entries.items()} == expected, (
            "differs from a clean build"
        )
    leftovers = [p.name for p in retriever.settings.data_dir.rglob("*.tmp")]
    assert leftovers == [], f"temporary files left behind: {leftovers}"
