"""A small web server on 127.0.0.1 for download tests: pages set by the test, requests recorded.

Also what a news site serves (:func:`news_page`, :func:`rss_feed`), and :class:`SiteThread`,
the server on an event loop of its own for tests whose code under test runs its own loop
(the command line's ``asyncio.run``).
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self
from xml.sax.saxutils import escape

from aiohttp import web
from multidict import CIMultiDictProxy


@dataclass
class Page:
    """What the server answers for one path."""

    body: bytes = b""
    content_type: str = "text/html"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    #: Answer 304 when the request's If-None-Match is this (and sets the ETag header).
    etag: str | None = None
    #: Answer 304 when the request's If-Modified-Since is this (and sets Last-Modified).
    last_modified: str | None = None


@dataclass(frozen=True)
class Hit:
    """One request the server received."""

    path: str
    query: str
    headers: CIMultiDictProxy[str]


class LocalSite:
    """Serves ``pages`` (path → :class:`Page`, or a function or coroutine giving one) on a free port.

    Use as ``async with LocalSite() as site:``; ``site.url("/feed")`` is the address,
    ``site.hits`` every request, in order.
    """

    def __init__(self) -> None:
        self.pages: dict[str, Page | Callable[[], Page | Awaitable[Page]]] = {}
        self.hits: list[Hit] = []
        self.base = ""
        self._runner: web.AppRunner | None = None

    def page(self, path: str, body: str | bytes, content_type: str = "text/html", **options: object) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.pages[path] = Page(data, content_type, **options)  # type: ignore[arg-type]

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        self.pages[path] = Page(status=status, headers={"Location": location})

    def url(self, path: str) -> str:
        return self.base + path

    def count(self, path: str) -> int:
        return sum(1 for hit in self.hits if hit.path == path)

    async def _handle(self, request: web.Request) -> web.Response:
        self.hits.append(Hit(request.path, request.query_string, request.headers))
        spec = self.pages.get(request.path)
        if spec is None:
            return web.Response(status=404, text="not found")
        page = spec() if callable(spec) else spec
        if inspect.isawaitable(page):
            page = await page
        headers = dict(page.headers)
        if page.etag:
            headers["ETag"] = page.etag
        if page.last_modified:
            headers["Last-Modified"] = page.last_modified
        if (page.etag and request.headers.get("If-None-Match") == page.etag) or (
            page.last_modified and request.headers.get("If-Modified-Since") == page.last_modified
        ):
            return web.Response(status=304, headers=headers)
        if page.status in {301, 302, 303, 307, 308}:
            return web.Response(status=page.status, headers=headers)
        headers["Content-Type"] = page.content_type
        return web.Response(status=page.status, body=page.body, headers=headers)

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


class SiteThread:
    """A :class:`LocalSite` served from a thread with its own event loop: ``start()``, set
    ``site.pages``, ``stop()``."""

    def __init__(self) -> None:
        self.site = LocalSite()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="local-web", daemon=True)

    def start(self) -> LocalSite:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.site.__aenter__(), self.loop).result(30)
        return self.site

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.site.__aexit__(None, None, None), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


def news_page(title: str, paragraphs: list[str], *, published: str, author: str, site_name: str) -> str:
    """An article page as news sites write them: the date, byline and outlet in the markup."""
    body = "".join(f"<p>{escape(text)}</p>" for text in paragraphs)
    return (
        f"<!doctype html><html><head><title>{escape(title)} | {escape(site_name)}</title>"
        f'<meta property="article:published_time" content="{published}">'
        f'<meta name="author" content="{escape(author)}">'
        f'<meta property="og:site_name" content="{escape(site_name)}"></head><body>'
        "<nav><a href='/'>Home</a> <a href='/subscribe'>Subscribe</a></nav>"
        f"<article><h1>{escape(title)}</h1>{body}</article>"
        "<footer>Copyright. Cookie settings.</footer></body></html>"
    )


def rss_feed(title: str, items: list[dict[str, str]]) -> str:
    """An RSS 2.0 document; each item's keys become its elements (title, link, guid, pubDate...)."""
    parts = "".join(
        "<item>" + "".join(f"<{key}>{escape(value)}</{key}>" for key, value in item.items()) + "</item>"
        for item in items
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
        f"<title>{escape(title)}</title><link>http://example.org/</link>{parts}</channel></rss>"
    )
