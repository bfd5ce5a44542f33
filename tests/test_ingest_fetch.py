"""The guarded fetcher for feeds: feed types, conditional GET, validators, the same guard."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import pytest

from retrieval.ingest.fetch import (
    CONTENT_TYPES,
    FEED_ACCEPT,
    FEED_CONTENT_TYPES,
    FetchError,
    fetch_url,
)

from local_web import LocalSite, Page

ALLOW = ["127.0.0.1"]
FEED_TYPES = {**FEED_CONTENT_TYPES, **CONTENT_TYPES}
RSS = b"<?xml version='1.0'?><rss version='2.0'><channel><title>T</title></channel></rss>"


def _run(scenario: Callable[[LocalSite], Awaitable[None]]) -> None:
    async def main() -> None:
        async with LocalSite() as site:
            await scenario(site)

    asyncio.run(main())


def test_feed_types_are_accepted_only_when_asked_for() -> None:
    async def scenario(site: LocalSite) -> None:
        site.page("/rss", RSS, "application/rss+xml; charset=utf-8")
        site.page("/atom", RSS, "application/atom+xml")
        site.page("/xml", RSS, "text/xml")
        for path in ("/rss", "/atom", "/xml"):
            fetched = await fetch_url(
                site.url(path), max_bytes=10_000, timeout=5, allowlist=ALLOW, content_types=FEED_TYPES
            )
            assert fetched.data == RSS and fetched.suffix == ".xml" and fetched.status == 200
        assert fetched.content_type == "text/xml"
        with pytest.raises(FetchError, match="application/rss\\+xml, not an HTML"):
            await fetch_url(site.url("/rss"), max_bytes=10_000, timeout=5, allowlist=ALLOW)

    _run(scenario)


def test_conditional_get_sends_validators_and_reports_not_modified() -> None:
    async def scenario(site: LocalSite) -> None:
        site.page(
            "/feed", RSS, "application/rss+xml", etag='"v1"', last_modified="Wed, 12 Feb 2020 09:30:00 GMT"
        )
        first = await fetch_url(
            site.url("/feed"), max_bytes=10_000, timeout=5, allowlist=ALLOW, content_types=FEED_TYPES
        )
        assert (first.etag, first.last_modified) == ('"v1"', "Wed, 12 Feb 2020 09:30:00 GMT")
        assert "If-None-Match" not in site.hits[0].headers
        assert site.hits[0].headers["User-Agent"].startswith("citebot/")
        second = await fetch_url(
            site.url("/feed"),
            max_bytes=10_000,
            timeout=5,
            allowlist=ALLOW,
            content_types=FEED_TYPES,
            etag=first.etag,
            last_modified=first.last_modified,
            accept=FEED_ACCEPT,
        )
        assert second.not_modified and second.data == b"" and second.etag == '"v1"'
        request = site.hits[1].headers
        assert request["If-None-Match"] == '"v1"'
        assert request["If-Modified-Since"] == "Wed, 12 Feb 2020 09:30:00 GMT"
        assert request["Accept"].startswith("application/rss+xml")

    _run(scenario)


def test_the_guard_applies_to_feeds_too() -> None:
    async def scenario(site: LocalSite) -> None:
        site.page("/feed", RSS, "application/rss+xml")
        site.redirect("/moved", "http://10.0.0.1/feed")
        site.page("/big", RSS * 1000, "application/rss+xml")
        site.page("/gone", "x", status=410)
        site.page("/empty", "", status=204)
        options = {"max_bytes": 10_000, "timeout": 5, "content_types": FEED_TYPES}
        with pytest.raises(FetchError, match="non-public"):
            await fetch_url(site.url("/feed"), allowlist=[], **options)  # type: ignore[arg-type]
        with pytest.raises(FetchError, match="non-public"):
            await fetch_url(site.url("/moved"), allowlist=ALLOW, **options)  # type: ignore[arg-type]
        with pytest.raises(FetchError, match="too large"):
            await fetch_url(site.url("/big"), allowlist=ALLOW, **options)  # type: ignore[arg-type]
        with pytest.raises(FetchError, match="HTTP 410"):
            await fetch_url(site.url("/gone"), allowlist=ALLOW, **options)  # type: ignore[arg-type]
        with pytest.raises(FetchError, match="HTTP 204"):
            await fetch_url(site.url("/empty"), allowlist=ALLOW, **options)  # type: ignore[arg-type]
        for malformed in ("http://[::1", "http://" + "a" * 300 + ".org/"):
            with pytest.raises(FetchError, match="not a valid address"):
                await fetch_url(malformed, allowlist=ALLOW, **options)  # type: ignore[arg-type]

    _run(scenario)


def test_the_time_cap_covers_a_chain_of_redirects() -> None:
    async def scenario(site: LocalSite) -> None:
        async def slow_hop() -> Page:
            await asyncio.sleep(0.2)  # each hop is within aiohttp's per-request timeout
            return Page(status=302, headers={"Location": "/hop"})

        site.pages["/hop"] = slow_hop
        with pytest.raises(FetchError, match="longer than 0.5 s"):
            await fetch_url(site.url("/hop"), max_bytes=10_000, timeout=0.5, allowlist=ALLOW)

    _run(scenario)


@pytest.mark.parametrize(
    ("data", "charset", "expected"),
    [
        ("<p>été</p>".encode(), None, "<p>été</p>"),
        ("<p>été</p>".encode(), "utf-8", "<p>été</p>"),
        (
            '<meta charset="iso-8859-1"><p>été</p>'.encode("latin-1"),
            None,
            '<meta charset="iso-8859-1"><p>été</p>',
        ),
        ("<?xml version='1.0' encoding='windows-1252'?><a>été</a>".encode("cp1252"), None, None),
        ("<p>été</p>".encode("latin-1"), "utf-8", "<p>été</p>"),  # the server's charset is wrong
        ("<p>été</p>".encode("latin-1"), "no-such-charset", "<p>été</p>"),
    ],
)
def test_a_body_is_read_as_text_in_the_charset_it_declares(
    data: bytes, charset: str | None, expected: str | None
) -> None:
    from retrieval.ingest.fetch import Fetched

    text = Fetched(data, ".html", "http://example.org/", charset=charset).text()
    assert text == (expected if expected is not None else data.decode("cp1252"))


def test_a_server_that_is_not_there_is_named_in_words() -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens on that port now

    async def main() -> None:
        with pytest.raises(
            FetchError, match=r"could not connect to 127\.0\.0\.1 \(connection refused\)"
        ) as caught:
            await fetch_url(f"http://127.0.0.1:{port}/feed", max_bytes=10_000, timeout=5, allowlist=ALLOW)
        assert "Error" not in str(caught.value)  # words, not an exception's class name

    asyncio.run(main())
