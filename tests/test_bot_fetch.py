"""/add's file handling: safe names, atomic saves, the SSRF guard, size and time limits."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from aiohttp import web

from bot.app import QuestionCooldown
from retrieval.ingest.fetch import (
    FetchError,
    check_address,
    fetch_url,
    name_for_url,
    safe_filename,
    save_article,
)


def test_safe_filename() -> None:
    assert safe_filename("My Article (final).TXT") == "My-Article-final.txt"
    assert safe_filename("../../etc/passwd.md") == "passwd.md"
    assert safe_filename("été à Paris.html") == "ete-a-Paris.html"
    assert safe_filename("notes.meta.json.md") == "notes-meta-json.md"
    assert safe_filename(".hidden.txt") == "hidden.txt"
    with pytest.raises(FetchError):
        safe_filename("script.py")


def test_name_for_url() -> None:
    assert name_for_url("https://example.org/news/2020/bees.html?x=1", ".html") == "example-org-bees.html"
    assert name_for_url("https://example.org/", ".txt") == "example-org.txt"


def test_save_article_is_atomic_and_writes_the_sidecar(tmp_path: Path) -> None:
    path = save_article(tmp_path / "articles", "a.html", b"<p>x</p>", {"url": "https://example.org/a"})
    assert path.read_bytes() == b"<p>x</p>"
    assert json.loads((tmp_path / "articles" / "a.html.meta.json").read_text()) == {
        "url": "https://example.org/a"
    }
    assert [p.name for p in (tmp_path / "articles").iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "192.168.0.1", "169.254.169.254", "::1", "fd00::1", "0.0.0.0", "224.0.0.1"],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    with pytest.raises(FetchError, match="non-public"):
        check_address("host", address, [])


def test_allow_list_by_address_network_or_host() -> None:
    check_address("host", "93.184.215.14", [])  # public
    check_address("host", "127.0.0.1", ["127.0.0.1"])
    check_address("host", "10.9.8.7", ["10.0.0.0/8"])
    check_address("intranet.local", "10.9.8.7", ["intranet.local"])
    with pytest.raises(FetchError):
        check_address("host", "10.9.8.7", ["192.168.0.0/16", "other.local"])


def _serve(routes: web.RouteTableDef):  # type: ignore[no-untyped-def]
    async def start() -> tuple[web.AppRunner, str]:
        app = web.Application()
        app.add_routes(routes)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return runner, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]

    return start


def test_fetch_limits_redirects_and_types() -> None:
    routes = web.RouteTableDef()

    @routes.get("/ok")
    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="<p>hello</p>", content_type="text/html")

    @routes.get("/big")
    async def big(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        for _ in range(100):
            await response.write(b"x" * 1000)
        return response

    @routes.get("/slow")
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.Response(text="late")

    @routes.get("/image")
    async def image(request: web.Request) -> web.Response:
        return web.Response(body=b"\x89PNG", content_type="image/png")

    @routes.get("/to-private")
    async def to_private(request: web.Request) -> web.Response:
        raise web.HTTPFound("http://10.0.0.1/secret")

    @routes.get("/hop")
    async def hop(request: web.Request) -> web.Response:
        raise web.HTTPFound("/ok")

    async def scenario() -> None:
        runner, base = await _serve(routes)()
        allow = ["127.0.0.1"]
        try:
            fetched = await fetch_url(base + "/hop", max_bytes=10_000, timeout=5, allowlist=allow)
            assert (
                fetched.data == b"<p>hello</p>" and fetched.suffix == ".html" and fetched.url.endswith("/ok")
            )
            with pytest.raises(FetchError, match="larger than the limit"):
                await fetch_url(base + "/big", max_bytes=10_000, timeout=5, allowlist=allow)
            with pytest.raises(FetchError, match="longer than 0.5 s"):
                await fetch_url(base + "/slow", max_bytes=10_000, timeout=0.5, allowlist=allow)
            with pytest.raises(FetchError, match="image/png"):
                await fetch_url(base + "/image", max_bytes=10_000, timeout=5, allowlist=allow)
            with pytest.raises(FetchError, match="non-public"):
                await fetch_url(base + "/to-private", max_bytes=10_000, timeout=5, allowlist=allow)
            with pytest.raises(FetchError, match="non-public"):
                await fetch_url(base + "/ok", max_bytes=10_000, timeout=5, allowlist=[])
            with pytest.raises(FetchError, match="non-public"):  # a name resolving to loopback
                await fetch_url(
                    base.replace("127.0.0.1", "localhost") + "/ok", max_bytes=10_000, timeout=5, allowlist=[]
                )
            with pytest.raises(FetchError, match="http"):
                await fetch_url("file:///etc/passwd", max_bytes=10_000, timeout=5, allowlist=allow)
        finally:
            await runner.cleanup()

    asyncio.run(scenario())


def test_cooldown_counts_per_user() -> None:
    cooldown = QuestionCooldown(2, 60)
    assert cooldown.hit(1) is None and cooldown.hit(1) is None
    limited = cooldown.hit(1)
    assert limited is not None and 0 < limited[1] <= 60
    assert cooldown.hit(2) is None
    assert QuestionCooldown(1, 0).hit(1) is None and QuestionCooldown(1, 0).hit(1) is None
