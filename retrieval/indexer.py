"""Incremental indexing: embed only what is new or changed, delete what is gone.

An :class:`Indexer` run scans the articles folder, reads the files whose content
hash differs from the manifest's, lets :func:`retrieval.plan.plan_index` decide
what to embed, reuse and delete, and carries that out. Chunk ids derive from
content, so in a changed article only the passages whose text changed are
embedded again. Vectors and the lexical index are written first and the
manifest last: a run cut short is finished by the next one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from config import Settings
from retrieval.articles import ArticleFile, ArticleSkipped, read_article, scan_folder
from retrieval.chunking import chunk_article, sentence_units
from retrieval.embedding import Embedder
from retrieval.layout import DataFolder, sentence_id
from retrieval.lexical import LexicalIndex
from retrieval.manifest import ArticleEntry, Manifest
from retrieval.models import Article, Chunk, IndexReport
from retrieval.plan import ArticleUpdate, IndexPlan, files_to_read, plan_index
from retrieval.store import ChunkStore

log = logging.getLogger(__name__)

#: ``progress(done, total)`` in chunks embedded; called once with ``(0, total)`` first.
Progress = Callable[[int, int], None]
EMBED_BATCH = 16  # passages per encoder round (about 80 sentences)


def chunk_metadata(article: Article, chunk: Chunk) -> dict[str, Any]:
    return {
        "source_id": article.source_id,
        "source": article.citation_source,
        "title": article.title,
        "language": article.language,
        "location": chunk.location,
        "position": chunk.position,
        "article_sha256": article.sha256,
    }


def _embed_batch(
    batch: list[tuple[Article, Chunk]],
    store: ChunkStore,
    embedder: Embedder,
    report: IndexReport,
    context: str,
) -> dict[str, int]:
    """Embed the sentences of a batch of passages and store both.

    Passages are matched by their sentences; a passage's own vector is the
    normalised mean of its sentences' vectors, so it costs no extra encoding.
    """
    per_chunk = {c.id: sentence_units(c.text, embedder.count_tokens) for _, c in batch}
    units = [
        (c.id, sentence_id(c.id, n), text, a.title)
        for a, c in batch
        for n, text in enumerate(per_chunk[c.id])
    ]
    distinct = list(dict.fromkeys(text for _, _, text, _ in units))
    titles = {text: title for _, _, text, title in units}
    inputs = [f"{titles[t]}: {t}" for t in distinct] if context == "title" else distinct
    vectors = np.asarray(embedder.embed_passages(inputs), dtype=np.float32)
    by_text = dict(zip(distinct, vectors))
    unit_vectors = np.stack([by_text[u[2]] for u in units])
    store.upsert_sentences([u[1] for u in units], unit_vectors, [u[2] for u in units], [u[0] for u in units])
    chunk_vectors = []
    for _, chunk in batch:
        mean = np.mean([by_text[text] for text in per_chunk[chunk.id]], axis=0)
        chunk_vectors.append(mean / max(float(np.linalg.norm(mean)), 1e-12))
    store.upsert(
        [c.id for _, c in batch],
        np.stack(chunk_vectors).astype(np.float32),
        [c.text for _, c in batch],
        [chunk_metadata(a, c) for a, c in batch],
    )
    report.chunks_embedded += len(batch)
    report.sentences_embedded += len(distinct)
    return {chunk_id: len(texts) for chunk_id, texts in per_chunk.items()}


class Indexer:
    """Brings the index in line with an articles folder; the caller holds the write lock.

    Args:
        settings: chunking and size limits.
        folder: the data folder (manifest, lexical index, dirty marker).
        store: gives the Chroma store, connected only when there is something to write.
        lexical: the BM25 index, kept in step with the store.
        embedder: gives the model, loaded only when there is something to embed.
        model_identity: what the vectors are made with; another one rebuilds the index.
    """

    def __init__(
        self,
        settings: Settings,
        folder: DataFolder,
        store: Callable[[], ChunkStore],
        lexical: LexicalIndex,
        embedder: Callable[[], Embedder],
        model_identity: str,
    ) -> None:
        self.settings = settings
        self.folder = folder
        self._store = store
        self.lexical = lexical
        self._embedder = embedder
        self.model_identity = model_identity

    def run(
        self, articles_dir: Path, rebuild: bool = False, progress: Progress | None = None
    ) -> tuple[IndexReport, Manifest]:
        """Index ``articles_dir`` incrementally (or from scratch with ``rebuild``).

        Returns:
            The report and the manifest now on disk.
        """
        started = time.perf_counter()
        self.folder.remove_temporary_files()
        manifest = Manifest.load(self.folder.manifest)
        # Files whose size and times match the manifest keep their hash without being read.
        known = manifest.known_files() if manifest is not None and not rebuild else None
        files, skipped = scan_folder(articles_dir, self.settings.max_article_bytes, known)
        if not rebuild and manifest is not None and self._up_to_date(manifest, files):
            # Nothing to do, and the last run finished: no need to even open the store.
            if _restamp(manifest, files):
                manifest.save(self.folder.manifest)  # touched but unchanged files: not hashed again next time
            if self.lexical.outdated:
                self.lexical.save()  # read from an older format: write it in the current one once
            report = IndexReport(unchanged=sorted(manifest.articles), skipped=skipped)
            report.seconds = time.perf_counter() - started
            return report, manifest

        interrupted = self.folder.dirty.exists()
        self.folder.dirty.touch()
        report = IndexReport()
        store = self._store()
        manifest, interrupted = self._open(store, manifest, rebuild, interrupted, report)
        leftover = _reconcile(store, self.lexical, manifest, thorough=interrupted)
        read = {f.source_id: self._read(f) for f in files_to_read(manifest.articles, files)}
        plan = plan_index(manifest.articles, files, read, leftover, skipped)
        for name, reason in plan.skipped.items():
            log.warning("skipped %s: %s", name, reason)
        self._apply(plan, store, manifest, report, progress)
        _restamp(manifest, files)
        manifest.save(self.folder.manifest)
        self.folder.dirty.unlink(missing_ok=True)
        report.seconds = time.perf_counter() - started
        return report, manifest

    def _up_to_date(self, manifest: Manifest, files: list[ArticleFile]) -> bool:
        return (
            manifest.model == self.model_identity
            and not self.folder.dirty.exists()
            and {f.source_id: f.sha256 for f in files} == {n: e.sha256 for n, e in manifest.articles.items()}
            # A lexical index that is missing or unreadable (cut short, deleted) is rebuilt from the store.
            and self.lexical.ids == manifest.chunk_ids()
        )

    def _open(
        self,
        store: ChunkStore,
        manifest: Manifest | None,
        rebuild: bool,
        interrupted: bool,
        report: IndexReport,
    ) -> tuple[Manifest, bool]:
        """Open the store for this model, dropping it first for a rebuild or another model.

        Returns:
            The manifest to build on, and whether the store may hold what an interrupted
            run left (then it is reconciled thoroughly).
        """
        stored_model = store.model_identity()
        other_model = (
            manifest is not None and manifest.model != self.model_identity
        ) or stored_model not in (
            None,
            self.model_identity,
        )
        if rebuild or other_model:
            if manifest is not None and manifest.model and manifest.model != self.model_identity:
                log.warning("index was built as %s; rebuilding it as %s", manifest.model, self.model_identity)
            report.rebuilt = rebuild or manifest is not None or stored_model is not None
            store.drop()
            self.lexical.clear()
            manifest = Manifest(model=self.model_identity)
        elif manifest is None:
            # No manifest (a first run that was killed, or an unreadable file) but vectors of
            # this model: keep them; passages still wanted are reused, the rest deleted.
            self.lexical.clear()
            manifest = Manifest(model=self.model_identity)
            interrupted = True
        store.open(self.model_identity)
        return manifest, interrupted

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

    def _apply(
        self,
        plan: IndexPlan,
        store: ChunkStore,
        manifest: Manifest,
        report: IndexReport,
        progress: Progress | None,
    ) -> None:
        """Carry out ``plan``: store new passages, then delete stale ones, then update the
        lexical index and the manifest (saved by the caller)."""
        report.added, report.changed, report.removed = plan.added, plan.changed, plan.removed
        report.unchanged, report.skipped = plan.unchanged, plan.skipped
        counts = dict(plan.sentence_counts)
        if progress:
            progress(0, len(plan.embed))
        for start in range(0, len(plan.embed), EMBED_BATCH):
            batch = plan.embed[start : start + EMBED_BATCH]
            counts.update(
                _embed_batch(batch, store, self._embedder(), report, self.settings.sentence_context)
            )
            if progress:
                progress(report.chunks_embedded, len(plan.embed))
        if plan.reuse:
            store.update_metadata(
                [c.id for _, c in plan.reuse], [chunk_metadata(a, c) for a, c in plan.reuse]
            )
        if plan.delete:
            store.delete(plan.delete)
            report.chunks_deleted = len(plan.delete)
        if plan.updates or plan.delete:
            self.lexical.update(
                add={
                    c.id: (c.text, u.article.language)
                    for u in plan.updates
                    for c in u.chunks
                    if c.id not in self.lexical
                },
                remove=plan.delete,
            )
            self.lexical.save()

        now = datetime.now(UTC).isoformat(timespec="seconds")
        for name in plan.removed:
            del manifest.articles[name]
        for update in plan.updates:
            a = update.article
            manifest.articles[a.source_id] = ArticleEntry(
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
            )


def _restamp(manifest: Manifest, files: list[ArticleFile]) -> bool:
    """Record the stamps of the files whose indexed version is their current one."""
    changed = False
    for file in files:
        entry = manifest.articles.get(file.source_id)
        if entry is not None and entry.sha256 == file.sha256 and entry.stamp != file.stamp:
            entry.stamp = file.stamp
            changed = True
    return changed


def _reconcile(store: ChunkStore, lexical: LexicalIndex, manifest: Manifest, thorough: bool) -> set[str]:
    """Repair what a crash may have left: chunks the manifest does not know, or lacks.

    Returns:
        The passages an interrupted run stored that the manifest does not list yet
        (with all their sentences: see ``ChunkStore.delete``); the caller reuses those
        it needs and deletes the rest.
    """
    expected = manifest.chunk_ids()
    if not (thorough or store.count() != len(expected) or lexical.ids != expected):
        return set()
    stored = store.all_ids()
    leftover = stored - expected
    if leftover:
        log.info("%d passages left by an interrupted run", len(leftover))
    stray = store.orphan_sentences(stored)
    if stray:
        store.delete_sentences(stray)
    missing = expected - stored
    for name in [n for n, e in manifest.articles.items() if set(e.chunks) & missing]:
        log.info("%s: chunks missing from the store; it will be indexed again", name)
        entry = manifest.articles[name]
        entry.sha256 = ""
        # Not reusable: the passages that are missing must be embedded again.
        kept = [n for n, c in enumerate(entry.chunks) if c not in missing]
        if len(entry.sentences) == len(entry.chunks):
            entry.sentences = [entry.sentences[n] for n in kept]
        entry.chunks = [entry.chunks[n] for n in kept]
    present = expected - missing
    if lexical.ids != present:
        chunks = store.get(sorted(present - lexical.ids))
        lexical.update(
            add={c.id: (c.text, str(c.metadata.get("language", "und"))) for c in chunks},
            remove=lexical.ids - present,
        )
        lexical.save()
    return leftover
