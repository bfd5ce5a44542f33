"""Downloading what /add and the feed poller bring in: a page or a feed at a URL, under guard.

URLs are fetched with a total timeout and a size cap, and never from loopback,
private, link-local or otherwise reserved addresses (SSRF) unless the settings'
``url_allowlist`` names the host, the address or its network. The check runs on every
address a name resolves to, at connection time (so DNS rebinding cannot slip past),
and again on each redirect. Files are written under a temporary dot-name and renamed
into place, so the folder watcher and the indexer never see half a file.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import socket
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from retrieval.articles import SIDECAR_SUFFIX

ALLOWED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm")
CONTENT_TYPES = {
    "text/html": ".html",
    "application/xhtml+xml": ".html",
    "text/plain": ".txt",
    "text/markdown": ".md",
    "text/x-markdown": ".md",
}
MAX_REDIRECTS = 5
USER_AGENT = "citebot (+https://github.com/; adds articles on request of a server admin)"


class FetchError(Exception):
    """The article cannot be added; the message says why, in one line."""


@dataclass(frozen=True)
class Fetched:
    """A downloaded article: the bytes, a file suffix, and the final URL."""

    data: bytes
    suffix: str
    url: str


def _allowed(address: str, allowlist: list[str]) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    for entry in allowlist:
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue  # a host name: checked against the URL's host instead
    return ip.is_global and not ip.is_multicast


def check_address(host: str, address: str, allowlist: list[str]) -> None:
    """Raise FetchError unless ``address`` (which ``host`` resolved to) is public or allowed."""
    if host.lower() in {entry.lower() for entry in allowlist}:
        return
    if not _allowed(address, allowlist):
        raise FetchError(f"refusing to fetch {host}: it resolves to a non-public address ({address})")


class GuardedResolver(AbstractResolver):
    """Resolves like aiohttp, then refuses private, loopback and reserved answers."""

    def __init__(self, allowlist: list[str]) -> None:
        self._inner = DefaultResolver()
        self._allowlist = allowlist

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            check_address(host, result["host"], self._allowlist)
        return results

    async def close(self) -> None:
        await self._inner.close()


def _check_url(url: str, allowlist: list[str]) -> str:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise FetchError("only http:// and https:// addresses can be added")
    host = parts.hostname
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host  # a name: the resolver checks what it resolves to
    # aiohttp does not resolve literal addresses, so check them here.
    check_address(host, host, allowlist)
    return host


async def fetch_url(url: str, *, max_bytes: int, timeout: float, allowlist: list[str]) -> Fetched:
    """Download an article page, following at most a few redirects.

    Raises:
        FetchError: bad scheme, non-public address, HTTP error, timeout, too large,
            or a content type that is not HTML, plain text or Markdown.
    """
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(allowlist), use_dns_cache=False)
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    try:
        async with aiohttp.ClientSession(
            connector=connector, timeout=client_timeout, headers={"User-Agent": USER_AGENT}
        ) as session:
            for _ in range(MAX_REDIRECTS + 1):
                _check_url(url, allowlist)
                async with session.get(url, allow_redirects=False) as response:
                    if response.status in {301, 302, 303, 307, 308} and "Location" in response.headers:
                        url = urljoin(url, response.headers["Location"])
                        continue
                    if response.status >= 400:
                        raise FetchError(f"the server answered HTTP {response.status} for {url}")
                    content_type = response.content_type.lower()
                    suffix = CONTENT_TYPES.get(content_type)
                    if suffix is None:
                        raise FetchError(f"{url} is {content_type or 'of unknown type'}, not an HTML, text or Markdown page")
                    if response.content_length is not None and response.content_length > max_bytes:
                        raise FetchError(f"the page is too large ({response.content_length:,} bytes; limit {max_bytes:,})")
                    data = bytearray()
                    async for block in response.content.iter_chunked(65536):
                        data += block
                        if len(data) > max_bytes:
                            raise FetchError(f"the page is larger than the limit ({max_bytes:,} bytes)")
                    return Fetched(bytes(data), suffix, str(response.url))
            raise FetchError(f"too many redirects (more than {MAX_REDIRECTS})")
    except TimeoutError:
        raise FetchError(f"the download took longer than {timeout:g} s") from None
    except aiohttp.ClientError as error:
        cause = error.__cause__ or error.__context__
        if isinstance(cause, FetchError):
            raise cause from None
        raise FetchError(f"could not download {url}: {error.__class__.__name__}") from None


def safe_filename(name: str, default_suffix: str = ".txt") -> str:
    """A plain file name (letters, digits, ``-_.``) with an allowed article suffix.

    Raises:
        FetchError: the suffix is not one of .txt, .md, .markdown, .html, .htm.
    """
    name = unicodedata.normalize("NFKD", Path(name.replace("\\", "/")).name)
    name = name.encode("ascii", "ignore").decode()
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, default_suffix.lstrip(".")
    suffix = "." + suffix.lower()
    if suffix not in ALLOWED_SUFFIXES:
        raise FetchError(f"unsupported file type {suffix}")
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-._")[:80] or "article"
    if stem.lower().endswith(".meta"):
        stem = stem[:-5] or "article"
    return stem + suffix


def name_for_url(url: str, suffix: str) -> str:
    """A file name for a downloaded page: host and last path segment."""
    parts = urlsplit(url)
    segment = Path(parts.path).stem if parts.path not in {"", "/"} else ""
    base = f"{parts.hostname or 'page'}-{segment}" if segment else (parts.hostname or "page")
    return safe_filename(re.sub(r"[^A-Za-z0-9_-]+", "-", base) + suffix)


def save_article(folder: Path, name: str, data: bytes, meta: dict[str, Any] | None = None) -> Path:
    """Write ``data`` as ``folder/name`` atomically, with a sidecar of metadata if given."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    if meta:
        # The sidecar first: the watcher then sees the article complete with its URL.
        _atomic_write(folder / (name + SIDECAR_SUFFIX), json.dumps(meta, ensure_ascii=False).encode())
    _atomic_write(target, data)
    return target


def _atomic_write(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.part")
    temporary.write_bytes(data)
    os.replace(temporary, path)
