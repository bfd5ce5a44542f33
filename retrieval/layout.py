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
from dataclasses import dataclass
from pathlib import Path

#: What a process killed mid-save leaves (see :func:`atomic_write`); never read, removed by the next run.
TEMPORARY_GLOB = ".*.tmp"


@dataclass(frozen=True)
class DataFolder:
    """The files of one index under ``root`` (``CITEBOT_DATA_DIR``)."""

    root: Path

    @property
    def manifest(self) -> Path:
        """Which article versions are indexed, with which passages and model (written last)."""
        return self.root / "manifest.json"

    @property
    def lexical(self) -> Path:
        """The BM25 index."""
        return self.root / "lexical.pkl"

    @property
    def write_lock(self) -> Path:
        """Held by the one process that writes the index."""
        return self.root / "write.lock"

    @property
    def dirty(self) -> Path:
        """Present while a run may have written vectors the manifest does not describe yet."""
        return self.root / "index.dirty"

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
        for path in self.root.glob(TEMPORARY_GLOB):
            path.unlink(missing_ok=True)


def sentence_id(passage_id: str, n: int) -> str:
    """The id of a passage's ``n``-th sentence."""
    return f"{passage_id}.{n}"


def sentence_ids(passage_id: str, count: int) -> list[str]:
    """The ids of all ``count`` sentences of a passage."""
    return [sentence_id(passage_id, n) for n in range(count)]


def passage_of(sentence: str) -> str:
    """The passage a sentence id belongs to."""
    return sentence.rpartition(".")[0]


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half.

    The bytes go to a dot-named temporary file beside ``path`` (ignored by the articles
    scan and the folder watcher), are flushed to disk, then moved into place.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
