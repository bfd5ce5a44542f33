"""Reading an RSS or Atom document into a title and items, with feedparser.

A document that is not a feed (a web page, plain text) or is too broken to yield any
item raises :class:`FeedError` with a one-line reason; a feed with a few broken bits
still gives the items feedparser could read.
"""

from __future__ import annotations

import calendar
import hashlib
import html
import io
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from retrieval.articles import normalise_text
from retrieval.errors import FeedError
from retrieval.metadata import MAX_TITLE_CHARS, clean_author, clean_line, http_url, normalise_date

log = logging.getLogger(__name__)

#: Links a web page gives to its feeds (``<link rel="alternate" type=...>``).
FEED_LINK_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml")


@dataclass(frozen=True)
class FeedItem:
    """One item of a feed.

    Attributes:
        key: the item's identity in its feed: its guid or id, else its link, else a hash
            of its title and text.
        link: the article's address (absolute, http or https), if any.
        title: the headline, plain text.
        published: ISO 8601 in UTC, from the item's published date.
        author: the byline, names joined by ``", "``.
        content: the fullest HTML the item carries (its content, else its summary).
        updated: ISO 8601 in UTC, when the item was last changed: the date to cite only
            when neither the item nor its page says when it was published.
    """

    key: str
    link: str | None
    title: str | None
    published: str | None
    author: str | None
    content: str
    updated: str | None = None

    @property
    def text(self) -> str:
        """The item's content as plain text (paragraphs kept), what a fallback saves."""
        return fragment_text(self.content)


@dataclass(frozen=True)
class ParsedFeed:
    """A feed's title and its items, newest first."""

    title: str | None
    items: list[FeedItem]


def parse_feed(
    data: bytes, url: str, content_type: str | None = None, charset: str | None = None
) -> ParsedFeed:
    """Read an RSS or Atom document.

    Args:
        data: the document as downloaded.
        url: where it came from: relative links resolve against it.
        content_type: the response's media type, which feedparser weighs.
        charset: the response's charset, if it named one.

    Raises:
        FeedError: not a feed, or so broken that no item could be read.
    """
    import feedparser

    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type + (f"; charset={charset}" if charset else "")
    # A stream, never bytes: feedparser opens bytes that name a local file ("/etc/passwd") as that file.
    parsed = feedparser.parse(
        io.BytesIO(data), response_headers=headers, sanitize_html=True, resolve_relative_uris=True
    )
    entries = parsed.get("entries") or []
    if not parsed.get("version") and not entries:
        raise FeedError(_not_a_feed(data, url, content_type))
    if parsed.get("bozo") and not entries:
        problem = parsed.get("bozo_exception")
        where = f" at line {problem.getLineNumber()}" if hasattr(problem, "getLineNumber") else ""
        reason = f"{problem}{where}" if problem else "unreadable"
        raise FeedError(f"{url} is not a well-formed feed ({reason})")
    if parsed.get("bozo"):
        log.info("%s: feed read despite errors (%s)", url, parsed.get("bozo_exception"))
    feed = parsed.get("feed") or {}
    items = [_item(entry, url) for entry in entries]
    if items and all(_timestamp(e) is not None for e in entries):
        order = sorted(range(len(items)), key=lambda i: -(_timestamp(entries[i]) or 0.0))
        items = [items[i] for i in order]
    return ParsedFeed(title=_plain(feed.get("title")), items=items)


def _not_a_feed(data: bytes, url: str, content_type: str | None) -> str:
    head = data[:4096].lstrip().lower()
    if content_type in {"text/html", "application/xhtml+xml"} or head.startswith(
        (b"<!doctype html", b"<html")
    ):
        found = discover_feed_links(data, url)
        hint = f"; it links to a feed at {found[0]}" if found else ""
        return f"{url} is a web page, not a feed (RSS or Atom){hint}"
    return f"{url} is not a feed (RSS or Atom)"


def discover_feed_links(data: bytes, url: str) -> list[str]:
    """The feeds a web page announces with ``<link rel="alternate" type="application/rss+xml">``."""
    from lxml import etree
    from lxml import html as lxml_html

    try:
        tree = lxml_html.fromstring(data[:1_000_000])
    except (etree.ParserError, ValueError):
        return []
    links = []
    for link in tree.iterfind(".//link"):
        rel = (link.get("rel") or "").lower().split()
        if "alternate" in rel and (link.get("type") or "").lower() in FEED_LINK_TYPES:
            found = http_url(link.get("href"), url)
            if found and found not in links:
                links.append(found)
    return links


def _item(entry: Any, feed_url: str) -> FeedItem:
    link = http_url(entry.get("link"), feed_url)
    content = _content(entry)
    title = _plain(entry.get("title"))
    key = entry.get("id") or link
    if not key:
        key = "hash:" + hashlib.sha256(f"{title}\0{content}".encode()).hexdigest()[:24]
    published, updated = (_date(entry, field) for field in ("published_parsed", "updated_parsed"))
    if dict.get(entry, "published_parsed") is None and isinstance(raw := dict.get(entry, "published"), str):
        published = normalise_date(raw)  # one feedparser cannot read: "mardi 1 décembre 2026"
    return FeedItem(
        key=str(key),
        link=link,
        title=title,
        published=published,
        author=_byline(entry),
        content=content,
        updated=updated,
    )


def _byline(entry: Any) -> str | None:
    # feedparser splits "desk@paper.example (Ann Lee)" badly when the domain is unusual
    # ("ple (Ann Lee"): its raw author string is safer, except for several Atom authors.
    authors = [a for a in entry.get("authors") or [] if isinstance(a, dict)]
    if len(authors) > 1 and all(a.get("name") and "email" not in a for a in authors):
        return clean_author([a["name"] for a in authors])
    return clean_author(entry.get("author"))


def _timestamp(entry: Any) -> float | None:
    """When the item was published, else last changed: what orders a feed newest first."""
    moment = dict.get(entry, "published_parsed") or dict.get(entry, "updated_parsed")
    if moment is None:
        return None
    try:
        return float(calendar.timegm(moment))  # feedparser's struct_time is in UTC
    except (TypeError, ValueError, OverflowError):
        return None


#: Before this (1971-01-01), a date is a content system's empty value (1970-01-01), not news.
_EPOCH_PLACEHOLDER = 365 * 86400


def _date(entry: Any, field: str) -> str | None:
    """One of feedparser's parsed dates (struct_time, UTC) as ISO 8601, or None (read as a
    plain dict: feedparser would answer for a missing ``updated_parsed`` with the published)."""
    moment = dict.get(entry, field)
    if moment is None:
        return None
    try:
        stamp = float(calendar.timegm(moment))
    except (TypeError, ValueError, OverflowError):
        return None
    if stamp < _EPOCH_PLACEHOLDER:
        return None
    return normalise_date(datetime.fromtimestamp(stamp, UTC))


def _content(entry: Any) -> str:
    candidates = [part.get("value") or "" for part in entry.get("content") or [] if isinstance(part, dict)]
    candidates.append(entry.get("summary") or "")
    return max(candidates, key=len)


def _plain(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    return clean_line(fragment_text(value).replace("\n\n", " "), MAX_TITLE_CHARS)


def fragment_text(markup: str) -> str:
    """Plain text of an HTML fragment (a feed's summary): paragraphs kept, scripts dropped."""
    if "<" not in markup:
        return normalise_text(html.unescape(markup))
    from lxml import etree
    from lxml import html as lxml_html

    try:
        root = lxml_html.fragment_fromstring(markup, create_parent="div")
    except (etree.ParserError, ValueError):
        return normalise_text(html.unescape(re.sub(r"<[^>]+>", " ", markup)))
    for element in root.xpath(".//script | .//style | .//iframe | .//noscript | .//form"):
        element.drop_tree()
    for element in root.iter("p", "div", "li", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "pre"):
        element.tail = "\n\n" + (element.tail or "")
    for element in root.iter("br"):
        element.tail = "\n" + (element.tail or "")
    return normalise_text(root.text_content())
