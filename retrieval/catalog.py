"""The catalog: which article versions a library holds, with their passages and metadata.

One :class:`ArticleEntry` per article, stored as a record of the library's
``-articles`` collection in Chroma (see :mod:`retrieval.store`): the entry as JSON in
the record's document, its generation in the metadata (what a process that follows
the library asks for). Every process reads the same catalog from the store and none
needs a file of another's. An entry carries its passages' BM25 rows, packed, so the
catalog is all a process reads to rebuild BM25. It is written once the article's
passages and sentences are stored: it is what makes them visible to searches. A
removed article leaves a tombstone (a record marked removed, with the generation of
the run that removed it) so that processes following the library learn of it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from retrieval.metadata import date_timestamp


@dataclass
class ArticleEntry:
    """One indexed article version."""

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
    published: str | None = None
    author: str | None = None
    site: str | None = None
    #: the run (library generation) that wrote this version.
    generation: int = 0
    #: the BM25 rows of ``chunks``, in order (:func:`retrieval.lexical.pack_rows`).
    rows: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def to_record(self) -> tuple[str, dict[str, Any]]:
        """As a Chroma record: the entry as JSON (the document) and what is filtered on."""
        return json.dumps(self.to_json(), ensure_ascii=False), {
            "generation": self.generation,
            "removed": False,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ArticleEntry:
        """Read back :meth:`to_json`; raises ValueError on anything else."""
        try:
            names = {item.name for item in fields(cls)}
            return cls(**{key: value for key, value in data.items() if key in names})
        except (TypeError, AttributeError) as error:
            raise ValueError(f"not a catalog entry ({error})") from None


def tombstone(generation: int) -> dict[str, Any]:
    """The metadata of a removed article's record."""
    return {"removed": True, "generation": generation}


@dataclass
class Catalog:
    """A library's live entries, by source id."""

    entries: dict[str, ArticleEntry] = field(default_factory=dict)

    @property
    def chunk_count(self) -> int:
        return sum(len(entry.chunks) for entry in self.entries.values())

    def known_files(self) -> dict[str, tuple[str, str]]:
        """``{source id: (stamp, sha256)}``: what ``scan_folder`` needs to skip re-hashing."""
        return {name: (entry.stamp, entry.sha256) for name, entry in self.entries.items()}

    def sentence_counts(self) -> dict[str, int]:
        """``{passage id: number of sentences}``; empty if an article predates the counts."""
        counts: dict[str, int] = {}
        for entry in self.entries.values():
            if len(entry.sentences) != len(entry.chunks):
                return {}
            counts.update(zip(entry.chunks, entry.sentences))
        return counts

    def chunk_languages(self) -> dict[str, str]:
        """``{passage id: language of its article}``."""
        return {chunk: entry.language for entry in self.entries.values() for chunk in entry.chunks}

    def chunk_dates(self) -> dict[str, int]:
        """``{passage id: its article's publication date, Unix seconds}`` for dated articles."""
        dates: dict[str, int] = {}
        for entry in self.entries.values():
            stamp = date_timestamp(entry.published)
            if stamp is not None:
                dates.update(dict.fromkeys(entry.chunks, stamp))
        return dates

    def chunk_ids(self) -> set[str]:
        return {chunk for entry in self.entries.values() for chunk in entry.chunks}
