"""The retrieval service as the bot sees it: async, off the event loop, one writer at a time.

Every call into :class:`retrieval.service.Retriever` (the model, Chroma, BM25) runs in a
worker thread through :func:`asyncio.to_thread`, so the gateway heartbeat and other
users' questions never wait on it. Reindexes (from /reindex, /add and the folder
watcher) are serialised by one :class:`asyncio.Lock`; searches do not take it, since the
retriever is safe to search while it indexes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from config import Settings
from retrieval.models import Answer, IndexReport, SourceInfo
from retrieval.service import Retriever

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexFacts:
    """What the footer says about the index."""

    articles: int
    passages: int
    last_indexed: str  # ISO timestamp, "" when unknown

    @classmethod
    def from_sources(cls, sources: list[SourceInfo]) -> IndexFacts:
        return cls(
            articles=len(sources),
            passages=sum(s.chunks for s in sources),
            last_indexed=max((s.indexed_at for s in sources), default=""),
        )


class AnswerService:
    """Async façade over one :class:`Retriever`, owned by the bot process.

    Args:
        retriever: the service; the bot process is the only writer of its index.
    """

    def __init__(self, retriever: Retriever) -> None:
        self.retriever = retriever
        self._index_lock = asyncio.Lock()
        self._facts: IndexFacts | None = None
        self.reindex_count = 0

    @property
    def settings(self) -> Settings:
        return self.retriever.settings

    @property
    def articles_dir(self) -> Path:
        return self.retriever.settings.articles_dir

    async def ask(
        self, question: str, k: int | None = None, *, previous: Sequence[str] | None = None
    ) -> tuple[Answer, IndexFacts]:
        """The answer to ``question`` (a follow-up of ``previous``, oldest first) and the index
        facts for the footer."""
        answer = await asyncio.to_thread(self.retriever.search, question, k, previous=previous)
        return answer, await self.facts()

    async def passage_texts(self, passage_ids: Sequence[str]) -> dict[str, str]:
        """``{passage id: text}`` of those passages still in the index (an answer's buttons
        show them again; a passage removed or changed since is missing)."""
        chunks = await asyncio.to_thread(self.retriever.store.get, list(passage_ids))
        return {chunk.id: chunk.text for chunk in chunks}

    async def sources(self) -> list[SourceInfo]:
        return await asyncio.to_thread(self.retriever.sources)

    async def facts(self) -> IndexFacts:
        """Articles, passages, last indexed: cached until the next reindex."""
        if self._facts is None:
            self._facts = IndexFacts.from_sources(await self.sources())
        return self._facts

    async def reindex(self, reason: str) -> IndexReport:
        """Bring the index in line with the articles folder (incremental), one run at a time."""
        async with self._index_lock:
            started = time.perf_counter()
            report = await asyncio.to_thread(self.retriever.index)
            self._facts = None
            self.reindex_count += 1
            log.info(
                "reindex (%s): %d added, %d changed, %d removed, %d unchanged, %d skipped in %.2f s",
                reason,
                len(report.added),
                len(report.changed),
                len(report.removed),
                len(report.unchanged),
                len(report.skipped),
                time.perf_counter() - started,
            )
            return report

    @property
    def indexing(self) -> bool:
        return self._index_lock.locked()
