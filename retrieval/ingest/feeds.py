"""News that arrives by itself: subscriptions to RSS and Atom feeds, and polls that save new items.

A poll asks each feed that is due for what changed (a conditional GET), downloads the
page of each new item through the guarded fetcher, and saves it into the articles folder
with a sidecar ``NAME.meta.json`` carrying the citation's metadata: link, headline, date,
byline, outlet and the feed it came from. When the page cannot be had (refused, too
large, gone) or holds no article text, the feed's own content or summary is saved
instead, and the report says so.

One article, one copy: before anything is saved it is looked up by every address it was
reached by (tracking parameters off, see :mod:`retrieval.ingest.urls`), by the page's
canonical link, and by a hash of its text, among the articles already in the folder
(:mod:`retrieval.ingest.known`), whichever way they came. Nothing is ever deleted: an item
that leaves its feed stays in the archive.

Indexing is not done here; the caller runs the indexer after :meth:`Feeds.poll`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from retrieval.articles import ArticleSkipped, html_to_text, normalise_text
from retrieval.errors import FeedError
from retrieval.ingest.entries import FeedItem, discover_feed_links, parse_feed
from retrieval.ingest.fetch import (
    CONTENT_TYPES,
    FEED_ACCEPT,
    FEED_CONTENT_TYPES,
    USER_AGENT,
    Fetched,
    FetchError,
    fetch_page,
    fetch_url,
    name_for_url,
    safe_filename,
    save_article,
)
from retrieval.ingest.known import KnownArticles, text_sha256
from retrieval.ingest.registry import Subscription, SubscriptionStore
from retrieval.ingest.urls import clean_url, url_key
from retrieval.metadata import ArticleMetadata

log = logging.getLogger(__name__)

#: What a feed URL may answer with: feed types, and page types, as servers often mislabel feeds.
FEED_TYPES = {**FEED_CONTENT_TYPES, **CONTENT_TYPES}


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class FeedOptions:
    """Limits and timings of feed work. Field names follow the settings' names.

    Attributes:
        max_download_bytes: the largest feed or page downloaded.
        url_fetch_timeout: seconds for one download, redirects included.
        url_allowlist: hosts, addresses or networks that may be fetched although not
            public (the SSRF guard refuses them otherwise).
        feed_poll_minutes: how often a feed is polled (a subscription may set its own).
        feed_max_items_per_poll: new items taken from one feed in one poll, newest first;
            the rest wait for the next poll.
        feed_max_backoff_minutes: the longest wait after consecutive errors (the wait
            doubles with each: 2, 4, 8... times the interval).
        feed_seen_items: item keys remembered per feed.
        user_agent: the ``User-Agent`` of every request.
    """

    max_download_bytes: int = 5_000_000
    url_fetch_timeout: float = 15.0
    url_allowlist: tuple[str, ...] = ()
    feed_poll_minutes: float = 30.0
    feed_max_items_per_poll: int = 20
    feed_max_backoff_minutes: float = 24 * 60.0
    feed_seen_items: int = 1000
    user_agent: str = USER_AGENT

    def __post_init__(self) -> None:
        for name in (
            "max_download_bytes",
            "url_fetch_timeout",
            "feed_poll_minutes",
            "feed_max_items_per_poll",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.feed_seen_items < self.feed_max_items_per_poll:
            raise ValueError("feed_seen_items must be at least feed_max_items_per_poll")

    @classmethod
    def from_settings(cls, settings: object) -> FeedOptions:
        """Options from any object with attributes of these names (citebot's ``Settings``);
        a missing attribute keeps its default."""
        values: dict[str, Any] = {}
        for option in fields(cls):
            if hasattr(settings, option.name):
                values[option.name] = getattr(settings, option.name)
        if "url_allowlist" in values:
            values["url_allowlist"] = tuple(values["url_allowlist"])
        return cls(**values)


@dataclass(frozen=True)
class AddedFeed:
    """A feed just subscribed to: its address, its title, and how many items it holds now."""

    url: str
    title: str
    items: int

    def to_json(self) -> dict[str, object]:
        return {"url": self.url, "title": self.title, "items": self.items}


@dataclass
class FeedResult:
    """What one poll did with one feed: articles saved, or why the feed could not be read."""

    url: str
    title: str
    new: int = 0
    error: str | None = None

    def to_json(self) -> dict[str, object]:
        return {"url": self.url, "title": self.title, "new": self.new, "error": self.error}


@dataclass
class PollReport:
    """What a poll did.

    Attributes:
        feeds: one result per feed polled (feeds not yet due are not polled).
        added: the file names saved (the new articles' source ids), to index.
        revised: the file names saved again because their item changed (a correction, a
            new headline), to index as changed.
        errors: one line per problem: a feed that failed, an item saved from the feed's
            summary because its page could not be had, an item that could not be saved.
    """

    feeds: list[FeedResult] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    revised: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        """``{"feeds": [{"url", "title", "new", "error"}], "added": [...], "revised": [...],
        "errors": [...]}``."""
        return {
            "feeds": [f.to_json() for f in self.feeds],
            "added": list(self.added),
            "revised": list(self.revised),
            "errors": list(self.errors),
        }


@dataclass
class _Candidate:
    """An article ready to be saved, with everything needed to tell if it is already there."""

    data: bytes
    suffix: str
    url: str | None  # the address to cite
    links: list[str]  # every address it was reached by
    text_hash: str | None
    page: ArticleMetadata
    saved_from: str  # "page" or "feed"
    text: str = ""  # what will be indexed


@dataclass
class _Outcome:
    result: FeedResult
    saved: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)
    etag: str | None = None
    last_modified: str | None = None
    retry_after: float | None = None  # seconds the feed's server asked to wait
    versions: dict[str, str] = field(default_factory=dict)
    revised: list[str] = field(default_factory=list)
    tries: dict[str, int] = field(default_factory=dict)  # items left for the next poll, and how often


class Feeds:
    """The feeds subscribed to: add, list, remove, poll.

    Args:
        store: where subscriptions are kept (a :class:`~retrieval.ingest.registry.SubscriptionStore`:
            Chroma for citebot, see :mod:`retrieval.subscriptions`; or a JSON file).
        options: limits and timings; the defaults otherwise.
        clock: the present, in UTC (tests move it).
    """

    def __init__(
        self,
        store: SubscriptionStore,
        options: FeedOptions | None = None,
        *,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.store = store
        self.options = options or FeedOptions()
        self.clock = clock

    # --- the list ----------------------------------------------------------------------

    async def add(
        self, url: str, *, interval_minutes: float | None = None, discovered: bool = False
    ) -> AddedFeed:
        """Subscribe to the feed at ``url`` after reading it once.

        Nothing is saved unless the address answers with an RSS or Atom feed, or with a web
        page that names its feed (``<link rel="alternate">``): then that feed. Its items
        are fetched by the next poll.

        Args:
            url: the feed's address (tracking parameters are dropped), or a page naming it.
            interval_minutes: poll this feed this often instead of the default.
            discovered: ``url`` was named by a page (a second page is not followed).

        Returns:
            The feed's address as kept, its title and its number of items.

        Raises:
            FeedError: a bad address, one already in the list, a download that failed
                (HTTP error, refused address, too large, timeout), or a document that is
                not a feed or too broken to read.
        """
        address = _feed_address(url)
        if interval_minutes is not None and interval_minutes <= 0:
            raise FeedError("the polling interval must be positive")
        existing = _find(await asyncio.to_thread(self.store.load), address)
        if existing is not None:
            raise FeedError(f"already subscribed to {existing.url} ({existing.title})")
        try:
            fetched = await self._fetch_feed(address)
        except FetchError as error:
            raise FeedError(f"cannot add the feed: {error}") from None
        try:
            parsed = await asyncio.to_thread(
                parse_feed, fetched.data, fetched.url, fetched.content_type, fetched.charset
            )
        except FeedError:
            # A site's page that names its feed (<link rel="alternate">): that feed, once.
            found = (
                [] if discovered else await asyncio.to_thread(discover_feed_links, fetched.data, fetched.url)
            )
            if not found:
                raise
            log.info("%s is a page; subscribing to the feed it links to, %s", address, found[0])
            try:
                return await self.add(found[0], interval_minutes=interval_minutes, discovered=True)
            except FeedError as error:
                raise FeedError(
                    f"{address} is a web page that links to a feed at {found[0]}: {error}"
                ) from None
        title = parsed.title or urlsplit(address).hostname or address
        # No ETag kept yet: the first poll must get the items, not a 304.
        subscription = Subscription(
            url=address, title=title, added_at=_iso(self.clock()), interval_minutes=interval_minutes
        )
        await asyncio.to_thread(self._subscribe, subscription, fetched.url)
        log.info("feed added: %s (%s, %d items)", address, title, len(parsed.items))
        return AddedFeed(url=address, title=title, items=len(parsed.items))

    def _subscribe(self, subscription: Subscription, final_url: str) -> None:
        with self.store.editing() as feeds:
            existing = _find(feeds, subscription.url) or _find(feeds, final_url)
            if existing is not None:
                raise FeedError(f"already subscribed to {existing.url} ({existing.title})")
            feeds[subscription.url] = subscription

    def list(self) -> list[Subscription]:
        """Every subscription, oldest first. (Reads a file: off the event loop in async code.)"""
        return sorted(self.store.load().values(), key=lambda feed: feed.added_at)

    def remove(self, url: str) -> Subscription:
        """Unsubscribe from a feed; the articles it brought stay. (File work: call it off the event loop.)

        Raises:
            FeedError: no feed in the list has this address.
        """
        with self.store.editing() as feeds:
            found = _find(feeds, url)
            if found is None:
                raise FeedError(f"no feed {url.strip()} in the list")
            del feeds[found.url]
        log.info("feed removed: %s", found.url)
        return found

    def next_poll_at(self) -> datetime | None:
        """When the next feed is due (a past time if one is overdue); None without feeds."""
        times = [_when_due(feed) for feed in self.store.load().values()]
        return min(times) if times else None

    # --- polls -------------------------------------------------------------------------

    async def poll(self, articles_dir: Path, *, force: bool = False) -> PollReport:
        """Poll every feed that is due and save its new items into ``articles_dir``.

        Args:
            articles_dir: the articles folder.
            force: poll every feed now, due or not (backoff included).

        Returns:
            The report; its ``added`` are the files to index.

        Raises:
            FeedError: another poll is running, or the subscriptions cannot be read.
        """
        report = PollReport()
        with self.store.polling():
            now = self.clock()
            due = [feed for feed in await asyncio.to_thread(self.list) if force or _when_due(feed) <= now]
            if not due:
                return report
            known = await asyncio.to_thread(KnownArticles.from_folder, articles_dir)
            for subscription in due:
                outcome = await self._poll_feed(subscription, articles_dir, known)
                report.feeds.append(outcome.result)
                report.added.extend(outcome.saved)
                report.revised.extend(outcome.revised)
                if outcome.result.error:
                    report.errors.append(f"{subscription.url}: {outcome.result.error}")
                report.errors.extend(outcome.problems)
                # Saved feed by feed: a poll cut short keeps what it did.
                await asyncio.to_thread(self._record, subscription.url, outcome)
        return report

    async def _poll_feed(
        self, subscription: Subscription, articles_dir: Path, known: KnownArticles
    ) -> _Outcome:
        outcome = _Outcome(FeedResult(subscription.url, subscription.title))
        try:
            fetched = await self._fetch_feed(subscription.url, subscription.etag, subscription.last_modified)
            if fetched.not_modified:
                outcome.etag, outcome.last_modified = fetched.etag, fetched.last_modified
                return outcome
            parsed = await asyncio.to_thread(
                parse_feed, fetched.data, fetched.url, fetched.content_type, fetched.charset
            )
        except (FetchError, FeedError) as error:
            outcome.result.error = str(error)
            outcome.retry_after = getattr(error, "retry_after", None)
            return outcome
        title = parsed.title or subscription.title
        outcome.result.title = title
        seen, versions = set(subscription.seen), subscription.versions
        fresh = [item for item in parsed.items if _seen_key(item.key) not in seen]
        taken = fresh[: self.options.feed_max_items_per_poll]
        changed = []
        for item in parsed.items:
            key = _seen_key(item.key)
            if key in seen and versions.get(key) != _version(item):
                if key in versions:  # handled before, and changed since
                    changed.append(item)
                else:  # handled before versions were kept: this one is the reference
                    outcome.versions[key] = _version(item)
        room = max(0, self.options.feed_max_items_per_poll - len(taken))
        pending = len(changed) - room if len(changed) > room else 0  # the cap leaves them for later
        for item in changed[:room]:
            try:
                done = await self._revise(item, title, subscription.url, articles_dir, known, outcome)
            except OSError:
                raise  # the articles folder cannot be written: stop, as for new items
            except Exception:  # one odd page must not stop the poll; its last version stays
                log.exception("feed %s: the change to %s failed", subscription.url, item.link or item.key)
                done = True
            if done:
                outcome.versions[_seen_key(item.key)] = _version(item)
            else:
                pending += 1
        for item in taken:
            key = _seen_key(item.key)
            try:
                name, problem = await self._take(item, title, subscription.url, articles_dir, known)
            except OSError:
                raise  # the articles folder cannot be written: stop, and retry these items next time
            except _TryAgain as later:  # nothing saved, and the page may come back: next poll
                tries = subscription.tries.get(key, 0) + 1
                if tries < MAX_TRIES:
                    outcome.tries[key] = tries
                    pending += 1
                    outcome.problems.append(f"{title}: {later}")
                    continue
                name, problem = (
                    None,
                    f"{later}".replace("tried again at the next poll", f"given up after {tries} polls"),
                )
            except Exception as error:  # one odd page must not stop the poll of every feed
                log.exception("feed %s: item %s failed", subscription.url, item.link or item.key)
                name, problem = None, f"{item.link or item.key}: failed ({error.__class__.__name__}: {error})"
            outcome.seen.append(_seen_key(item.key))
            outcome.versions[_seen_key(item.key)] = _version(item)
            if name:
                outcome.saved.append(name)
            if problem:
                outcome.problems.append(f"{title}: {problem}")
        if len(taken) == len(fresh) and not pending:
            # Validators only once every item of this version is handled (new, or changed):
            # else a 304 next time would hide the items left for later.
            outcome.etag, outcome.last_modified = fetched.etag, fetched.last_modified
        outcome.result.new = len(outcome.saved)
        return outcome

    def _record(self, url: str, outcome: _Outcome) -> None:
        with self.store.editing() as feeds:
            feed = feeds.get(url)
            if feed is not None:  # else removed while this poll ran: not brought back
                self._update(feed, outcome)

    def _update(self, feed: Subscription, outcome: _Outcome) -> None:
        now = self.clock()
        interval = timedelta(minutes=feed.interval_minutes or self.options.feed_poll_minutes)
        feed.last_polled = _iso(now)
        if outcome.result.error:
            feed.errors += 1
            feed.last_error = outcome.result.error
            cap = max(timedelta(minutes=self.options.feed_max_backoff_minutes), interval)
            wait = min(interval * 2 ** min(feed.errors, 30), cap)
            if outcome.retry_after:  # the server said how long: at least that, within the cap
                asked = timedelta(seconds=min(outcome.retry_after, cap.total_seconds()))
                wait = min(max(wait, asked), cap)
        else:
            feed.errors = 0
            feed.last_error = None
            feed.title = outcome.result.title
            feed.etag, feed.last_modified = outcome.etag, outcome.last_modified
            wait = interval
        feed.next_poll = _iso(now + wait)
        handled = set(outcome.seen)
        seen = [key for key in feed.seen if key not in handled] + outcome.seen
        feed.seen = seen[-self.options.feed_seen_items :]
        kept = set(feed.seen)
        feed.versions = {k: v for k, v in {**feed.versions, **outcome.versions}.items() if k in kept}
        feed.tries = dict(outcome.tries)  # an item not deferred again this time is done with

    # --- one item ----------------------------------------------------------------------

    async def _take(
        self, item: FeedItem, feed_title: str, feed_url: str, articles_dir: Path, known: KnownArticles
    ) -> tuple[str | None, str | None]:
        """Save one new item; returns the file name (None if nothing was saved) and a problem."""
        if known.find([item.link]) if item.link else known.find_item(item.key):
            return None, None  # reached before, through another feed, /add, or another address
        where = item.link or repr(item.title or item.key)
        problem = "the item has no link"
        candidate: _Candidate | None = None
        transient = False
        if item.link:
            try:
                candidate = await self._page(item.link)
            except FetchError as error:
                problem, transient = f"page not downloaded ({error})", error.transient
            except ArticleSkipped as error:
                problem = f"no article text in the page ({error})"
        if candidate is not None:
            candidate, problem = _better_of(candidate, item)
        if candidate is None:
            candidate = _from_feed(item)
            if candidate is None and transient:
                raise _TryAgain(
                    f"{where}: {problem}, and the feed gives no text either; tried again at the next poll"
                )
            if candidate is None:
                return None, f"{where}: {problem}, and the feed gives no text either; nothing saved"
            problem = f"{where}: {problem}; saved the feed's summary instead"
        elif problem:
            problem = f"{where}: {problem}"
        name = await self._save(candidate, item, feed_title, feed_url, articles_dir, known)
        if name is None:
            return None, None  # the same text is already in the folder: nothing to report
        return name, problem or None

    async def _revise(
        self,
        item: FeedItem,
        feed_title: str,
        feed_url: str,
        articles_dir: Path,
        known: KnownArticles,
        outcome: _Outcome,
    ) -> bool:
        """Save again the article of an item that changed (a correction, a new headline),
        under its file name, so the next index run replaces it; whether the change is dealt
        with (False: try again at the next poll)."""
        name = known.find([item.link]) if item.link else None
        if name is None or not (articles_dir / name).exists():
            return True  # never saved from its page, or removed since: nothing to replace
        try:
            candidate = await self._page(item.link or "")
        except FetchError as error:
            outcome.problems.append(f"{feed_title}: {item.link}: changed, but {error}; tried again next poll")
            return not error.transient
        except ArticleSkipped:
            return True  # the page has no article any more: the version saved stays
        fitting, _ = _better_of(candidate, item)
        if fitting is None or fitting.suffix != Path(name).suffix:
            return True  # not an article in the form saved before: the version saved stays
        sidecar = {**self._sidecar(fitting, item, feed_title, feed_url), "revised_at": _iso(self.clock())}
        await asyncio.to_thread(save_article, articles_dir, name, fitting.data, sidecar)
        known.add(name, fitting.links, fitting.text_hash)
        outcome.revised.append(name)
        log.info("feed %s: %s changed; saved again as %s", feed_url, item.link, name)
        return True

    async def _page(self, link: str) -> _Candidate:
        options = self.options
        page = await fetch_page(
            link,
            max_bytes=options.max_download_bytes,
            timeout=options.url_fetch_timeout,
            allowlist=options.url_allowlist,
            user_agent=options.user_agent,
        )
        markup = page.text()
        if page.suffix == ".html":
            text, meta = await asyncio.to_thread(html_to_text, markup, page.url)
            text = normalise_text(text)
        else:
            text, meta = normalise_text(markup), ArticleMetadata()
            if not text:
                raise ArticleSkipped("empty")
        canonical = _canonical(meta.url, page.url)
        cite = canonical or clean_url(page.url)
        links = list(dict.fromkeys([cite, clean_url(page.url), clean_url(link)]))
        return _Candidate(
            markup.encode("utf-8"), page.suffix, cite, links, text_sha256(text), meta, "page", text
        )

    async def _save(
        self,
        candidate: _Candidate,
        item: FeedItem,
        feed_title: str,
        feed_url: str,
        articles_dir: Path,
        known: KnownArticles,
    ) -> str | None:
        duplicate = known.find(candidate.links, candidate.text_hash)
        if duplicate:
            log.info("%s: already saved as %s", candidate.url or item.key, duplicate)
            return None
        if candidate.url:
            wanted = name_for_url(candidate.url, candidate.suffix)
        else:
            wanted = safe_filename(
                f"{urlsplit(feed_url).hostname or 'feed'}-{item.title or 'item'}{candidate.suffix}"
            )
        name = known.free_name(wanted, salt=candidate.url or item.key)
        sidecar = self._sidecar(candidate, item, feed_title, feed_url)
        await asyncio.to_thread(save_article, articles_dir, name, candidate.data, sidecar)
        known.add(name, candidate.links, candidate.text_hash, item.key)
        log.info("feed %s: saved %s", feed_url, name)
        return name

    def _sidecar(
        self, candidate: _Candidate, item: FeedItem, feed_title: str, feed_url: str
    ) -> dict[str, object]:
        # The feed's headline, date and byline first (they are meant for listing), then
        # the page's; the outlet is the page's own name for itself, else the feed's title.
        from_feed = ArticleMetadata(
            url=candidate.url, title=item.title, published=item.published, author=item.author
        )
        meta = candidate.page.overridden_by(from_feed)
        if meta.published is None and item.updated:  # the last change, when no one says more
            meta = meta.overridden_by(ArticleMetadata(published=item.updated))
        sidecar: dict[str, object] = meta.to_json()
        sidecar["site"] = candidate.page.site or feed_title
        sidecar.update(
            feed=feed_url,
            feed_title=feed_title,
            feed_item=item.key,
            links=candidate.links,
            saved_from=candidate.saved_from,
            fetched_at=_iso(self.clock()),
        )
        if candidate.text_hash:
            sidecar["text_sha256"] = candidate.text_hash
        return sidecar

    async def _fetch_feed(
        self, url: str, etag: str | None = None, last_modified: str | None = None
    ) -> Fetched:
        options = self.options
        return await fetch_url(
            url,
            max_bytes=options.max_download_bytes,
            timeout=options.url_fetch_timeout,
            allowlist=options.url_allowlist,
            content_types=FEED_TYPES,
            etag=etag,
            last_modified=last_modified,
            accept=FEED_ACCEPT,
            user_agent=options.user_agent,
        )


#: A feed's own text at least this much longer than its page's: the page is a stub (a
#: paywall's first lines, an app's empty shell), the feed has the article.
FULLER = 1.5
#: Words of a headline that its article's text cannot fail to hold at least one of.
_HEADLINE_WORD = re.compile(r"[^\W\d_]{4,}")


def _better_of(page: _Candidate, item: FeedItem) -> tuple[_Candidate | None, str]:
    """The page, or the feed's own text with the page's address and metadata when the page
    holds less of the article: a stub shorter than the feed's text, or a text that never
    names the headline (a consent wall, a cookie banner left of an app); None, with why,
    when the page is no article and the feed has no text. The second value is what to report."""
    words = len(page.text.split())
    feed_text = item.text
    headline = _stems(item.title or "")
    unrelated = len(headline) >= 2 and not headline & _stems(f"{page.page.title or ''} {page.text}")
    stub = len(feed_text.split()) >= FULLER * max(words, 1) and len(feed_text.split()) >= 40
    if not (unrelated or stub):
        return page, ""
    why = "the page never names the headline" if unrelated else f"the page holds {words} words of it"
    if not feed_text:
        return None, f"no article text in the page ({why})"
    fuller = _Candidate(
        feed_text.encode("utf-8"),
        ".txt",
        page.url,
        page.links,
        text_sha256(feed_text),
        page.page,
        "feed",
        feed_text,
    )
    return fuller, f"{why}; saved the feed's text instead" if unrelated else ""


def _stems(text: str) -> set[str]:
    """The words of four letters or more, by their first five ("beavers" is "beaver")."""
    return {word.casefold()[:5] for word in _HEADLINE_WORD.findall(text)}


#: Polls an item whose page is down (and whose feed has no text) is tried at, before it is
#: given up: a page behind a bot check never comes back.
MAX_TRIES = 5


class _TryAgain(Exception):
    """Nothing of the item could be saved this time, for a reason that may pass."""


def _from_feed(item: FeedItem) -> _Candidate | None:
    """The item's own text as an article, for when its page cannot be had."""
    text = item.text
    if not text:
        return None
    cite = clean_url(item.link) if item.link else None
    links = [cite] if cite else []
    return _Candidate(
        text.encode("utf-8"), ".txt", cite, links, text_sha256(text), ArticleMetadata(), "feed", text
    )


#: What follows an article's own address in the address of another form of it.
_VARIANTS = {"amp", "amp.html", "print", "print.html", "index.html", "index.htm", "full", "m", "mobile"}


def _canonical(canonical: str | None, page_url: str) -> str | None:
    """The page's canonical link, cleaned; not when it points at a site's home page or at a
    section the page is in (some sites give every article that canonical, which would make
    them all one)."""
    if not canonical:
        return None
    own, given = urlsplit(page_url).path.strip("/"), urlsplit(canonical).path.strip("/")
    if own and given == "":  # the home page
        return None
    if own.startswith(given + "/") and own[len(given) + 1 :].lower() not in _VARIANTS:
        return None  # a section the page is in, not the page's own /amp or /print variant
    return clean_url(canonical)


def _feed_address(url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        raise FeedError(f"not a feed address: {url[:200]!r} (it must start with http:// or https://)")
    return clean_url(url)


def _find(feeds: dict[str, Subscription], url: str) -> Subscription | None:
    key = url_key(url.strip())
    return next((feed for feed in feeds.values() if url_key(feed.url) == key), None)


def _version(item: FeedItem) -> str:
    """What says an item changed: its headline and its text in the feed (not its "updated"
    date, which some feeds set to when the feed was built, for every item)."""
    return hashlib.sha256(f"{item.title}\0{item.text}".encode()).hexdigest()[:12]


def _seen_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def _when_due(feed: Subscription) -> datetime:
    if not feed.next_poll:
        return datetime.min.replace(tzinfo=UTC)
    try:
        moment = datetime.fromisoformat(feed.next_poll)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")
