"""The writer's news feeds: subscriptions kept in Chroma, a library each, and polls into its folder.

Subscriptions live in one small collection of the store (:func:`retrieval.layout.feeds_collection`),
a record per feed and library: the JSON of its :class:`~retrieval.ingest.registry.Subscription`
(ETag, next poll, errors, the items already handled) as the document, its library and
address as metadata. A library may also have one settings record there (:func:`settings_id`):
the channel where a bot announces the articles its feeds bring. Everything else the
writer needs is in the store already, so a writer that moves to another machine, or starts
with an empty data folder, keeps its feeds, and a read-only replica can list them. Only the
writer changes them: adding, removing and polling take the writer lease
(:meth:`retrieval.service.Retriever.writing`), which keeps every other process out; within
the writer, one lock serialises edits and one per library keeps two polls of it apart.

:class:`LibraryFeeds` is what the command line and the bot use. Polls save new items into
the library's articles folder (:meth:`~retrieval.service.Retriever.articles_folder`); the
caller indexes the library afterwards, as :mod:`retrieval.ingest.feeds` leaves indexing to it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from retrieval.chroma import Chroma
from retrieval.errors import FeedError, ReadOnlyError
from retrieval.ingest.feeds import AddedFeed, FeedOptions, Feeds, PollReport
from retrieval.ingest.registry import Subscription
from retrieval.layout import BASE_LIBRARY, feeds_collection

if TYPE_CHECKING:
    from retrieval.service import Retriever

log = logging.getLogger(__name__)

READ_ONLY = (
    "this citebot is read-only (CITEBOT_READ_ONLY=true): feeds are added, removed and polled "
    "where the writer runs (`citebot feeds` there, or the writing bot's /feeds)"
)


class StoredSubscriptions:
    """One library's feed subscriptions in Chroma: the ``SubscriptionStore`` that
    :class:`~retrieval.ingest.feeds.Feeds` reads and writes.

    Args:
        chroma: the connection.
        prefix: the settings' collection prefix.
        library: the library whose feeds these are.
        edit_lock: held for each load-change-save (shared by every library of the process).
        poll_lock: held for a whole poll of this library.
    """

    def __init__(
        self,
        chroma: Chroma,
        prefix: str,
        library: str,
        edit_lock: threading.Lock,
        poll_lock: threading.Lock,
    ) -> None:
        self.chroma = chroma
        self.name = feeds_collection(prefix)
        self.library = library
        self._edit_lock = edit_lock
        self._poll_lock = poll_lock

    def load(self) -> dict[str, Subscription]:
        """Every subscription of the library, by URL.

        Raises:
            FeedError: a record cannot be read (it is never overwritten then).
        """
        collection = self.chroma.existing(self.name)
        if collection is None:
            return {}
        feeds: dict[str, Subscription] = {}
        for page in self.chroma.pages(collection, ["documents"], where={"library": self.library}):
            for record, document in zip(page["ids"], page["documents"]):
                if record == settings_id(self.library):
                    continue
                try:
                    feed = Subscription.from_json(json.loads(document or ""))
                except (ValueError, TypeError) as error:
                    raise FeedError(
                        f"the subscription {record} in {self.name} is damaged ({error}); remove it"
                    ) from None
                feeds[feed.url] = feed
        return feeds

    def save(self, feeds: Mapping[str, Subscription]) -> None:
        """Make the library's subscriptions ``feeds``: write each, delete the others."""
        collection = self.chroma.open(self.name)
        ids = [record_id(self.library, url) for url in feeds]
        stale = set(self._ids(collection)) - set(ids)
        if ids:
            self.chroma.upsert(
                collection,
                ids,
                None,
                [json.dumps(feed.to_json(with_seen=True), ensure_ascii=False) for feed in feeds.values()],
                [{"library": self.library, "url": url} for url in feeds],
            )
        if stale:
            self.chroma.delete(collection, sorted(stale))

    @contextmanager
    def editing(self) -> Iterator[dict[str, Subscription]]:
        """Load, yield the subscriptions to change in place, save when the block ends
        (nothing is saved when it raises)."""
        with self._edit_lock:
            feeds = self.load()
            yield feeds
            self.save(feeds)

    @contextmanager
    def polling(self) -> Iterator[None]:
        """Held for a whole poll of the library.

        Raises:
            FeedError: another poll of it is running in this process.
        """
        if not self._poll_lock.acquire(blocking=False):
            raise FeedError(f"the feeds of {self.library} are being polled already")
        try:
            yield
        finally:
            self._poll_lock.release()

    def announce_channel(self) -> int | None:
        """The channel where the library's new feed articles are announced; None: nowhere."""
        collection = self.chroma.existing(self.name)
        if collection is None:
            return None
        result = self.chroma.call(collection.get, ids=[settings_id(self.library)], include=["metadatas"])
        if not result["ids"]:
            return None
        value = str((result["metadatas"][0] or {}).get("announce_channel") or "")
        return int(value) if value.isdigit() else None

    def set_announce_channel(self, channel: int | None) -> None:
        """Announce the library's new feed articles in ``channel``; None: nowhere."""
        record = settings_id(self.library)
        if channel is None:
            collection = self.chroma.existing(self.name)
            if collection is not None:
                self.chroma.delete(collection, [record])
            return
        metadata = {"library": self.library, "kind": SETTINGS_KIND, "announce_channel": str(channel)}
        self.chroma.upsert(self.chroma.open(self.name), [record], None, ["{}"], [metadata])

    def _ids(self, collection: Any) -> list[str]:
        return [
            i
            for page in self.chroma.pages(collection, [], where={"library": self.library})
            for i in page["ids"]
            if i != settings_id(self.library)
        ]


def record_id(library: str, url: str) -> str:
    """A subscription's record id: its library and a digest of its address."""
    return f"{library}:{hashlib.sha256(url.encode('utf-8')).hexdigest()[:24]}"


#: The ``kind`` of a library's settings record, beside its subscriptions.
SETTINGS_KIND = "settings"


def settings_id(library: str) -> str:
    """The id of a library's settings record (no digest of an address looks like it)."""
    return f"{library}:settings"


class LibraryFeeds:
    """The feeds of every library, as the writer keeps them.

    Args:
        retriever: the retrieval service: its store, settings, articles folders and writer lease.
        clock: the present, in UTC (tests move it); the clock by default.
    """

    def __init__(self, retriever: Retriever, *, clock: Callable[[], datetime] | None = None) -> None:
        self.retriever = retriever
        self.options = FeedOptions.from_settings(retriever.settings)
        self.clock = clock
        self._edit_lock = threading.Lock()
        self._poll_locks: dict[str, threading.Lock] = {}

    def feeds(self, library: str = BASE_LIBRARY) -> Feeds:
        """The feed logic (:class:`~retrieval.ingest.feeds.Feeds`) over one library's subscriptions."""
        store = self._stored(library)
        if self.clock is None:
            return Feeds(store, self.options)
        return Feeds(store, self.options, clock=self.clock)

    async def add(self, url: str, library: str = BASE_LIBRARY) -> AddedFeed:
        """Subscribe ``library`` to the feed at ``url``, after reading it once; nothing is
        saved unless it is a feed. Its items come with the next poll.

        Raises:
            ReadOnlyError: this process is read-only.
            FeedError: not a feed, unreachable, refused, or subscribed to already.
            IndexBusyError: another process is the writer.
        """
        feeds = self.feeds(library)
        async with self._writing():
            return await feeds.add(url)

    def list(self, library: str = BASE_LIBRARY) -> list[Subscription]:
        """A library's subscriptions, oldest first (a read-only process may list them)."""
        return self.feeds(library).list()

    def remove(self, url: str, library: str = BASE_LIBRARY) -> Subscription:
        """Unsubscribe ``library`` from a feed; the articles it brought stay.

        Raises:
            ReadOnlyError: this process is read-only.
            FeedError: the library has no feed at this address.
        """
        feeds = self.feeds(library)
        self._check_writable()
        with self.retriever.writing():
            return feeds.remove(url)

    async def poll(self, library: str = BASE_LIBRARY, *, force: bool = False) -> PollReport:
        """Poll the library's feeds that are due (every one with ``force``) and save their
        new items into its articles folder; index the library afterwards.

        Raises:
            ReadOnlyError: this process is read-only.
            FeedError: another poll of the library is running.
        """
        feeds = self.feeds(library)
        async with self._writing():
            return await feeds.poll(self.retriever.articles_folder(library), force=force)

    def announce_channel(self, library: str = BASE_LIBRARY) -> int | None:
        """The channel (a Discord id) where the library's new feed articles are announced, if any."""
        return self._stored(library).announce_channel()

    def set_announce_channel(self, channel: int | None, library: str = BASE_LIBRARY) -> None:
        """Announce the library's new feed articles in ``channel`` (None: nowhere).

        Raises:
            ReadOnlyError: this process is read-only.
            IndexBusyError: another process is the writer.
        """
        stored = self._stored(library)
        self._check_writable()
        with self.retriever.writing(), self._edit_lock:
            stored.set_announce_channel(channel)

    def libraries(self) -> list[str]:
        """The libraries that have feeds, the base library first."""
        collection = self.retriever.chroma.existing(feeds_collection(self.retriever.settings.collection))
        if collection is None:
            return []
        names = {
            str((meta or {}).get("library", ""))
            for page in self.retriever.chroma.pages(collection, ["metadatas"])
            for meta in page["metadatas"]
            if (meta or {}).get("kind") != SETTINGS_KIND
        }
        names.discard("")
        return sorted(names, key=lambda name: (name != BASE_LIBRARY, name))

    def next_poll_at(self) -> datetime | None:
        """When the next feed of any library is due (a past time if one is overdue); None without feeds."""
        times = [when for name in self.libraries() if (when := self.feeds(name).next_poll_at()) is not None]
        return min(times) if times else None

    def _stored(self, library: str) -> StoredSubscriptions:
        from retrieval.service import check_library

        name = check_library(library)
        return StoredSubscriptions(
            self.retriever.chroma,
            self.retriever.settings.collection,
            name,
            self._edit_lock,
            self._poll_locks.setdefault(name, threading.Lock()),
        )

    def _check_writable(self) -> None:
        if self.retriever.read_only:
            raise ReadOnlyError(READ_ONLY)

    def _writing(self) -> _AsyncWriting:
        self._check_writable()
        return _AsyncWriting(self.retriever)


class _AsyncWriting:
    """The writer lease held for an ``async with`` block, taken and given back off the event loop."""

    def __init__(self, retriever: Retriever) -> None:
        self.retriever = retriever
        self._stack: ExitStack | None = None

    async def __aenter__(self) -> None:
        self._stack = await asyncio.to_thread(self.retriever.writing)

    async def __aexit__(self, *exc: object) -> None:
        if self._stack is not None:
            await asyncio.to_thread(self._stack.close)
