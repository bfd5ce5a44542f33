"""Downloading what /add and the feed poller bring in: a page or a feed at a URL, under guard.

URLs are fetched with a total timeout and a size cap, and never from loopback,
private, link-local or otherwise reserved addresses (SSRF) unless the settings'
``url_allowlist`` names the host, the address or its network. The check runs on every
address a name resolves to, at connection time (so DNS rebinding cannot slip past),
and again on each redirect; it applies alike to feeds and to the pages they link to.
A feed is asked for conditionally (``If-None-Match`` / ``If-Modified-Since``) when its
last ETag or Last-Modified is known, and a 304 answer is reported as such.
Files are written under a temporary dot-name and renamed into place, so the folder
watcher and the indexer never see half a file.
"""

from __future__ import annotations

import asyncio
import html
import ipaddress
import json
import os
import re
import socket
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from retrieval.articles import SIDECAR_SUFFIX
from retrieval.layout import atomic_write

ALLOWED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm")
#: Content types of article pages, and the suffix a page of each type is saved with.
CONTENT_TYPES = {
    "text/html": ".html",
    "application/xhtml+xml": ".html",
    "text/plain": ".txt",
    "text/markdown": ".md",
    "text/x-markdown": ".md",
}
#: Content types of RSS and Atom feeds. (JSON Feed is left out: feedparser 6 cannot read it.)
FEED_CONTENT_TYPES = {
    "application/rss+xml": ".xml",
    "application/atom+xml": ".xml",
    "application/rdf+xml": ".xml",
    "application/xml": ".xml",
    "text/xml": ".xml",
    # Older or mislabelled, as real feeds are served; the feed parser decides what they hold.
    "application/x-rss+xml": ".xml",
    "application/x-atom+xml": ".xml",
    "text/rss+xml": ".xml",
    "text/x-rss": ".xml",
    "text/atom+xml": ".xml",
    "application/octet-stream": ".xml",
    "binary/octet-stream": ".xml",
}
FEED_ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"
PAGE_ACCEPT = "text/html, application/xhtml+xml, text/plain;q=0.9, text/markdown;q=0.9, */*;q=0.1"
MAX_REDIRECTS = 5
USER_AGENT = "citebot/0.1 (+feeds; news archive bot)"
#: ``<meta charset=...>``, ``<meta http-equiv content="...; charset=...">``, ``<?xml encoding=...?>``.
DECLARED_CHARSET = re.compile(rb"""(?:charset|encoding)\s*=\s*["']?([A-Za-z0-9_.:-]{1,40})""")


class FetchError(Exception):
    """The article cannot be added; the message says why, in one line.

    Attributes:
        transient: the failure may go away by itself (a timeout, a connection that failed,
            the server busy or down: HTTP 429 and 5xx), so trying again later makes sense.
        retry_after: seconds the server asked to wait (its ``Retry-After``), if it did.
    """

    def __init__(self, message: str, *, transient: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        #: seconds the server asked to wait before the next try (its Retry-After), if it did
        self.retry_after = retry_after


#: Charset names a browser reads as Windows-1252.
_READ_AS_CP1252 = {
    "iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "latin-1", "l1", "cp819", "ibm819",
    "windows-1252", "cp1252", "x-cp1252",
}  # fmt: skip


@dataclass(frozen=True)
class Fetched:
    """A download: the bytes, a file suffix, the final URL, and what the server said.

    Attributes:
        data: the body (empty for a 304 answer).
        suffix: the file suffix for its content type (``.html``, ``.xml``...); empty for 304.
        url: the URL after redirects.
        status: 200, or 304 when a conditional request found nothing new.
        etag: the response's ``ETag``, to send back as ``If-None-Match`` next time.
        last_modified: its ``Last-Modified``, to send back as ``If-Modified-Since``.
        content_type: the media type, lower case, without parameters.
        charset: the charset the ``Content-Type`` names, if any.
    """

    data: bytes
    suffix: str
    url: str
    status: int = 200
    etag: str | None = None
    last_modified: str | None = None
    content_type: str = ""
    charset: str | None = None

    @property
    def not_modified(self) -> bool:
        """The server answered 304: nothing changed since the ETag or date sent."""
        return self.status == 304

    def text(self) -> str:
        """The body as text: in the charset the server names, else the one the document
        declares (``<meta charset>``, ``<?xml encoding>``), else UTF-8, else Windows-1252."""
        declared = DECLARED_CHARSET.search(self.data[:4096])
        for given in (self.charset, declared[1].decode("ascii") if declared else None, "utf-8"):
            if not given:
                continue
            # As browsers read them (WHATWG): a page "in Latin-1" is Windows-1252, whose ’ “ ” œ €
            # Latin-1 reads as control characters. Latin-1 itself if that fails.
            for name in ["cp1252", given] if given.strip().lower() in _READ_AS_CP1252 else [given]:
                try:
                    return self.data.decode(name).removeprefix("\ufeff")
                except (LookupError, UnicodeDecodeError):
                    continue
        return self.data.decode("cp1252", errors="replace")


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

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
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


async def fetch_url(
    url: str,
    *,
    max_bytes: int,
    timeout: float,
    allowlist: Sequence[str],
    content_types: Mapping[str, str] = CONTENT_TYPES,
    etag: str | None = None,
    last_modified: str | None = None,
    accept: str = PAGE_ACCEPT,
    user_agent: str = USER_AGENT,
) -> Fetched:
    """Download a page or a feed, following at most a few redirects.

    Args:
        url: an http:// or https:// address.
        max_bytes: the largest body accepted.
        timeout: seconds for the whole download, redirects included.
        allowlist: hosts, addresses or networks (CIDR) that may be fetched although
            they are not public (``127.0.0.1`` for tests).
        content_types: the media types accepted, each with the file suffix it maps to:
            :data:`CONTENT_TYPES` (pages, the default) or, for a feed,
            ``{**FEED_CONTENT_TYPES, **CONTENT_TYPES}`` (servers often label feeds
            ``text/html`` or ``text/plain``; the feed parser tells them apart).
        etag: the ETag of the last download, sent as ``If-None-Match``.
        last_modified: the Last-Modified of the last download, sent as ``If-Modified-Since``.
        accept: the ``Accept`` header (:data:`PAGE_ACCEPT` or :data:`FEED_ACCEPT`).
        user_agent: the ``User-Agent`` header.

    Returns:
        The download; with ``status == 304`` and no data when the server says the
        resource has not changed since ``etag`` / ``last_modified``.

    Raises:
        FetchError: bad scheme, non-public address, HTTP error, timeout, too large,
            or a content type that is not accepted.
    """
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(list(allowlist)), use_dns_cache=False)
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    headers = {"User-Agent": user_agent, "Accept": accept}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        # aiohttp's total timeout is per request; this one also bounds a chain of redirects.
        async with (
            asyncio.timeout(timeout),
            aiohttp.ClientSession(connector=connector, timeout=client_timeout, headers=headers) as session,
        ):
            for _ in range(MAX_REDIRECTS + 1):
                _check_url(url, list(allowlist))
                async with session.get(url, allow_redirects=False) as response:
                    if response.status in {301, 302, 303, 307, 308} and "Location" in response.headers:
                        url = urljoin(url, response.headers["Location"])
                        continue
                    if response.status == 304:
                        return Fetched(
                            b"",
                            "",
                            str(response.url),
                            status=304,
                            etag=_header(response, "ETag") or etag,
                            last_modified=_header(response, "Last-Modified") or last_modified,
                        )
                    return await _read(response, url, max_bytes, content_types)
            raise FetchError(f"too many redirects (more than {MAX_REDIRECTS})")
    except TimeoutError:
        raise FetchError(f"the download took longer than {timeout:g} s", transient=True) from None
    except ValueError:  # urlsplit and the IDNA codec on a malformed address (UnicodeError too)
        raise FetchError(f"not a valid address: {url[:200]}") from None
    except aiohttp.ClientError as error:
        cause = error.__cause__ or error.__context__
        if isinstance(cause, FetchError):
            raise cause from None
        transient = not isinstance(error, aiohttp.ClientSSLError | aiohttp.ClientConnectorDNSError)
        raise FetchError(f"could not download {url}: {_reason(error)}", transient=transient) from None


def _reason(error: aiohttp.ClientError) -> str:
    """What went wrong, in words (the class name when it is none of the usual ones)."""
    host = getattr(error, "host", None) or "the server"
    if isinstance(error, aiohttp.ClientConnectorDNSError):
        return f"{host} was not found (no DNS answer: a typo, or no network?)"
    if isinstance(error, aiohttp.ClientSSLError):
        return f"{host}'s certificate or TLS connection was refused"
    if isinstance(error, aiohttp.ClientConnectorError):
        errno = getattr(error.os_error, "errno", None)
        return f"could not connect to {host} ({os.strerror(errno).lower() if errno else 'no connection'})"
    if isinstance(error, aiohttp.ServerDisconnectedError):
        return "the server closed the connection before answering"
    if isinstance(error, aiohttp.ClientPayloadError):
        return "the download was cut off"
    return error.__class__.__name__


async def _read(
    response: aiohttp.ClientResponse, url: str, max_bytes: int, content_types: Mapping[str, str]
) -> Fetched:
    if response.status >= 400:
        busy = response.status == 429 or response.status >= 500
        wait = _retry_after(_header(response, "Retry-After")) if busy else None
        raise FetchError(
            f"the server answered HTTP {response.status} for {url}", transient=busy, retry_after=wait
        )
    if response.status != 200:
        # 1xx are handled by aiohttp; 204, 206 and the rest are no download at all.
        raise FetchError(f"the server answered HTTP {response.status} for {url}, not a document")
    content_type = response.content_type.lower()
    suffix = content_types.get(content_type)
    if suffix is None:
        wanted = "a feed" if ".xml" in content_types.values() else "an HTML, text or Markdown page"
        raise FetchError(f"{url} is {content_type or 'of unknown type'}, not {wanted}")
    if response.content_length is not None and response.content_length > max_bytes:
        size = response.content_length
        raise FetchError(f"the download is too large ({size:,} bytes; limit {max_bytes:,})")
    data = bytearray()
    async for block in response.content.iter_chunked(65536):
        data += block
        if len(data) > max_bytes:
            raise FetchError(f"the download is larger than the limit ({max_bytes:,} bytes)")
    return Fetched(
        bytes(data),
        suffix,
        str(response.url),
        etag=_header(response, "ETag"),
        last_modified=_header(response, "Last-Modified"),
        content_type=content_type,
        charset=response.charset,
    )


#: A ``<meta>`` tag, and its ``http-equiv`` and ``content`` attributes (in either order).
_META_TAG = re.compile(r"<meta\b[^>]*>", re.IGNORECASE)
_ATTRIBUTE = re.compile(r"""([\w-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")
_REFRESH = re.compile(r"""\s*(\d{1,3})\s*(?:[;,]\s*(?:url\s*=\s*)?['"]?([^'"\s]+))?""", re.IGNORECASE)


def meta_refresh(page: Fetched) -> str | None:
    """Where a small HTML page sends its reader at once (a meta refresh of 5 s or less),
    resolved against the page's address; None for a page that is no such stop."""
    if page.suffix != ".html" or len(page.data) > 8192:
        return None
    for tag in _META_TAG.findall(page.text()):
        attributes = {m[1].lower(): html.unescape(m[2] or m[3] or m[4]) for m in _ATTRIBUTE.finditer(tag)}
        if attributes.get("http-equiv", "").lower() != "refresh":
            continue
        found = _REFRESH.match(attributes.get("content", ""))
        if found is None or not found[2] or int(found[1]) > 5:
            return None
        target = urljoin(page.url, found[2].strip())
        return target if urlsplit(target).scheme in {"http", "https"} and target != page.url else None
    return None


async def fetch_page(url: str, **options: Any) -> Fetched:
    """:func:`fetch_url` for an article's page, going on once to where a page that only sends
    the reader on points ("Redirecting to the article…"). ``options`` are fetch_url's."""
    page = await fetch_url(url, **options)
    onward = meta_refresh(page)
    return page if onward is None else await fetch_url(onward, **options)


def _retry_after(value: str | None) -> float | None:
    """A Retry-After header's wait in seconds: a number of seconds, or an HTTP date."""
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def _header(response: aiohttp.ClientResponse, name: str) -> str | None:
    # Kept only when short and printable: it is stored and sent back as is.
    value = response.headers.get(name, "").strip()
    return value if value and len(value) <= 200 and value.isprintable() else None


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
        atomic_write(folder / (name + SIDECAR_SUFFIX), json.dumps(meta, ensure_ascii=False).encode())
    atomic_write(target, data)
    return target
