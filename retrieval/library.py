"""What one process holds of one library, derived from Chroma and kept current.

A :class:`LibraryView` is an immutable snapshot: the library's catalog, the passages
a search may show (those of the catalog's entries), their languages and sentence
counts, and a BM25 index built from the rows the catalog entries carry (no word is
tokenised to build it). :func:`load_view` builds one from the store, starting from
this process's cache file when it has one; :func:`refresh_view` brings a view to a
newer generation by reading only the catalog records written since. Searches keep
using the old snapshot until the new one is swapped in. :class:`Views` holds a
process's views of every library and swaps them, thread-safely.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from retrieval.catalog import ArticleEntry, Catalog
from retrieval.lexical import LexicalIndex, Row, Rows, unpack_block, unpack_rows
from retrieval.ranking import IndexView
from retrieval.registry import LibraryRecord, Registry
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
            IndexView(catalog.sentence_counts(), catalog.chunk_languages(), dates := catalog.chunk_dates()),
            dates,
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


def entry_block(entries: Mapping[str, ArticleEntry], name: str = "") -> Rows:
    """The BM25 rows of the entries' passages as one flat block, as :func:`entry_rows` reads
    them but without two arrays per passage (a whole catalog: 100k passages)."""
    parts = []
    for source_id, entry in entries.items():
        try:
            parts.append(unpack_block(entry.rows, entry.chunks))
        except ValueError as error:
            log.warning("%s: %s has no usable BM25 rows (%s)", name, source_id, error)
    block = Rows.joined(parts)
    if len(set(block.ids)) != len(block):  # a passage listed twice: the last row, as in a mapping
        return Rows.of(entry_rows(entries, name))
    return block


def catalog_index(catalog: Catalog, terms: Sequence[str], name: str = "") -> LexicalIndex:
    """The BM25 index of a catalog's passages, from the rows its entries carry."""
    lexical = LexicalIndex()
    lexical.apply(entry_block(catalog.entries, name), terms=terms)
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
            "catalog": view.catalog.entries,  # each entry's to_json(), written one by one
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


#: With a follower, a search reads the records itself once the follower has not read them
#: for this many ``refresh_seconds`` periods.
FOLLOWER_GRACE = 3


class Views:
    """This process's views of the libraries, current as of at most ``refresh_seconds`` ago.

    Thread-safe: searches read the views from any thread; one thread at a time brings a
    library up to date while the others wait for it; a writer publishes its new view
    when its run has finished. A long-running process (the bot) calls :meth:`follow`:
    a background thread then reads the records and brings the views up to date, and a
    search waits for neither.

    Args:
        registry: the libraries' records (called on first use: the connection is lazy).
        store_of: a library's collections.
        cache_of: a library's local BM25 cache file.
        refresh_seconds: how long the records read are trusted.
    """

    def __init__(
        self,
        registry: Callable[[], Registry],
        store_of: Callable[[str], LibraryStore],
        cache_of: Callable[[str], Path],
        refresh_seconds: float,
    ) -> None:
        self._registry = registry
        self._store_of = store_of
        self._cache_of = cache_of
        self._refresh_seconds = refresh_seconds
        self._views: dict[str, LibraryView] = {}
        self._records: dict[str, LibraryRecord] = {}
        self._checked_at = -float("inf")
        self._published: dict[str, float] = {}  # when this process last published each library
        self._load_lock = threading.Lock()
        self._lock = threading.RLock()
        self._follower: threading.Thread | None = None
        self._stop = threading.Event()  # the current follower's

    def known(self, name: str) -> bool:
        """Whether the records last read hold the library."""
        with self._lock:
            return name in self._records

    def poll(self) -> None:
        """Read the library records again when ``refresh_seconds`` have passed; a library
        that changed is brought up to date on its next use. While a follower keeps the
        views current, only when it has not managed to for ``FOLLOWER_GRACE`` periods (the
        store down, say: the search then meets the error itself)."""
        started = time.monotonic()
        trusted = self._refresh_seconds * (FOLLOWER_GRACE if self._follower is not None else 1)
        if started - self._checked_at < trusted:
            return
        records = self._registry().records()
        with self._lock:
            self._keep_published(records, started)
            self._records = records
            self._checked_at = time.monotonic()

    def get(self, name: str, refresh: bool = False) -> LibraryView | None:
        """The view of a library at its record's generation (its record read again first
        when ``refresh``); None when the store does not hold it."""
        if refresh:
            record = self._registry().record(name)
            with self._lock:
                if record is None:
                    self._records.pop(name, None)
                else:
                    self._records[name] = record
        with self._lock:
            record = self._records.get(name)
            current = self._views.get(name)
        if record is None:
            return None
        if current is not None and current.record == record:
            return current
        with self._load_lock:  # one thread brings a library up to date; the others wait for it
            with self._lock:
                current = self._views.get(name)
            if current is not None and current.record == record:
                return current
            view = self._brought_to(name, current, record)
            with self._lock:
                self._views[name] = view
            return view

    def _brought_to(self, name: str, current: LibraryView | None, record: LibraryRecord) -> LibraryView:
        store, cache = self._store_of(name), self._cache_of(name)
        try:
            return (
                refresh_view(current, store, record)
                if current is not None
                else load_view(store, record, cache)
            )
        except ValueError:  # rebuilt since this process read it
            return load_view(store, record, cache)

    def refresh(self) -> None:
        """Read the records, bring every view held up to date, and switch to them together.
        Searches meanwhile go on with the views they have; a library no search has read
        yet is loaded on its first use, as without a follower."""
        started = time.monotonic()
        records = self._registry().records()
        with self._load_lock:
            with self._lock:
                self._keep_published(records, started)
                held = dict(self._views)
            fresh = {
                name: self._brought_to(name, current, records[name])
                for name, current in held.items()
                if name in records and current.record != records[name]
            }
            with self._lock:
                for name in self._keep_published(records, started):  # a run that finished meanwhile
                    fresh.pop(name, None)
                self._views.update(fresh)
                self._records = records
                self._checked_at = time.monotonic()

    def _keep_published(self, records: dict[str, LibraryRecord], started: float) -> list[str]:
        """A run this process finished while the records were being read is newer than what
        was read: going back to it would show an answer without the new articles. Returns
        the libraries kept as published."""
        kept = [name for name, at in self._published.items() if at >= started and name in self._records]
        for name in kept:
            records[name] = self._records[name]
        return kept

    def forget(self, name: str) -> None:
        """Drop a removed library's view and record (read again on its next use)."""
        with self._lock:
            self._views.pop(name, None)
            self._records.pop(name, None)
            self._published.pop(name, None)

    def held(self, name: str) -> LibraryView | None:
        """The view of a library this process holds now, without reading anything."""
        with self._lock:
            return self._views.get(name)

    @property
    def following(self) -> bool:
        """Whether a follower keeps the views current."""
        follower = self._follower
        return follower is not None and follower.is_alive()

    def follow(self) -> None:
        """Keep the views current from a background thread, every ``refresh_seconds`` (at
        0, searches check for themselves). Calling it again changes nothing."""
        with self._lock:
            if self._follower is not None or self._refresh_seconds <= 0:
                return
            self._stop = threading.Event()
            self._follower = threading.Thread(
                target=self._follow, args=(self._stop,), name="citebot-views", daemon=True
            )
            self._follower.start()

    def stop_following(self) -> None:
        """End the follower (searches check the store for themselves again)."""
        with self._lock:
            follower, self._follower = self._follower, None
            self._stop.set()
        if follower is not None:
            follower.join(timeout=10)

    def _follow(self, stop: threading.Event) -> None:
        failing = False
        while not stop.wait(self._refresh_seconds):
            try:
                self.refresh()
            except Exception as error:  # noqa: BLE001 - the store down, or anything else: retried
                if not failing:
                    log.warning("could not check the store for changes (%s); retrying", error)
                failing = True
            else:
                if failing:
                    log.info("the store answers again; the views are current")
                failing = False

    def publish(self, view: LibraryView) -> None:
        """Use ``view`` from now on (a finished run's, written by this process)."""
        with self._lock:
            self._views[view.name] = view
            self._records[view.name] = view.record
            self._published[view.name] = time.monotonic()
