"""The manifest file of indexes written before the catalog moved into Chroma.

Such an index kept which article versions it held in ``manifest.json`` in the
data folder (and BM25 in a pickle beside it). The first writer run on the new
layout reads the manifest once, writes its entries into the Chroma catalog,
without embedding anything again, and renames the file (see
:meth:`retrieval.indexer.Indexer.run`).
"""

from __future__ import annotations

import json
from pathlib import Path

from retrieval.catalog import ArticleEntry

FORMAT_VERSION = 1


def read_manifest(path: Path) -> tuple[str, dict[str, ArticleEntry]] | None:
    """The model identity and entries of a manifest file; None when there is none or it
    cannot be read (a half-written file included)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != FORMAT_VERSION:
            return None
        return str(data["model"]), {name: ArticleEntry(**entry) for name, entry in data["articles"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
