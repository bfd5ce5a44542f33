"""What an indexing run will do, decided before it does anything: a pure plan.

Given what the index holds (its catalog of article entries), the article files
on disk and the articles read from the files that changed, :func:`plan_index`
says which articles are added, changed, removed, unchanged or skipped, and which
passages to embed, which stored ones to reuse and which to delete. Nothing here
touches the disk, the store or the model, so every rule is tested directly;
:class:`retrieval.indexer.Indexer` carries the plan out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from retrieval.articles import ArticleFile
from retrieval.catalog import ArticleEntry
from retrieval.models import Article, Chunk


@dataclass(frozen=True)
class ArticleUpdate:
    """A new or changed article, read and cut into passages."""

    article: Article
    chunks: list[Chunk]


@dataclass
class IndexPlan:
    """What a run does: articles by fate, and passages to embed, reuse and delete."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    #: The new or changed articles; their catalog entries are written once the passages are stored.
    updates: list[ArticleUpdate] = field(default_factory=list)
    #: New passages: their sentences are embedded and both are stored.
    embed: list[tuple[Article, Chunk]] = field(default_factory=list)
    #: Passages already stored with every sentence (same id, so same text): only their
    #: metadata is rewritten, for the article's new version.
    reuse: list[tuple[Article, Chunk]] = field(default_factory=list)
    #: Stored passages no article keeps.
    delete: list[str] = field(default_factory=list)
    #: ``{passage id: sentences}`` known from the catalog for passages kept from an old version.
    sentence_counts: dict[str, int] = field(default_factory=dict)

    @property
    def writes(self) -> bool:
        """Whether carrying the plan out changes anything in the store or the catalog."""
        return bool(self.updates or self.removed or self.delete)


def files_to_read(entries: Mapping[str, ArticleEntry], files: Iterable[ArticleFile]) -> list[ArticleFile]:
    """The files whose content is not what the catalog says is indexed."""
    return [f for f in files if (entry := entries.get(f.source_id)) is None or entry.sha256 != f.sha256]


def plan_index(
    entries: Mapping[str, ArticleEntry],
    files: Iterable[ArticleFile],
    read: Mapping[str, ArticleUpdate | str],
    leftover: Iterable[str] = (),
    skipped: Mapping[str, str] | None = None,
) -> IndexPlan:
    """Decide what an indexing run does.

    Args:
        entries: what the index holds, by source id.
        files: every article file on disk.
        read: for each file :func:`files_to_read` named, the article read from it, or
            why it was skipped.
        leftover: passages an interrupted run stored that no entry lists (complete
            with their sentences): reused when wanted, deleted otherwise.
        skipped: files the scan skipped before reading, with the reason.

    Returns:
        The plan. An article that turned unreadable keeps its last good version.
    """
    plan = IndexPlan(skipped=dict(skipped or {}))
    on_disk = {f.source_id for f in files}
    for name in set(plan.skipped) & set(entries):
        # The file is still there, only unreadable now (its permissions, its size): like one
        # that turned bad, it keeps the version indexed rather than being removed.
        plan.skipped[name] += kept_note(entries[name])
        on_disk.add(name)
    for file in files:
        entry = entries.get(file.source_id)
        outcome = read.get(file.source_id)
        if outcome is None or (entry is not None and entry.sha256 == file.sha256):
            plan.unchanged.append(file.source_id)
        elif isinstance(outcome, str):
            # Counted once, as skipped; an indexed article keeps its last good version.
            plan.skipped[file.source_id] = outcome + (kept_note(entry) if entry is not None else "")
        else:
            (plan.changed if entry is not None else plan.added).append(file.source_id)
            plan.updates.append(outcome)
    plan.removed = sorted(set(entries) - on_disk)

    wanted = [(u.article, c) for u in plan.updates for c in u.chunks]
    wanted_ids = {c.id for _, c in wanted}
    replaced = {
        c for u in plan.updates if u.article.source_id in entries for c in entries[u.article.source_id].chunks
    }
    stored = replaced | set(leftover)
    plan.embed = [(a, c) for a, c in wanted if c.id not in stored]
    plan.reuse = [(a, c) for a, c in wanted if c.id in stored]
    gone = {c for name in plan.removed for c in entries[name].chunks}
    plan.delete = sorted((stored - wanted_ids) | gone)
    for update in plan.updates:
        old = entries.get(update.article.source_id)
        if old is not None and len(old.sentences) == len(old.chunks):
            plan.sentence_counts.update(zip(old.chunks, old.sentences))
    return plan


def kept_note(entry: ArticleEntry) -> str:
    """What a skip reason adds for an article whose indexed version stays."""
    when = f" on {entry.indexed_at[:10]}" if entry.indexed_at else ""
    return f"; the version indexed{when} stays"
