"""Incremental indexing of one library: embed only what is new or changed, delete what is gone.

An :class:`Indexer` run scans the articles folder, reads the files whose content
hash differs from the catalog's, lets :func:`retrieval.plan.plan_index` decide what
to embed, reuse and delete, checks that the plan removes no more than it should,
and carries it out. Chunk ids derive from content, so in a changed article only
the passages whose text changed are embedded again.

Everything lands in Chroma, in an order that makes a run cut short harmless: the
library's record says a run is under way (``dirty``); new words, then sentences,
then passages (with their BM25 rows) are stored; then the catalog entries that
make them visible; then stale passages are deleted; and last the record gets the
new generation, which tells other processes to catch up. The next run after a
crash reconciles the store with the catalog and reuses what was stored.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from config import Settings
from retrieval import threads
from retrieval.articles import ArticleFile, ArticleSkipped, read_article, scan_folder
from retrieval.catalog import ArticleEntry, Catalog
from retrieval.chunking import chunk_article, sentence_units
from retrieval.embedding import Embedder
from retrieval.errors import ArticlesDirError, MassRemovalError
from retrieval.layout import DataFolder, sentence_id
from retrieval.lexical import LexicalIndex, pack_rows
from retrieval.library import LibraryView, catalog_index
from retrieval.manifest import read_manifest
from retrieval.models import Article, Chunk, IndexReport
from retrieval.plan import ArticleUpdate, IndexPlan, files_to_read, kept_note, plan_index
from retrieval.registry import LibraryRecord, Registry
from retrieval.store import LibraryStore

log = logging.getLogger(__name__)

#: ``progress(done, total)`` in chunks embedded; called once with ``(0, total)`` first.
Progress = Callable[[int, int], None]
EMBED_BATCH = 16  # passages per encoder round (about 80 sentences)
#: A run that would remove more than this share of a library's articles asks for --prune.
MASS_REMOVAL = 0.5


#: The optional citation keys of a stored passage (absent when the article does not say).
CITATION_KEYS = ("url", "published", "author", "site", "published_ts")


def chunk_metadata(article: Article, chunk: Chunk) -> dict[str, Any]:
    """What a stored passage carries: its citation."""
    meta: dict[str, Any] = {
        "source_id": article.source_id,
        "source": article.citation_source,
        "title": article.title,
        "language": article.language,
        "location": chunk.location,
        "position": chunk.position,
        "article_sha256": article.sha256,
    }
    for key in ("url", "published", "author", "site"):
        value = getattr(article, key, None)
        if value:
            meta[key] = value
    stamp = getattr(article, "published_timestamp", None)
    if stamp is not None:
        meta["published_ts"] = stamp
    return meta


@dataclass
class _Run:
    """What one run works on."""

    store: LibraryStore
    record: LibraryRecord
    catalog: Catalog
    lexical: LexicalIndex  # a working copy: the view searches keep the old one until the run ends
    report: IndexReport


class Indexer:
    """Brings one library in line with an articles folder; the caller holds the writer lease.

    Args:
        settings: chunking and size limits.
        folder: this process's data folder (for a legacy manifest to migrate).
        registry: the store's library records.
        store: the library's collections.
        embedder: gives the model, loaded only when there is something to embed.
        model_identity: what the vectors are made with; another one rebuilds the library.
    """

    def __init__(
        self,
        settings: Settings,
        folder: DataFolder,
        registry: Registry,
        store: LibraryStore,
        embedder: Callable[[], Embedder],
        model_identity: str,
        background: bool = False,
    ) -> None:
        self.settings = settings
        self.folder = folder
        self.registry = registry
        self.store = store
        self._embedder = embedder
        self.model_identity = model_identity
        self.background = background

    def run(
        self,
        library: str,
        current: LibraryView | None,
        articles_dir: Path,
        rebuild: bool = False,
        prune: bool = False,
        progress: Progress | None = None,
    ) -> tuple[IndexReport, LibraryView]:
        """Index ``articles_dir`` into ``library`` incrementally (from scratch with ``rebuild``).

        Args:
            library: the library's name.
            current: the library as this process holds it (None when it has none yet).
            articles_dir: the folder to index.
            rebuild: drop the library and embed everything again.
            prune: allow a run that removes most (or all) of the library's articles.
            progress: called with ``(passages embedded, passages to embed)``.

        Returns:
            The report, and the library as it is now.

        Raises:
            ArticlesDirError: the folder is missing (and ``prune`` is not given).
            MassRemovalError: the run would remove more than half of the articles.
            StoreUnavailableError: the Chroma server is down.
        """
        started = time.perf_counter()
        self.folder.remove_temporary_files()
        record = self.registry.record(library)
        catalog = current.catalog if current is not None and record is not None else Catalog()
        if record is None and library == "base":
            record, catalog = self._migrate(library) or (None, catalog)
        files, skipped = self._scan(articles_dir, catalog if not rebuild else Catalog(), prune)
        if (
            record is not None
            and current is not None
            and not rebuild
            and self._up_to_date(record, catalog, files, skipped)
        ):
            # Nothing to do, and the last run finished: the embedding model is not even loaded.
            restamped = _restamp(catalog, files)
            if restamped:  # touched but unchanged files: not hashed again next time
                self.store.write_entries(restamped, (), record.generation)
            if self.store.vector_count() != catalog.chunk_count:  # an index written before them
                self.store.open(self.model_identity)
                _fill_vectors(self.store, catalog)
            skipped = {
                name: reason + (kept_note(catalog.entries[name]) if name in catalog.entries else "")
                for name, reason in skipped.items()
            }
            for name, reason in skipped.items():
                log.warning("skipped %s: %s", name, reason)
            report = IndexReport(unchanged=sorted(catalog.entries.keys() - skipped.keys()), skipped=skipped)
            report.seconds = time.perf_counter() - started
            log.info("%s: %d articles in %s, all indexed already", library, len(files), articles_dir)
            return report, current

        run = self._begin(library, record, catalog, current, rebuild, articles_dir)
        leftover = _reconcile(run.store, run.catalog, thorough=run.record.dirty or record is None)
        if run.store.vector_count() != run.catalog.chunk_count:
            _fill_vectors(run.store, run.catalog)
        read = {f.source_id: self._read(f) for f in files_to_read(run.catalog.entries, files)}
        plan = plan_index(run.catalog.entries, files, read, leftover, skipped)
        if not prune:
            _check_removals(plan, run.catalog, articles_dir)
        for name, reason in plan.skipped.items():
            log.warning("skipped %s: %s", name, reason)
        log.info(
            "%s from %s: %d added, %d changed, %d removed, %d unchanged; %d passages to embed, %d kept",
            library,
            articles_dir,
            len(plan.added),
            len(plan.changed),
            len(plan.removed),
            len(plan.unchanged),
            len(plan.embed),
            len(plan.reuse),
        )
        run.record.dirty = True
        self.registry.save(run.record)
        self._apply(plan, run, progress)
        restamped = _restamp(run.catalog, files)
        if restamped:
            self.store.write_entries(restamped, (), run.record.generation + 1)
        run.record.generation += 1
        run.record.dirty = False
        run.record.source = str(articles_dir.expanduser().resolve())
        run.record.articles = len(run.catalog.entries)
        run.record.passages = run.catalog.chunk_count
        self.registry.save(run.record)
        run.report.seconds = time.perf_counter() - started
        log.info(
            "%s: generation %d written (%d articles, %d passages) in %.1f s",
            library,
            run.record.generation,
            run.record.articles,
            run.record.passages,
            run.report.seconds,
        )
        return run.report, LibraryView.of(run.record, run.catalog, run.lexical)

    def _scan(
        self, articles_dir: Path, catalog: Catalog, prune: bool
    ) -> tuple[list[ArticleFile], dict[str, str]]:
        try:
            return scan_folder(articles_dir, self.settings.max_article_bytes, catalog.known_files())
        except ArticlesDirError as error:
            if catalog.entries:
                # A missing folder is a typo or an unmounted disk far more often than a wish to
                # empty the index, --prune or not: that is done with an empty folder.
                hint = (
                    ""
                    if articles_dir.exists()
                    else " (to empty the index, index an empty folder with --prune)"
                )
                raise ArticlesDirError(f"{error}; nothing was changed{hint}") from None
            raise

    def _up_to_date(
        self, record: LibraryRecord, catalog: Catalog, files: list[ArticleFile], skipped: Mapping[str, str]
    ) -> bool:
        """Whether the library is this model's, finished, and holds the files as they are;
        an indexed article the scan skipped (unreadable now) keeps its version, so counts as held."""
        held = {n: e.sha256 for n, e in catalog.entries.items()}
        on_disk = {f.source_id: f.sha256 for f in files}
        on_disk.update({name: held[name] for name in skipped if name in held})
        return record.identity == self.model_identity and not record.dirty and on_disk == held

    def _begin(
        self,
        library: str,
        record: LibraryRecord | None,
        catalog: Catalog,
        current: LibraryView | None,
        rebuild: bool,
        articles_dir: Path,
    ) -> _Run:
        """Open the library's collections for this model, dropping them first for a rebuild
        or another model, and start from what the store holds."""
        report = IndexReport()
        stored_model = record.identity if record is not None else self.store.model_identity()
        other_model = stored_model not in (None, self.model_identity)
        if rebuild or other_model:
            if other_model:
                log.warning(
                    "%s was indexed as %s; rebuilding it as %s", library, stored_model, self.model_identity
                )
            report.rebuilt = rebuild or stored_model is not None
            self.store.drop()
            generation = record.generation if record is not None else 0
            record = LibraryRecord(
                library, self.model_identity, epoch=uuid.uuid4().hex, generation=generation
            )
            catalog, lexical = Catalog(), LexicalIndex()
        elif record is None:
            # No record (a library never indexed, or an index from before records whose
            # manifest is gone): keep what is stored; passages still wanted are reused.
            record = LibraryRecord(library, self.model_identity, epoch=uuid.uuid4().hex, dirty=True)
            catalog, lexical = Catalog(), LexicalIndex()
        elif current is not None:
            lexical = current.lexical.copy()
        else:  # a library this process has not read yet (one just adopted from the earlier layout)
            lexical = catalog_index(catalog, self.store.terms(0))
        self.store.open(self.model_identity)
        # The vocabulary only grows, block after block: start from every word stored, even
        # those of a run that died before using them, so no block is ever written twice.
        lexical.apply({}, terms=self.store.terms(len(lexical.terms)))
        record.source = record.source or str(articles_dir.expanduser().resolve())
        return _Run(self.store, record, Catalog(dict(catalog.entries)), lexical, report)

    def _migrate(self, library: str) -> tuple[LibraryRecord, Catalog] | None:
        """Adopt an index written before the catalog moved into Chroma: its manifest's entries
        become catalog records and each passage gets its BM25 row, with no embedding."""
        legacy = read_manifest(self.folder.manifest)
        if legacy is None or not self.store.exists():
            return None
        model, entries = legacy
        if model != self.model_identity or self.store.model_identity() not in (None, model):
            return None
        log.warning(
            "moving the index in %s to the store's catalog (no passage is embedded again)", self.folder.root
        )
        self.store.open(model)
        stored = self.store.all_ids()
        lexical = LexicalIndex()
        chunks = self.store.get(sorted(stored))
        rows = lexical.update(
            {c.id: (c.text, str(c.metadata.get("language", "und"))) for c in chunks}, remove=()
        )
        self.store.append_terms(0, lexical.terms)
        for entry in entries.values():
            entry.generation = 1
            kept = [n for n, c in enumerate(entry.chunks) if c in rows]
            if len(kept) < len(entry.chunks):  # passages a crash lost: the article is read again
                entry.sha256 = ""
                entry.sentences = (
                    [entry.sentences[n] for n in kept] if len(entry.sentences) == len(entry.chunks) else []
                )
                entry.chunks = [entry.chunks[n] for n in kept]
            entry.rows = pack_rows([rows[c] for c in entry.chunks])
        self.store.write_entries(entries, (), 1)
        record = LibraryRecord(
            library,
            model,
            epoch=uuid.uuid4().hex,
            generation=1,
            source="",
            articles=len(entries),
            passages=sum(len(e.chunks) for e in entries.values()),
        )
        self.registry.save(record)
        self.folder.manifest.rename(self.folder.manifest.with_name("manifest.json.migrated"))
        self.folder.legacy_lexical.unlink(missing_ok=True)
        return record, Catalog(entries)

    def _read(self, file: ArticleFile) -> ArticleUpdate | str:
        """The article in ``file`` cut into passages, or why it cannot be indexed."""
        try:
            article = read_article(file, self.settings.max_article_bytes)
        except ArticleSkipped as why:
            return str(why)
        chunks = chunk_article(
            article,
            self._embedder().count_tokens,
            self.settings.chunk_tokens,
            self.settings.chunk_overlap_tokens,
        )
        return ArticleUpdate(article, chunks)

    def _apply(self, plan: IndexPlan, run: _Run, progress: Progress | None) -> None:
        """Carry out ``plan``: words, then passages, then the catalog entries that show
        them, then the deletions."""
        report, store = run.report, run.store
        report.added, report.changed, report.removed = plan.added, plan.changed, plan.removed
        report.unchanged, report.skipped = plan.unchanged, plan.skipped
        # BM25 rows first: their new words must be stored before any row that uses them.
        known = len(run.lexical.terms)
        wanted = {c.id: (c.text, a.language) for a, c in (*plan.embed, *plan.reuse)}
        rows = run.lexical.update(wanted, remove=plan.delete)
        store.append_terms(known, run.lexical.terms[known:])

        counts = dict(plan.sentence_counts)
        known = _earlier_vectors(plan, run.catalog, store, self.settings.sentence_context)
        if progress:
            progress(0, len(plan.embed))
        for start in range(0, len(plan.embed), EMBED_BATCH):
            batch = plan.embed[start : start + EMBED_BATCH]
            counts.update(
                _embed_batch(
                    batch,
                    store,
                    self._embedder(),
                    report,
                    self.settings.sentence_context,
                    self.background,
                    known,
                )
            )
            if progress:
                progress(report.chunks_embedded, len(plan.embed))
            log.info("embedded %d of %d passages", report.chunks_embedded, len(plan.embed))
        if plan.reuse:
            # Chroma merges metadata on update: a value the new version lacks is removed (None).
            cleared = dict.fromkeys(CITATION_KEYS)
            store.update_metadata(
                [c.id for _, c in plan.reuse], [{**cleared, **chunk_metadata(a, c)} for a, c in plan.reuse]
            )
            # Their sentences stay too: they take the article's date of this version, which
            # a date filter reads inside Chroma's query.
            by_stamp: dict[int | None, dict[str, int]] = {}
            for a, c in plan.reuse:
                count = counts.get(c.id) or len(sentence_units(c.text, self._embedder().count_tokens))
                by_stamp.setdefault(a.published_timestamp, {})[c.id] = count
            for stamp, reused in by_stamp.items():
                store.date_sentences(reused, stamp)

        generation = run.record.generation + 1
        now = datetime.now(UTC).isoformat(timespec="seconds")
        entries: dict[str, ArticleEntry] = {}
        for update in plan.updates:
            a = update.article
            entries[a.source_id] = ArticleEntry(
                sha256=a.sha256,
                title=a.title,
                language=a.language,
                chunks=[c.id for c in update.chunks],
                indexed_at=now,
                url=a.url,
                sentences=[
                    counts[c.id]
                    if c.id in counts
                    else len(sentence_units(c.text, self._embedder().count_tokens))
                    for c in update.chunks
                ],
                published=getattr(a, "published", None),
                author=getattr(a, "author", None),
                site=getattr(a, "site", None),
                generation=generation,
                rows=pack_rows([rows[c.id] for c in update.chunks]),
            )
        store.write_entries(entries, plan.removed, generation)
        for name in plan.removed:
            del run.catalog.entries[name]
        run.catalog.entries.update(entries)
        if plan.delete:
            store.delete(plan.delete)
            report.chunks_deleted = len(plan.delete)


def _earlier_vectors(
    plan: IndexPlan, catalog: Catalog, store: LibraryStore, context: str
) -> dict[str, np.ndarray]:
    """``{model input: vector}`` of the sentences of the earlier versions this run replaces
    (a changed article's) or renames (a removed article whose text an added one has): their
    sentences need no embedding again. Each input as :func:`_embed_batch` builds it."""
    if not plan.embed:
        return {}
    added = {u.article.sha256 for u in plan.updates if u.article.source_id in plan.added}
    counts: dict[str, int] = {}
    titles: dict[str, str] = {}
    for name in (*plan.changed, *plan.removed):
        entry = catalog.entries.get(name)
        if entry is None or len(entry.sentences) != len(entry.chunks):
            continue
        if name in plan.changed or entry.sha256 in added:
            counts.update(zip(entry.chunks, entry.sentences))
            titles.update(dict.fromkeys(entry.chunks, entry.title))
    if context != "title":
        return store.vectors_by_text(counts)
    known = {}
    for chunk_id, count in counts.items():  # the title is part of what was embedded
        for text, vector in store.vectors_by_text({chunk_id: count}).items():
            known[f"{titles[chunk_id]}: {text}"] = vector
    return known


def _embed_batch(
    batch: list[tuple[Article, Chunk]],
    store: LibraryStore,
    embedder: Embedder,
    report: IndexReport,
    context: str,
    background: bool = False,
    known: Mapping[str, np.ndarray] | None = None,
) -> dict[str, int]:
    """Embed the sentences of a batch of passages and store both (sentences first); with
    ``background``, in the thread of lower priority (:func:`_embedding`). A sentence whose
    model input is in ``known`` keeps that vector (see :func:`_earlier_vectors`)."""
    known = known or {}
    per_chunk = {c.id: sentence_units(c.text, embedder.count_tokens) for _, c in batch}
    units = [
        (c.id, sentence_id(c.id, n), text, a) for a, c in batch for n, text in enumerate(per_chunk[c.id])
    ]
    distinct = list(dict.fromkeys(text for _, _, text, _ in units))
    titles = {text: a.title for _, _, text, a in units}
    inputs = dict(zip(distinct, [f"{titles[t]}: {t}" for t in distinct] if context == "title" else distinct))
    new = [t for t in distinct if inputs[t] not in known]
    encoded: Any = []
    if new:
        wanted = [inputs[t] for t in new]
        encoded = (
            _embedding().submit(embedder.embed_passages, wanted).result()
            if background
            else embedder.embed_passages(wanted)
        )
    by_text = {t: known[inputs[t]] for t in distinct if inputs[t] in known}
    by_text.update(zip(new, np.asarray(encoded, dtype=np.float32)))
    sentence_meta = []
    for chunk_id, _, _, article in units:
        meta: dict[str, Any] = {"chunk_id": chunk_id}
        stamp = getattr(article, "published_timestamp", None)
        if stamp is not None:
            meta["published_ts"] = stamp  # so a date filter runs inside Chroma's query
        sentence_meta.append(meta)
    store.upsert_sentences(
        [u[1] for u in units], np.stack([by_text[u[2]] for u in units]), [u[2] for u in units], sentence_meta
    )
    store.copy_vectors({c.id: len(per_chunk[c.id]) for _, c in batch if per_chunk[c.id]})
    store.upsert(
        [c.id for _, c in batch],
        [c.text for _, c in batch],
        [chunk_metadata(a, c) for a, c in batch],
    )
    report.chunks_embedded += len(batch)
    report.sentences_embedded += len(new)
    return {chunk_id: len(texts) for chunk_id, texts in per_chunk.items()}


_embedding_thread: ThreadPoolExecutor | None = None
_embedding_lock = threading.Lock()


def _embedding() -> ThreadPoolExecutor:
    """The thread index runs embed in, at a lower priority: questions asked while the writer
    indexes (the bot, during a feed poll) keep the cores their own embedding needs."""
    global _embedding_thread
    with _embedding_lock:
        if _embedding_thread is None:
            _embedding_thread = ThreadPoolExecutor(1, "citebot-embed", initializer=threads.lowered)
        return _embedding_thread


def _check_removals(plan: IndexPlan, catalog: Catalog, articles_dir: Path) -> None:
    """Stop a run that would empty the library or remove most of it (a wrong folder, an
    unmounted disk) unless --prune says so."""
    held = len(catalog.entries)
    # A removed article whose text an added one has was renamed (or moved), not lost.
    added = {u.article.sha256 for u in plan.updates if u.article.source_id in plan.added}
    removed = [name for name in plan.removed if catalog.entries[name].sha256 not in added]
    if not held or not removed:
        return
    if len(removed) == held:
        raise MassRemovalError(
            f"{articles_dir} holds none of the {held} indexed articles; nothing was changed "
            "(pass --prune to remove them all)"
        )
    if len(removed) > MASS_REMOVAL * held:
        raise MassRemovalError(
            f"indexing {articles_dir} would remove {len(removed)} of the {held} indexed articles; "
            "nothing was changed (pass --prune to remove them)"
        )


def _restamp(catalog: Catalog, files: list[ArticleFile]) -> dict[str, ArticleEntry]:
    """Record the stamps of the files whose indexed version is their current one; the
    entries that changed."""
    changed: dict[str, ArticleEntry] = {}
    for file in files:
        entry = catalog.entries.get(file.source_id)
        if entry is not None and entry.sha256 == file.sha256 and entry.stamp != file.stamp:
            entry.stamp = file.stamp
            changed[file.source_id] = entry
    return changed


def _fill_vectors(store: LibraryStore, catalog: Catalog, batch: int = 500) -> None:
    """Give each passage of ``catalog`` its vector record, made from its sentences' stored
    vectors (no embedding), and remove the records of passages it does not list: an index
    written before the records, or a run interrupted between its writes."""
    missing, stray = store.missing_vectors(catalog.chunk_ids())
    if stray:
        store.delete_vectors(sorted(stray))
    counts = catalog.sentence_counts()
    todo = sorted(c for c in missing if c in counts)
    if todo:
        log.info("keeping the sentence vectors of %d passages in one record each", len(todo))
    for start in range(0, len(todo), batch):
        store.copy_vectors({c: counts[c] for c in todo[start : start + batch]})


def _reconcile(store: LibraryStore, catalog: Catalog, thorough: bool) -> set[str]:
    """Repair what a crash may have left: passages the catalog does not list, or lacks.

    Returns:
        The passages an interrupted run stored that the catalog does not list (with all
        their sentences: see ``LibraryStore.delete``); the caller reuses those it needs
        and deletes the rest.
    """
    expected = catalog.chunk_ids()
    if not (thorough or store.count() != len(expected)):
        return set()
    stored = store.all_ids()
    leftover = stored - expected
    if leftover:
        log.info("%d passages left by an interrupted run", len(leftover))
    stray = store.orphan_sentences(stored)
    if stray:
        store.delete_sentences(stray)
    missing = expected - stored
    for name in [n for n, e in catalog.entries.items() if set(e.chunks) & missing]:
        log.info("%s: chunks missing from the store; it will be indexed again", name)
        entry = catalog.entries[name]
        entry.sha256 = ""
        # Not reusable: the passages that are missing must be embedded again.
        kept = [n for n, c in enumerate(entry.chunks) if c not in missing]
        if len(entry.sentences) == len(entry.chunks):
            entry.sentences = [entry.sentences[n] for n in kept]
        entry.chunks = [entry.chunks[n] for n in kept]
    return leftover
