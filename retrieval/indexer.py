"""Incremental indexing: embed only what is new or changed, delete what is gone.

Articles are compared with the manifest by content hash. Chunk ids derive from
content, so in a changed article only the passages whose text changed are
embedded again. Vectors and the lexical index are written first and the
manifest last: a run cut short is finished by the next one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from config import Settings
from retrieval.articles import ArticleFile, ArticleSkipped, read_article, scan_folder
from retrieval.chunking import chunk_article, sentence_units
from retrieval.embedding import Embedder
from retrieval.lexical import LexicalIndex
from retrieval.manifest import ArticleEntry, Manifest
from retrieval.models import Article, Chunk, IndexReport
from retrieval.store import ChunkStore

log = logging.getLogger(__name__)

#: ``progress(done, total)`` in chunks embedded; called once with ``(0, total)`` first.
Progress = Callable[[int, int], None]
EMBED_BATCH = 16  # passages per encoder round (about 80 sentences)
#: Present while a run may have written vectors the manifest does not describe yet.
DIRTY_MARKER = "index.dirty"


@dataclass(frozen=True)
class _Pending:
    article: Article
    chunks: list[Chunk]


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
    batch: list[tuple[Article, Chunk]], store: ChunkStore, embedder: Embedder, report: IndexReport, context: str
) -> dict[str, int]:
    """Embed the sentences of a batch of passages and store both.

    Passages are matched by their sentences; a passage's own vector is the
    normalised mean of its sentences' vectors, so it costs no extra encoding.
    """
    per_chunk = {c.id: sentence_units(c.text, embedder.count_tokens) for _, c in batch}
    units = [
        (c.id, f"{c.id}.{n}", text, a.title) for a, c in batch for n, text in enumerate(per_chunk[c.id])
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


def run_index(
    settings: Settings,
    articles_dir: Path,
    get_store: Callable[[], ChunkStore],
    lexical: LexicalIndex,
    manifest_path: Path,
    get_embedder: Callable[[], Embedder],
    model_identity: str,
    rebuild: bool = False,
    progress: Progress | None = None,
) -> tuple[IndexReport, Manifest]:
    """Bring the index in line with ``articles_dir``; the caller holds the write lock."""
    started = time.perf_counter()
    report = IndexReport()
    _remove_temporary_files(manifest_path.parent)
    manifest = Manifest.load(manifest_path)
    # Files whose size and times match the manifest keep their hash without being read.
    known = manifest.known_files() if manifest is not None and not rebuild else None
    files, report.skipped = scan_folder(articles_dir, settings.max_article_bytes, known)

    dirty = manifest_path.with_name(DIRTY_MARKER)
    if (
        not rebuild
        and manifest is not None
        and manifest.model == model_identity
        and not dirty.exists()
        and {f.source_id: f.sha256 for f in files} == {n: e.sha256 for n, e in manifest.articles.items()}
        # A lexical index that is missing or unreadable (cut short, deleted) is rebuilt from the store.
        and lexical.ids == manifest.chunk_ids()
    ):
        # Nothing to do, and the last run finished: no need to even open the store.
        if _restamp(manifest, files):
            manifest.save(manifest_path)  # touched but unchanged files: not hashed again next time
        if lexical.outdated:
            lexical.save()  # read from an older format: write it in the current one once
        report.unchanged = sorted(manifest.articles)
        report.seconds = time.perf_counter() - started
        return report, manifest

    interrupted = dirty.exists()
    dirty.touch()
    store = get_store()
    stored_model = store.model_identity()
    other_model = (manifest is not None and manifest.model != model_identity) or stored_model not in (
        None, model_identity,
    )
    if rebuild or other_model:
        if manifest is not None and manifest.model and manifest.model != model_identity:
            log.warning("index was built as %s; rebuilding it as %s", manifest.model, model_identity)
        report.rebuilt = rebuild or manifest is not None or stored_model is not None
        store.drop()
        lexical.clear()
        manifest = Manifest(model=model_identity)
    elif manifest is None:
        # No manifest (a first run that was killed, or an unreadable file) but vectors of
        # this model: keep them; passages still wanted are reused below, the rest deleted.
        lexical.clear()
        manifest = Manifest(model=model_identity)
        interrupted = True
    store.open(model_identity)
    leftover = _reconcile(store, lexical, manifest, thorough=interrupted)

    on_disk = {f.source_id: f for f in files}
    pending: list[_Pending] = []
    for source_id, file in on_disk.items():
        entry = manifest.articles.get(source_id)
        if entry is not None and entry.sha256 == file.sha256:
            report.unchanged.append(source_id)
            continue
        try:
            article = read_article(file, settings.max_article_bytes)
        except ArticleSkipped as why:
            report.skipped[source_id] = str(why)
            if entry is not None:
                report.unchanged.append(source_id)  # keep the last good version
            continue
        chunks = chunk_article(
            article, get_embedder().count_tokens, settings.chunk_tokens, settings.chunk_overlap_tokens
        )
        (report.changed if entry is not None else report.added).append(source_id)
        pending.append(_Pending(article, chunks))
    report.removed = sorted(set(manifest.articles) - set(on_disk))
    for name, reason in report.skipped.items():
        log.warning("skipped %s: %s", name, reason)

    new_chunks = [(p.article, c) for p in pending for c in p.chunks]
    old_of_changed = {c for p in pending if p.article.source_id in manifest.articles for c in manifest.articles[p.article.source_id].chunks}
    # Passages an interrupted run stored completely are kept rather than embedded again.
    reusable = {c.id for _, c in new_chunks} & (old_of_changed | leftover)
    to_embed = [(a, c) for a, c in new_chunks if c.id not in reusable]

    counts: dict[str, int] = {}
    for name in {p.article.source_id for p in pending} & set(manifest.articles):
        old = manifest.articles[name]
        if len(old.sentences) == len(old.chunks):
            counts.update(zip(old.chunks, old.sentences))
    if progress:
        progress(0, len(to_embed))
    for start in range(0, len(to_embed), EMBED_BATCH):
        batch = to_embed[start : start + EMBED_BATCH]
        counts.update(_embed_batch(batch, store, get_embedder(), report, settings.sentence_context))
        if progress:
            progress(report.chunks_embedded, len(to_embed))

    reused = [(a, c) for a, c in new_chunks if c.id in reusable]
    if reused:
        store.update_metadata([c.id for _, c in reused], [chunk_metadata(a, c) for a, c in reused])
    new_ids = {c.id for _, c in new_chunks}
    stale = (old_of_changed - new_ids) | (leftover - new_ids) | {
        c for name in report.removed for c in manifest.articles[name].chunks
    }
    if stale:
        store.delete(sorted(stale))
        report.chunks_deleted = len(stale)

    if pending or stale:
        lexical.update(
            add={c.id: (c.text, a.language) for a, c in new_chunks if c.id not in lexical},
            remove=stale,
        )
        lexical.save()

    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for name in report.removed:
        del manifest.articles[name]
    for item in pending:
        a = item.article
        manifest.articles[a.source_id] = ArticleEntry(
            sha256=a.sha256, title=a.title, language=a.language,
            chunks=[c.id for c in item.chunks], indexed_at=now, url=a.url,
            sentences=[
                counts[c.id] if c.id in counts else len(sentence_units(c.text, get_embedder().count_tokens))
                for c in item.chunks
            ],
        )
    _restamp(manifest, files)
    manifest.save(manifest_path)
    dirty.unlink(missing_ok=True)
    report.seconds = time.perf_counter() - started
    return report, manifest


def _remove_temporary_files(data_dir: Path) -> None:
    """Delete what a process killed while saving the manifest or BM25 left (never read: a
    save only counts once ``os.replace`` has moved it into place)."""
    for pattern in (".manifest-*.tmp", ".lexical-*.tmp"):
        for path in data_dir.glob(pattern):
            path.unlink(missing_ok=True)


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
