"""Feed subscriptions kept in Chroma: a library each, across restarts, one poll at a time."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from config import load_settings
from retrieval.errors import FeedError, ReadOnlyError
from retrieval.ingest.registry import Subscription
from retrieval.layout import feeds_collection
from retrieval.service import Retriever
from retrieval.subscriptions import LibraryFeeds, record_id

from local_web import LocalSite, rss_feed


def writer(tmp_path: Path, **settings: object) -> Retriever:
    return Retriever(
        load_settings(
            articles_dir=tmp_path / "articles",
            data_dir=tmp_path / "data",
            url_allowlist="127.0.0.1",
            **settings,
        )
    )


def subscription(url: str) -> Subscription:
    return Subscription(url=url, title=url.rsplit("/", 1)[-1], added_at="2026-03-01T12:00:00+00:00")


def test_each_library_keeps_its_own_feeds_across_restarts(tmp_path: Path) -> None:
    feeds = LibraryFeeds(writer(tmp_path))
    with feeds.feeds("base").store.editing() as base:
        base["http://a.example/feed"] = subscription("http://a.example/feed")
    for library in ("guild-1", "guild-2"):
        with feeds.feeds(library).store.editing() as own:
            own["http://a.example/feed"] = subscription("http://a.example/feed")  # the same feed, twice
            own[f"http://{library}.example/rss"] = subscription(f"http://{library}.example/rss")
    later = LibraryFeeds(writer(tmp_path))  # another process, on the same store
    assert later.libraries() == ["base", "guild-1", "guild-2"]
    assert [f.url for f in later.list("base")] == ["http://a.example/feed"]
    assert {f.url for f in later.list("guild-2")} == {"http://a.example/feed", "http://guild-2.example/rss"}
    assert later.remove("http://a.example/feed", "guild-1").url == "http://a.example/feed"
    assert [f.url for f in later.list("guild-1")] == ["http://guild-1.example/rss"]
    assert len(later.list("guild-2")) == 2 and len(later.list("base")) == 1, "only that library's record went"
    assert not (tmp_path / "data" / "feeds.json").exists()


def test_one_poll_of_a_library_at_a_time(tmp_path: Path) -> None:
    feeds = LibraryFeeds(writer(tmp_path))
    store = feeds.feeds("base").store
    with store.polling():
        with pytest.raises(FeedError, match="being polled already"), feeds.feeds("base").store.polling():
            pass
        with feeds.feeds("guild-1").store.polling():  # another library's poll may run
            pass
    with store.polling():
        pass


def test_a_damaged_record_is_reported_and_nothing_is_overwritten(tmp_path: Path) -> None:
    retriever = writer(tmp_path)
    feeds = LibraryFeeds(retriever)
    with feeds.feeds("base").store.editing() as base:
        base["http://a.example/feed"] = subscription("http://a.example/feed")
    collection = retriever.chroma.open(feeds_collection("citebot"))
    broken = record_id("base", "http://b.example/feed")
    retriever.chroma.upsert(collection, [broken], None, ["{not json"], [{"library": "base", "url": "x"}])
    with pytest.raises(FeedError, match="damaged") as caught:
        feeds.list("base")
    assert "\n" not in str(caught.value)
    with pytest.raises(FeedError, match="damaged"), feeds.feeds("base").store.editing():
        pass
    assert int(collection.count()) == 2


def test_a_read_only_process_lists_and_refuses_to_change(tmp_path: Path) -> None:
    LibraryFeeds(writer(tmp_path)).feeds("base").store.save(
        {"http://a.example/feed": subscription("http://a.example/feed")}
    )
    replica = LibraryFeeds(writer(tmp_path, read_only=True))
    assert [f.url for f in replica.list()] == ["http://a.example/feed"]
    with pytest.raises(ReadOnlyError, match="where the writer runs"):
        replica.remove("http://a.example/feed")
    with pytest.raises(ReadOnlyError):
        asyncio.run(replica.poll())
    with pytest.raises(ReadOnlyError):
        asyncio.run(replica.add("http://a.example/other"))


def test_a_poll_saves_into_the_library_folder_and_updates_the_record(tmp_path: Path) -> None:
    retriever = writer(tmp_path)
    feeds = LibraryFeeds(retriever)

    async def scenario() -> None:
        async with LocalSite() as site:
            site.page(
                "/a",
                "<html><body><article><p>"
                + "Otters returned to the Loire. " * 20
                + "</p></article></body></html>",
            )
            site.page(
                "/feed",
                rss_feed("River News", [{"title": "Otters", "link": site.url("/a"), "guid": "a"}]),
                "application/rss+xml",
            )
            added = await feeds.add(site.url("/feed"), "guild-7")
            assert added.items == 1 and feeds.list("base") == []
            report = await feeds.poll("guild-7")
            assert report.added == ["127-0-0-1-a.html"] and report.errors == []
            assert (await feeds.poll("guild-7")).feeds == [], "not due again yet"

    asyncio.run(scenario())
    folder = retriever.articles_folder("guild-7")
    assert (folder / "127-0-0-1-a.html").exists()
    meta = json.loads((folder / "127-0-0-1-a.html.meta.json").read_text(encoding="utf-8"))
    assert meta["site"] == "River News"
    [feed] = feeds.list("guild-7")
    assert feed.last_polled and feed.next_poll and len(feed.seen) == 1
    assert feeds.next_poll_at() is not None
    assert retriever.registry.lease() is None, "the lease is given back after each change"


def test_a_library_keeps_its_announcement_channel_beside_its_feeds(tmp_path: Path) -> None:
    retriever = writer(tmp_path)
    feeds = LibraryFeeds(retriever)
    with feeds.feeds("guild-1").store.editing() as own:
        own["http://a.example/feed"] = subscription("http://a.example/feed")
    assert feeds.announce_channel("guild-1") is None
    feeds.set_announce_channel(1234567890123456789, "guild-1")
    feeds.set_announce_channel(42, "guild-2")  # a library with a channel and no feed yet
    later = LibraryFeeds(writer(tmp_path))  # another process, on the same store
    assert later.announce_channel("guild-1") == 1234567890123456789
    assert later.announce_channel("base") is None
    # The channel's record is not a feed: listed, edited, saved and polled around.
    assert [f.url for f in later.list("guild-1")] == ["http://a.example/feed"]
    assert later.libraries() == ["guild-1"]
    later.remove("http://a.example/feed", "guild-1")
    assert later.list("guild-1") == [] and later.announce_channel("guild-1") == 1234567890123456789
    assert asyncio.run(later.poll("guild-2")).feeds == []
    later.set_announce_channel(None, "guild-1")
    assert later.announce_channel("guild-1") is None and later.announce_channel("guild-2") == 42
    with pytest.raises(ReadOnlyError):
        LibraryFeeds(writer(tmp_path, read_only=True)).set_announce_channel(7, "guild-2")
    assert later.announce_channel("guild-2") == 42
    assert retriever.registry.lease() is None, "the lease is given back after each change"


def test_removing_a_library_forgets_where_it_announced(tmp_path: Path) -> None:
    retriever = writer(tmp_path)
    feeds = LibraryFeeds(retriever)
    feeds.set_announce_channel(99, "guild-3")
    feeds.set_announce_channel(98, "guild-4")
    retriever.remove_library("guild-3")  # nothing else of it exists: a channel alone is found
    assert feeds.announce_channel("guild-3") is None and feeds.announce_channel("guild-4") == 98
