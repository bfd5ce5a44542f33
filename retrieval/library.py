"""What one process holds of one library, derived from Chroma and kept current.

A :class:`LibraryView` is an immutable snapshot: the library's catalog, the passages
a search may show (those of the catalog's entries), their languages and sentence
counts, and a BM25 index built from the rows the catalog entries carry (no word is
tokenised to build it). :func:`load_view` builds one from the store, starting from
this process's cache file when it has one; :func:`refresh_view` brings a view to a
newer generation by reading only the catalog records written since. Searches keep
using the old snapshot until the new one is swapped in.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from retrieval.catalog import ArticleEntry, Catalog
from retrieval.lexical import LexicalIndex, Row, unpack_rows
from retrieval.ranking import IndexView
from retrieval.registry import LibraryRecord
from retrieval.store import LibraryStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LibraryView:
    """One library as this process last read it."""

    name: str
    record: LibraryRecord
    catalog: Catalog = field(default_factory=Catalog)
    lexical: LexicalIndex = field(default_factory=LexicalIndex)
    passages: frozenset[str] = frozenset()
    view: IndexView = field(default_factory=lambda: IndexView({}, {}))
    #: ``{passage id: its article's publication date, Unix seconds}`` (dated articles only),
    #: what a date filter keeps BM25 candidates by.
    dates: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, record: LibraryRecord, catalog: Catalog, lexical: LexicalIndex) -> LibraryView:
        return cls(
            record.name,
            record,
            catalog,
            lexical,
            frozenset(catalog.chunk_ids()),
            IndexView(catalog.sentence_counts(), catalog.chunk_languages()),
            catalog.chunk_dates(),
        )

    @property
    def generation(self) -> int:
        return self.record.generation


def load_view(store: LibraryStore, record: LibraryRecord, cache: Path | None) -> LibraryView:
    """The library as stored now, from this process's cache plus what changed since, or
    from the store alone when there is no usable cache."""
    if cache is not None:
        cached = _read_cache(cache, record)
        if cached is not None:
            try:
                return refresh_view(cached, store, record)
            except ValueError as error:
                log.info("cache of %s not used (%s); rebuilding it from the store", record.name, error)
    catalog = Catalog(store.catalog().entries)
    # Words last: every entry read above refers only to words stored before it.
    view = LibraryView.of(record, catalog, catalog_index(catalog, store.terms(0), name=record.name))
    if cache is not None:
        save_cache(view, cache)
    return view


def refresh_view(current: LibraryView, store: LibraryStore, record: LibraryRecord) -> LibraryView:
    """``current`` brought to ``record``'s generation: the catalog records written since
    ``current`` was read, the rows of their passages, and the words added since.

    Raises:
        ValueError: ``current`` is of another incarnation of the library (rebuilt since).
    """
    if current.record.epoch != record.epoch or current.record.identity != record.identity:
        raise ValueError("the library was rebuilt since")
    if record.generation == current.generation and not record.dirty:
        return current if current.record == record else LibraryView(**{**current.__dict__, "record": record})
    changes = store.catalog(since=current.generation)
    entries = dict(current.catalog.entries)
    gone: set[str] = set()
    for name in changes.removed | changes.entries.keys():
        old = entries.pop(name, None)
        if old is not None:
            gone.update(old.chunks)
    entries.update(changes.entries)
    rows = entry_rows(changes.entries, record.name)
    # Words last: every row read above refers only to words stored before it.
    terms = store.terms(len(current.lexical.terms))
    lexical = current.lexical.copy()
    kept = {c for e in entries.values() for c in e.chunks}
    lexical.apply(rows, remove=gone - kept, terms=terms)
    return LibraryView.of(record, Catalog(entries), lexical)


def entry_rows(entries: Mapping[str, ArticleEntry], name: str = "") -> dict[str, Row]:
    """``{passage id: BM25 row}`` of the entries' passages; an entry whose rows cannot be
    read leaves its passages to be found by meaning only (logged)."""
    rows: dict[str, Row] = {}
    for source_id, entry in entries.items():
        try:
            unpacked = unpack_rows(entry.rows)
        except ValueError as error:
            log.warning("%s: %s has no usable BM25 rows (%s)", name, source_id, error)
            continue
        if len(unpacked) != len(entry.chunks):
            log.warning(
                "%s: %s has %d BM25 rows for %d passages", name, source_id, len(unpacked), len(entry.chunks)
            )
            continue
        rows.update(zip(entry.chunks, unpacked))
    return rows


def catalog_index(catalog: Catalog, terms: Sequence[str], name: str = "") -> LexicalIndex:
    """The BM25 index of a catalog's passages, from the rows its entries carry."""
    lexical = LexicalIndex()
    lexical.apply(entry_rows(catalog.entries, name), terms=terms)
    return lexical


def save_cache(view: LibraryView, path: Path) -> None:
    """Keep ``view``'s BM25 index in this process's data folder (plain arrays and JSON)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "library": view.name,
            "epoch": view.record.epoch,
            "identity": view.record.identity,
            "generation": view.generation,
            "catalog": {name: entry.to_json() for name, entry in view.catalog.entries.items()},
        }
        view.lexical.save(path, meta)
    except OSError as error:
        log.warning("could not keep a cache of %s in %s: %s", view.name, path.parent, error)


def _read_cache(path: Path, record: LibraryRecord) -> LibraryView | None:
    loaded = LexicalIndex.load(path)
    if loaded is None:
        return None
    lexical, meta = loaded
    if meta.get("epoch") != record.epoch or meta.get("identity") != record.identity:
        return None
    generation = meta.get("generation")
    catalog = meta.get("catalog")
    if not isinstance(generation, int) or generation > record.generation or not isinstance(catalog, dict):
        return None
    try:
        entries = {str(name): ArticleEntry.from_json(data) for name, data in catalog.items()}
    except (ValueError, AttributeError):
        return None
    cached = LibraryRecord(**{**record.__dict__, "generation": generation, "dirty": False})
    return LibraryView.of(cached, Catalog(entries), lexical)
