"""The retrieval service as the bot sees it: async, off the event loop, one writer at a time.

Every call into :class:`retrieval.service.Retriever` (the model, Chroma, BM25) runs in a
worker thread through :func:`asyncio.to_thread`, so the gateway heartbeat and other
users' questions never wait on it. Reindexes (from /reindex, /add, the folder watcher and
feed polls) are serialised by one :class:`asyncio.Lock`; searches do not take it, since the
retriever is safe to search while it indexes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from config import Settings
from retrieval.dates import DateRange
from retrieval.ingest.feeds import AddedFeed, PollReport
from retrieval.ingest.registry import Subscription
from retrieval.layout import BASE_LIBRARY
from retrieval.models import Answer, IndexReport, SourceInfo
from retrieval.service import Retriever
from retrieval.subscriptions import LibraryFeeds

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

    Each Discord server reads the base library (the operator's articles folder) and
    its own library; its admins' ``/add`` and ``/reindex`` write its own library,
    except in the servers ``CITEBOT_ADMIN_GUILD_IDS`` lists, which write the base one.

    Args:
        retriever: the service (a writer, or a read-only replica).
    """

    def __init__(self, retriever: Retriever) -> None:
        self.retriever = retriever
        #: The news feeds of every library (kept in the store; changed by the writer only).
        self.feeds = LibraryFeeds(retriever)
        self._index_lock = asyncio.Lock()
        self._facts: dict[str | None, IndexFacts] = {}
        self.reindex_count = 0

    @property
    def settings(self) -> Settings:
        return self.retriever.settings

    @property
    def read_only(self) -> bool:
        return self.retriever.read_only

    @property
    def articles_dir(self) -> Path:
        return self.retriever.settings.articles_dir

    def library_for(self, guild_id: int | None) -> str | None:
        """The library a server reads besides the base one and writes: its own, or None
        (the base library) in direct messages and in the admin servers."""
        if guild_id is None or guild_id in self.settings.admin_guild_ids:
            return None
        return f"guild-{guild_id}"

    def articles_folder(self, library: str | None) -> Path:
        """Where articles added to a library are saved."""
        return self.retriever.articles_folder(library or BASE_LIBRARY)

    async def passage_texts(self, passage_ids: Sequence[str], library: str | None = None) -> dict[str, str]:
        """``{passage id: text}`` of those passages still in the index (an answer's buttons
        show them again; a passage removed or changed since is missing)."""
        chunks = await asyncio.to_thread(partial(self.retriever.passages, list(passage_ids), library=library))
        return {chunk.id: chunk.text for chunk in chunks}

    async def ask(
        self,
        question: str,
        k: int | None = None,
        library: str | None = None,
        *,
        previous: Sequence[str] | None = None,
        dates: DateRange | None = None,
    ) -> tuple[Answer, IndexFacts]:
        """The answer to ``question`` (a follow-up of ``previous``, oldest first) from the base
        library and ``library``, among the articles published within ``dates`` (all by
        default), and the facts for the footer."""
        bounds = dates.moments() if dates is not None else {}
        search = partial(self.retriever.search, question, k, library=library, previous=previous, **bounds)
        answer = await asyncio.to_thread(search)
        return answer, await self.facts(library)

    async def sources(self, library: str | None = None) -> list[SourceInfo]:
        return await asyncio.to_thread(partial(self.retriever.sources, library=library))

    async def facts(self, library: str | None = None) -> IndexFacts:
        """Articles, passages, last indexed: cached until the next reindex."""
        if library not in self._facts:
            self._facts[library] = IndexFacts.from_sources(await self.sources(library))
        return self._facts[library]

    async def reindex(self, reason: str, library: str | None = None) -> IndexReport:
        """Bring a library in line with its articles folder (incremental), one run at a time."""
        async with self._index_lock:
            started = time.perf_counter()
            folder = self.articles_folder(library)
            if library is not None:
                await asyncio.to_thread(partial(folder.mkdir, parents=True, exist_ok=True))
            report = await asyncio.to_thread(
                partial(self.retriever.index, folder, library=library, background=True)
            )
            self._facts.clear()
            self.reindex_count += 1
            log.info(
                "reindex of %s (%s): %d added, %d changed, %d removed, %d unchanged, %d skipped in %.2f s",
                library or BASE_LIBRARY,
                reason,
                len(report.added),
                len(report.changed),
                len(report.removed),
                len(report.unchanged),
                len(report.skipped),
                time.perf_counter() - started,
            )
            return report

    async def remove_library(self, library: str) -> None:
        """Delete a server's library with its feeds and saved articles (after any run of it)."""
        async with self._index_lock:
            await asyncio.to_thread(partial(self.retriever.remove_library, library))
            self._facts.clear()
            log.info("library %s removed", library)

    # --- news feeds ----------------------------------------------------------------------

    async def add_feed(self, url: str, library: str | None) -> AddedFeed:
        """Subscribe a library (None: the base one) to a feed; its items come with the next poll."""
        return await self.feeds.add(url, library or BASE_LIBRARY)

    async def list_feeds(self, library: str | None) -> list[Subscription]:
        return await asyncio.to_thread(partial(self.feeds.list, library or BASE_LIBRARY))

    async def remove_feed(self, url: str, library: str | None) -> Subscription:
        return await asyncio.to_thread(partial(self.feeds.remove, url, library or BASE_LIBRARY))

    async def announce_channel(self, library: str | None) -> int | None:
        """Where a library's new feed articles are announced (a channel id), if anywhere."""
        return await asyncio.to_thread(partial(self.feeds.announce_channel, library or BASE_LIBRARY))

    async def set_announce_channel(self, channel: int | None, library: str | None) -> None:
        await asyncio.to_thread(partial(self.feeds.set_announce_channel, channel, library or BASE_LIBRARY))

    async def poll_feeds(self, library: str) -> tuple[PollReport, list[SourceInfo]]:
        """Poll a library's feeds that are due, index what they brought, and return the poll's
        report with the articles it brought that are now indexed (in the order saved)."""
        report = await self.feeds.poll(library)
        if not report.added and not report.revised:
            return report, []
        await self.reindex("feeds", None if library == BASE_LIBRARY else library)
        # Whoever indexed them (this reindex, or the folder watcher's before it), they are in
        # the catalog now, unless the indexer skipped them.
        held = {s.source_id: s for s in await self.sources(library) if s.library == library}
        return report, [held[name] for name in report.added if name in held]

    @property
    def indexing(self) -> bool:
        return self._index_lock.locked()
