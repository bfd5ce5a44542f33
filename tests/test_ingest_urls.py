"""One article, one address: tracking parameters, spellings of a URL, and what the folder knows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retrieval.errors import FeedError
from retrieval.ingest.entries import fragment_text, parse_feed
from retrieval.ingest.known import KnownArticles, text_sha256
from retrieval.ingest.urls import clean_url, url_key


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://Example.org:443/a/?utm_source=x&b=2&a=1#top", "https://example.org/a/?a=1&b=2"),
        (
            "https://example.org/a?fbclid=1&gclid=2&mc_cid=3&_hsenc=4&smid=5&id=9",
            "https://example.org/a?id=9",
        ),
        ("http://example.org/story?p=123", "http://example.org/story?p=123"),
        ("https://example.org/world/story?CMP=share_btn_tw", "https://example.org/world/story"),
        ("https://example.org/a?from=rss&id=3&src=newsletter", "https://example.org/a?id=3"),
        ("https://example.org/archive?from=2020", "https://example.org/archive?from=2020"),  # not a source
    ],
)
def test_clean_url_drops_tracking_and_fragments(url: str, expected: str) -> None:
    assert clean_url(url) == expected


def test_spellings_of_one_address_share_a_key() -> None:
    spellings = [
        "https://www.example.org/news/bridge/?utm_medium=rss",
        "http://example.org/news/bridge",
        "https://EXAMPLE.org/news/bridge?fbclid=xyz#comments",
    ]
    assert len({url_key(url) for url in spellings}) == 1
    assert url_key("https://example.org/news/bridge?id=1") != url_key("https://example.org/news/bridge?id=2")
    assert url_key("https://example.org/a") != url_key("https://example.com/a")


def test_the_folder_knows_articles_by_their_sidecars(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text("<p>a</p>")
    (tmp_path / "a.html.meta.json").write_text(
        json.dumps(
            {"url": "https://example.org/a", "links": ["https://example.org/amp/a"], "text_sha256": "f" * 64}
        )
    )
    (tmp_path / "orphan.html.meta.json").write_text(json.dumps({"url": "https://example.org/orphan"}))
    (tmp_path / "broken.txt").write_text("x")
    (tmp_path / "broken.txt.meta.json").write_text("{not json")
    known = KnownArticles.from_folder(tmp_path)
    assert known.find(["https://www.example.org/a/?utm_source=x"]) == "a.html"
    assert known.find([None, "http://example.org/amp/a"]) == "a.html"
    assert known.find(text_hash="f" * 64) == "a.html"
    assert known.find(["https://example.org/orphan"]) is None  # its article was deleted
    assert KnownArticles.from_folder(tmp_path / "missing").find(["https://example.org/a"]) is None


def test_a_free_name_never_replaces_a_file(tmp_path: Path) -> None:
    (tmp_path / "x.html").write_text("old")
    known = KnownArticles.from_folder(tmp_path)
    assert known.free_name("y.html", "salt") == "y.html"
    other = known.free_name("x.html", "https://example.org/x")
    assert other != "x.html" and other.startswith("x-") and other.endswith(".html")
    known.add(other, [])
    assert known.free_name("x.html", "https://example.org/x") not in {"x.html", other}


def test_short_texts_are_not_compared_by_hash() -> None:
    assert text_sha256("Subscribe to read.") is None
    assert text_sha256("word " * 100) is not None


def test_feed_items_in_date_order_with_relative_links_resolved() -> None:
    feed = (
        b"<?xml version='1.0'?><rss version='2.0'><channel><title>T &amp; Co</title>"
        b"<item><title>Old</title><link>/old</link><pubDate>Mon, 02 Feb 2026 10:00:00 +0100</pubDate></item>"
        b"<item><title>New &lt;b&gt;bold&lt;/b&gt;</title><link>/new</link>"
        b"<pubDate>Tue, 03 Feb 2026 10:00:00 GMT</pubDate></item></channel></rss>"
    )
    parsed = parse_feed(feed, "https://example.org/feed.xml", "application/rss+xml")
    assert parsed.title == "T & Co"
    assert [(i.title, i.link, i.published) for i in parsed.items] == [
        ("New bold", "https://example.org/new", "2026-02-03T10:00:00+00:00"),
        ("Old", "https://example.org/old", "2026-02-02T09:00:00+00:00"),
    ]


def test_a_feed_body_naming_a_local_file_is_not_read_as_that_file(tmp_path: Path) -> None:
    local = tmp_path / "feed.xml"
    local.write_bytes(
        b"<?xml version='1.0'?><rss version='2.0'><channel><title>Local</title></channel></rss>"
    )
    with pytest.raises(FeedError, match="not a feed"):
        parse_feed(str(local).encode(), "https://example.org/feed", "application/xml")


def test_fragment_text_keeps_paragraphs_and_drops_scripts() -> None:
    assert (
        fragment_text("<p>One <b>two</b></p><script>x()</script><p>Three<br>four</p>")
        == "One two\n\nThree\n\nfour"
    )
    assert fragment_text("Plain &amp; simple") == "Plain & simple"
    assert fragment_text("") == ""
