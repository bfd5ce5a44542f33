"""The manifest: which article versions are indexed, with which chunks and model.

Written last in an indexing run, through a temporary file and ``os.replace``, so
that a crash leaves either the old manifest or the new one, never half of one.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from retrieval.layout import atomic_write

FORMAT_VERSION = 1


@dataclass
class ArticleEntry:
    """One indexed article."""

    sha256: str
    title: str
    language: str
    chunks: list[str]
    indexed_at: str
    url: str | None = None
    #: the file's size and times when it was hashed (see ``articles.scan_folder``).
    stamp: str = ""
    #: how many sentences each passage is matched by, aligned with ``chunks``.
    sentences: list[int] = field(default_factory=list)


@dataclass
class Manifest:
    """Everything the index holds, by source id."""

    model: str = ""
    articles: dict[str, ArticleEntry] = field(default_factory=dict)

    @property
    def chunk_count(self) -> int:
        return sum(len(entry.chunks) for entry in self.articles.values())

    def known_files(self) -> dict[str, tuple[str, str]]:
        """``{source id: (stamp, sha256)}``: what ``scan_folder`` needs to skip re-hashing."""
        return {name: (entry.stamp, entry.sha256) for name, entry in self.articles.items()}

    def sentence_counts(self) -> dict[str, int]:
        """``{passage id: number of sentences}``; empty if an article predates the counts."""
        counts: dict[str, int] = {}
        for entry in self.articles.values():
            if len(entry.sentences) != len(entry.chunks):
                return {}
            counts.update(zip(entry.chunks, entry.sentences))
        return counts

    def chunk_languages(self) -> dict[str, str]:
        """``{passage id: language of its article}``."""
        return {chunk: entry.language for entry in self.articles.values() for chunk in entry.chunks}

    def chunk_ids(self) -> set[str]:
        return {chunk for entry in self.articles.values() for chunk in entry.chunks}

    @classmethod
    def load(cls, path: Path) -> Manifest | None:
        """The saved manifest, or None when there is none or it cannot be read."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("version") != FORMAT_VERSION:
                return None
            articles = {name: ArticleEntry(**entry) for name, entry in data["articles"].items()}
            return cls(model=str(data["model"]), articles=articles)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def save(self, path: Path) -> None:
        data = {
            "version": FORMAT_VERSION,
            "model": self.model,
            "articles": {name: asdict(entry) for name, entry in sorted(self.articles.items())},
        }
        atomic_write(path, json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8"))
