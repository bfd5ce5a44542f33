"""The feeds subscribed to, and what each one's polls left behind, kept in the data folder.

One JSON file, ``feeds.json``, rewritten whole through
:func:`retrieval.layout.atomic_write`: a crash leaves the old file or the new one,
never half of one. A lock
file serialises edits (``citebot feeds add`` and the bot's ``/feeds`` may run at the
same time), and a second one keeps two polls from downloading the same items.

The polling logic sees only :class:`SubscriptionStore`'s four methods, so the
subscriptions can live elsewhere without touching it: citebot itself keeps them in
Chroma, next to the index (:mod:`retrieval.subscriptions`); this file-backed store
serves a feed folder without an index (and the ingest tests).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

from filelock import FileLock, Timeout

from retrieval.errors import FeedError
from retrieval.layout import atomic_write

FORMAT_VERSION = 1
FILE_NAME = "feeds.json"
#: How long an edit waits for another one to finish before giving up.
EDIT_LOCK_SECONDS = 30.0


@dataclass
class Subscription:
    """One feed and the state of its polls.

    Attributes:
        url: the feed's address, as added (tracking parameters removed).
        title: the feed's title, updated on each successful poll.
        added_at: when it was added, ISO 8601 in UTC.
        etag: the last response's ETag, sent back as ``If-None-Match``.
        last_modified: the last response's Last-Modified, sent back as ``If-Modified-Since``.
        last_polled: when it was last polled (successfully or not).
        next_poll: when it is next due; None: due now.
        errors: consecutive failed polls (they lengthen the wait before the next one).
        last_error: the last poll's error, None when it succeeded.
        interval_minutes: this feed's own polling interval; None: the default.
        seen: keys (short hashes) of the items already handled, newest last, bounded.
        versions: for the items handled, a short hash of what says they changed (their
            headline and text in the feed), to save a corrected story again.
        tries: the items left for the next poll (their page was down), and how many polls
            tried them.
    """

    url: str
    title: str
    added_at: str
    etag: str | None = None
    last_modified: str | None = None
    last_polled: str | None = None
    next_poll: str | None = None
    errors: int = 0
    last_error: str | None = None
    interval_minutes: float | None = None
    seen: list[str] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    tries: dict[str, int] = field(default_factory=dict)

    def to_json(self, *, with_seen: bool = False) -> dict[str, Any]:
        """The subscription as JSON; the seen item keys and versions only when asked for
        (they are many)."""
        data = asdict(self)
        if not with_seen:
            del data["seen"], data["versions"], data["tries"]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Subscription:
        """Read one subscription back; unknown keys (from a newer version) are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})


class SubscriptionStore(Protocol):
    """Where subscriptions live. :class:`FeedRegistry` keeps them in a JSON file,
    :class:`retrieval.subscriptions.StoredSubscriptions` in Chroma."""

    def load(self) -> dict[str, Subscription]:
        """Every subscription, by URL."""
        ...

    def save(self, feeds: Mapping[str, Subscription]) -> None:
        """Replace every subscription with ``feeds``."""
        ...

    def editing(self) -> AbstractContextManager[dict[str, Subscription]]:
        """Load, let the caller change the dict, save: with no other edit in between."""
        ...

    def polling(self) -> AbstractContextManager[None]:
        """Held for a whole poll; raises :class:`FeedError` if another poll holds it."""
        ...


class FeedRegistry:
    """Subscriptions in ``DATA_DIR/feeds.json``.

    Args:
        data_dir: the data folder (created on the first save).
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.path = data_dir / FILE_NAME

    def load(self) -> dict[str, Subscription]:
        """Every subscription, by URL; none when the file does not exist yet.

        Raises:
            FeedError: the file exists but cannot be read (it is never overwritten then).
        """
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as error:
            raise FeedError(f"cannot read {self.path} ({error.strerror or error})") from None
        try:
            data = json.loads(raw)
            if data.get("version") != FORMAT_VERSION:
                raise ValueError(f"version {data.get('version')!r}, expected {FORMAT_VERSION}")
            feeds = [Subscription.from_json(entry) for entry in data["feeds"]]
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise FeedError(f"{self.path} is damaged ({error}); fix or remove it") from None
        return {feed.url: feed for feed in feeds}

    def save(self, feeds: Mapping[str, Subscription]) -> None:
        """Write every subscription, atomically."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        data = {
            "version": FORMAT_VERSION,
            "feeds": [
                feed.to_json(with_seen=True) for feed in sorted(feeds.values(), key=lambda f: f.added_at)
            ],
        }
        atomic_write(self.path, json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8"))

    @contextmanager
    def editing(self) -> Iterator[dict[str, Subscription]]:
        """Load, yield the subscriptions to change in place, save when the block ends.

        Nothing is saved when the block raises.

        Raises:
            FeedError: another edit held the lock for too long.
        """
        self.data_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.data_dir / "feeds.lock"), timeout=EDIT_LOCK_SECONDS)
        try:
            lock.acquire()
        except Timeout:
            raise FeedError("the feed list is busy (another edit is under way); try again") from None
        try:
            feeds = self.load()
            yield feeds
            self.save(feeds)
        finally:
            lock.release()

    @contextmanager
    def polling(self) -> Iterator[None]:
        """Held for a whole poll, so that two polls never fetch the same items.

        Raises:
            FeedError: another poll (the bot's, or another ``citebot feeds poll``) is running.
        """
        self.data_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.data_dir / "feeds-poll.lock"), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise FeedError("feeds are being polled already (by the bot or another command)") from None
        try:
            yield
        finally:
            lock.release()
