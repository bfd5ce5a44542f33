"""Indexes of the layout before the catalog moved into Chroma, made for the migration tests."""

from __future__ import annotations

import json
import pickle
from dataclasses import asdict

from retrieval.service import Retriever

#: Catalog fields the manifest did not have.
LATER_FIELDS = {"published", "author", "site", "generation"}


def make_legacy(retriever: Retriever) -> None:
    """Turn ``retriever``'s freshly built base library into what an earlier citebot left:
    passages and sentences in Chroma, and beside them ``manifest.json`` and ``lexical.pkl``
    in the data folder, but no catalog, vocabulary or library record in the store."""
    folder = retriever.folder
    entries = retriever.store.catalog().entries
    articles = {
        name: {key: value for key, value in asdict(entry).items() if key not in LATER_FIELDS}
        for name, entry in entries.items()
    }
    manifest = {"version": 1, "model": retriever.model_identity, "articles": articles}
    folder.manifest.write_text(json.dumps(manifest), encoding="utf-8")
    folder.legacy_lexical.write_bytes(pickle.dumps({"version": 2, "ids": sorted(entries)}))
    forget_catalog(retriever)


def forget_catalog(retriever: Retriever) -> None:
    """Drop the base library's catalog, vocabulary and record from the store (its passages
    and sentences stay), and this process's cache of it."""
    chroma = retriever.chroma
    chroma.drop(retriever.store.names.articles)
    chroma.drop(retriever.store.names.terms)
    retriever.registry.remove("base")
    cache = retriever.folder.lexical_cache("base")
    cache.unlink(missing_ok=True)
    cache.with_name(cache.name + ".json").unlink(missing_ok=True)
