"""Where the index lives: the data folder's file names, the id scheme of sentences, atomic writes.

Every name a reader of the data folder needs is written here once: the indexer,
the service, the benchmarks and the tests all go through :class:`DataFolder`.
A sentence's id names its passage (``PASSAGE.N``), so a nearest-sentence query
needs no metadata to know which passage a sentence belongs to.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from config.settings import COLLECTION_SUFFIXES

#: What a process killed mid-save leaves (see :func:`atomic_write`); never read, removed by the next run.
TEMPORARY_GLOB = ".*.tmp"
#: The operator's library: the articles folder, searched with every other library.
BASE_LIBRARY = "base"


@dataclass(frozen=True)
class Collections:
    """The Chroma collections of one library."""

    passages: str
    sentences: str
    articles: str
    terms: str
    vectors: str


def collections(prefix: str, library: str) -> Collections:
    """The collection names of ``library`` under the settings' collection ``prefix``. The
    base library keeps the names indexes had before there were libraries."""
    stem = prefix if library == BASE_LIBRARY else f"{prefix}--{library}"
    return Collections(stem, *(f"{stem}{suffix}" for suffix in COLLECTION_SUFFIXES))


def registry_collection(prefix: str) -> str:
    """The collection of library records and the writer's lease."""
    return f"{prefix}-libraries"


def feeds_collection(prefix: str) -> str:
    """The collection of news feed subscriptions, every library's (a library's own
    collections are ``<prefix>--<library>...``, so no library name can collide with it)."""
    return f"{prefix}-feeds"


@dataclass(frozen=True)
class DataFolder:
    """The files of one index under ``root`` (``CITEBOT_DATA_DIR``)."""

    root: Path

    @property
    def manifest(self) -> Path:
        """The catalog of an index written before the catalog moved into Chroma (read once, to migrate)."""
        return self.root / "manifest.json"

    @property
    def legacy_lexical(self) -> Path:
        """The BM25 pickle of such an index (never read: removed by the migration)."""
        return self.root / "lexical.pkl"

    def lexical_cache(self, library: str) -> Path:
        """This process's cache of a library's BM25 index (``.npz`` plus ``.json``), rebuilt
        from Chroma whenever it is missing or behind."""
        return self.root / "cache" / f"lexical-{library}.npz"

    @property
    def write_lock(self) -> Path:
        """Held by the one process that writes an embedded store."""
        return self.root / "write.lock"

    def library_articles(self, library: str) -> Path:
        """Where a writer keeps the articles added to a library from Discord or feeds."""
        return self.root / "libraries" / library / "articles"

    @property
    def chroma(self) -> Path:
        """The embedded Chroma store (unused with a Chroma server)."""
        return self.root / "chroma"

    @property
    def feedback(self) -> Path:
        """The answers the bot posted and the votes on them (SQLite, ``retrieval.feedback``)."""
        return self.root / "feedback.sqlite3"

    def for_articles(self, articles: Path) -> DataFolder:
        """A separate index for another articles folder (``citebot eval --articles``), named
        after the folder so that two folders never share one."""
        folder = articles.expanduser().resolve()
        key = hashlib.sha256(str(folder).encode()).hexdigest()[:12]
        return DataFolder(self.root / "eval" / f"{folder.name}-{key}")

    def remove_temporary_files(self) -> None:
        """Delete what a process killed while saving left (a save only counts once
        ``os.replace`` has moved it into place, so these are never read)."""
        for folder in (self.root, self.root / "cache"):
            for path in folder.glob(TEMPORARY_GLOB):
                path.unlink(missing_ok=True)


def sentence_id(passage_id: str, n: int) -> str:
    """The id of a passage's ``n``-th sentence."""
    return f"{passage_id}.{n}"


def sentence_ids(passage_id: str, count: int) -> list[str]:
    """The ids of all ``count`` sentences of a passage."""
    return [sentence_id(passage_id, n) for n in range(count)]


def sentence_number(sentence: str) -> int:
    """A sentence's place in its passage (0 for the first), from its id."""
    return int(sentence.rpartition(".")[2] or 0)


def passage_of(sentence: str) -> str:
    """The passage a sentence id belongs to."""
    return sentence.rpartition(".")[0]


def atomic_write(path: Path, data: bytes | Callable[[BinaryIO], object]) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half.

    The bytes go to a dot-named temporary file beside ``path`` (ignored by the articles
    scan and the folder watcher), are flushed to disk, then moved into place. ``data`` may
    be a function that writes them to the file it is given, so that a large file is never
    whole in memory.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            if callable(data):
                data(handle)
            else:
                handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
