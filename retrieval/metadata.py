"""Article metadata: the outlet, the date, the byline and the link, wherever they come from.

A news citation is an outlet, a date and a link. They come from an HTML page's markup
(meta tags, JSON-LD, ``<time>``, bylines, the canonical link), a Markdown file's front
matter, or a sidecar ``NAME.meta.json``; each source is read into an
:class:`ArticleMetadata` whose values are checked and normalised here, once. A value that
cannot be used (an unparseable date, a byline that is not text, a link that is not
http(s)) is dropped with a log line: bad metadata never costs the article.
"""

from __future__ import annotations

import email.utils
import html
import json
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

log = logging.getLogger(__name__)

MAX_TITLE_CHARS = 1000
MAX_AUTHOR_CHARS = 200
MAX_SITE_CHARS = 100
MAX_URL_CHARS = 2048
MAX_DATE_CHARS = 64
#: Dates before this year are taken for parsing accidents (a "0001-01-01" placeholder).
MIN_YEAR = 1800
#: How far in the future a publication date may be: time zones, not scheduled posts.
FUTURE_SLACK = timedelta(days=1)

#: Keys of front matter and sidecars, by the field they fill; the first present wins.
MAPPING_KEYS: dict[str, tuple[str, ...]] = {
    "title": ("title",),
    "url": ("url", "source_url"),
    "published": ("published", "date"),
    "author": ("author", "authors"),
    "site": ("site", "site_name", "sitename"),
    "language": ("language", "lang"),
}

#: ``<meta>`` names and properties that carry the publication (not modification) date.
PUBLISHED_META = frozenset(
    {
        "article:published_time",
        "og:article:published_time",
        "og:published_time",
        "article:published",
        "datepublished",
        "publishdate",
        "publish-date",
        "publish_date",
        "published-date",
        "pubdate",
        "dc.date.issued",
        "dcterms.issued",
        "dc.date.created",
        "dcterms.created",
        "sailthru.date",
        "parsely-pub-date",
        "citation_publication_date",
    }
)
SITE_META = frozenset({"og:site_name", "application-name"})
#: JSON-LD ``@type`` values of things with an author and a date (NewsArticle, BlogPosting...).
JSONLD_ARTICLE = re.compile(r"Article|Posting|Report|WebPage|CreativeWork", re.IGNORECASE)


@dataclass(frozen=True)
class ArticleMetadata:
    """What is known about an article besides its text; every field is optional.

    Attributes:
        title: the headline.
        url: the article's address (http or https).
        published: ISO 8601, a date (``2020-02-12``) or a time with its offset
            (``2020-02-12T09:30:00+01:00``).
        author: the byline, several names joined by ``", "``.
        site: the outlet's name (``Le Monde``).
        language: an ISO 639-1 code, as given.
    """

    title: str | None = None
    url: str | None = None
    published: str | None = None
    author: str | None = None
    site: str | None = None
    language: str | None = None

    def overridden_by(self, other: ArticleMetadata) -> ArticleMetadata:
        """These values, with each one ``other`` has taking precedence."""
        changes = {f.name: getattr(other, f.name) for f in fields(other) if getattr(other, f.name)}
        return replace(self, **changes)

    def to_json(self) -> dict[str, str]:
        """The fields that are set, under the keys a sidecar uses."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}


# --- single values ------------------------------------------------------------------------


def normalise_date(value: object, *, now: datetime | None = None) -> str | None:
    """An ISO 8601 date or date-time for ``value``, or None when it is not a plausible date.

    Accepts ``datetime.date`` and ``datetime.datetime`` (as YAML front matter gives them)
    and strings in ISO 8601 or RFC 2822 (RSS) form. A time without an offset is taken as
    UTC. Dates before 1800 or more than a day ahead of ``now`` are refused.

    Args:
        value: the date as found.
        now: the present, for the "not in the future" check; the clock by default.

    Returns:
        ``YYYY-MM-DD`` for a date, ``YYYY-MM-DDTHH:MM:SS+HH:MM`` for a time, or None.
    """
    parsed = _parse_date(value)
    if parsed is None:
        return None
    now = now or datetime.now(UTC)
    if isinstance(parsed, datetime):
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        parsed = parsed.replace(microsecond=0)
        moment = parsed
    else:
        moment = datetime(parsed.year, parsed.month, parsed.day, tzinfo=UTC)
    if parsed.year < MIN_YEAR or moment > now + FUTURE_SLACK:
        return None
    return parsed.isoformat()


def _parse_date(value: object) -> date | datetime | None:
    if isinstance(value, datetime | date):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text) > MAX_DATE_CHARS:
        return None
    if re.fullmatch(r"\d{4}[/.]\d{1,2}[/.]\d{1,2}", text):
        text = re.sub(r"[/.]", "-", text)
        text = "-".join(part.zfill(2) for part in text.split("-"))
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}|\d{8}", text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    try:
        return email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return written_date(text)


_MONTH_NUMBERS = {
    name: number
    for number, names in enumerate(
        (
            "janvier january jan janv", "février fevrier february feb fév fev févr fevr", "mars march mar",
            "avril april apr avr", "mai may", "juin june jun", "juillet july jul juil juill",
            "août aout august aug", "septembre september sep sept", "octobre october oct",
            "novembre november nov", "décembre decembre december dec déc",
        ),
        start=1,
    )
    for name in names.split()
}  # fmt: skip
#: A date as people write it: "mardi 1er décembre 2026 à 14h00", "1 December 2026", "December 1, 2026".
_WRITTEN_DATE = re.compile(
    r"(?:[^\W\d_]+\.?,?\s+)?(?:(?P<day>\d{1,2})(?:er|st|nd|rd|th)?\s+(?P<month>[^\W\d_]+)\.?"
    r"|(?P<month2>[^\W\d_]+)\.?\s+(?P<day2>\d{1,2})(?:st|nd|rd|th)?,?)\s+(?P<year>\d{4})\b.*",
    re.IGNORECASE,
)


def written_date(text: str) -> date | None:
    """The day of a date written in words, French or English (a time with no zone is dropped:
    the day is sure, the hour's zone is not)."""
    found = _WRITTEN_DATE.fullmatch(text)
    if found is None:
        return None
    month = _MONTH_NUMBERS.get((found["month"] or found["month2"]).casefold())
    if month is None:
        return None
    try:
        return date(int(found["year"]), month, int(found["day"] or found["day2"]))
    except ValueError:
        return None


def date_timestamp(published: str | None) -> int | None:
    """Unix seconds of an ISO 8601 date or date-time (a date counts from midnight UTC).

    This is the number a store filters on (``published >= ...``); None when unknown.
    """
    if not published:
        return None
    parsed = _parse_date(published)
    if parsed is None:
        return None
    if not isinstance(parsed, datetime):
        parsed = datetime(parsed.year, parsed.month, parsed.day, tzinfo=UTC)
    elif parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters at a word boundary, with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:") + "…"


def clean_line(value: object, limit: int) -> str | None:
    """A string collapsed to one line and clipped; None for anything that is not text."""
    if not isinstance(value, str):
        return None
    line = re.sub(r"\s+", " ", value).strip()
    return clip(line, limit) if line else None


def clean_author(value: object) -> str | None:
    """A byline from a string, a list of strings, or ``{"name": ...}`` objects (JSON-LD).

    Names are joined by ``", "``; e-mail addresses are reduced to the name in
    ``jane@example.org (Jane Doe)`` or dropped; repeated names are kept once.
    """
    names: list[str] = []
    for item in _author_items(value, depth=0):
        for part in re.split(r"\s*[;|]\s*", html.unescape(item) if "&" in item else item):
            name = _author_name(part)
            if name and name.lower() not in {n.lower() for n in names}:
                names.append(name)
    if not names:
        return None
    return clip(", ".join(names), MAX_AUTHOR_CHARS)


def _author_items(value: object, depth: int) -> Iterator[str]:
    # Anything but text, a list of it or a {"name": text} object yields nothing.
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        name = value.get("name")
        if isinstance(name, str):
            yield name
    elif isinstance(value, list | tuple) and depth < 2:
        for item in value[:50]:
            yield from _author_items(item, depth + 1)


#: What content systems write where no one signed: not a byline.
_NO_AUTHOR = {"unknown", "anonymous", "admin", "administrator", "inconnu", "anonyme", "n/a", "none", "null"}


def _author_name(text: str) -> str | None:
    if "<" in text:  # markup in a feed's byline: <a href="/desk">Le Monde</a>
        text = html.unescape(re.sub(r"<[^>]*>", " ", text))
    text = re.sub(r"\s+", " ", text).strip()
    inner = re.fullmatch(r"\S+@\S+\s*\((.+)\)", text)
    if inner:
        text = inner[1].strip()
    if "@" in text and " " not in text or re.match(r"https?://", text):
        return None  # an address or a profile link, not a name
    text = re.sub(r"^(by|par)\s+", "", text, flags=re.IGNORECASE)
    if text.casefold() in _NO_AUTHOR:
        return None
    return text or None


def http_url(value: object, base: str | None = None) -> str | None:
    """An absolute http(s) URL (resolved against ``base`` if relative), or None."""
    if not isinstance(value, str):
        return None
    url = value.strip()
    if not url or len(url) > MAX_URL_CHARS or re.search(r"\s", url):
        return None
    if base:
        url = urljoin(base, url)
    parts = urlsplit(url)
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        return None
    return url


def clean_language(value: object) -> str | None:
    """A language tag such as ``fr`` or ``en-GB``, as given; None for anything else."""
    if isinstance(value, str) and re.fullmatch(r"[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8}){0,2}", value.strip()):
        return value.strip()
    return None


# --- mappings: front matter and sidecars ------------------------------------------------


def metadata_from_mapping(data: Mapping[str, Any], origin: str) -> ArticleMetadata:
    """Read front matter or a sidecar's keys (see :data:`MAPPING_KEYS`) into metadata.

    Args:
        data: the parsed keys.
        origin: names the source in log lines (``a.md front matter``).
    """
    values: dict[str, str | None] = {}
    for field_name, keys in MAPPING_KEYS.items():
        key = next((k for k in keys if data.get(k) not in (None, "", [])), None)
        if key is None:
            continue
        raw = data[key]
        if field_name == "title":
            value = clean_line(raw if not isinstance(raw, int | float) else str(raw), MAX_TITLE_CHARS)
        elif field_name == "url":
            value = http_url(raw)
        elif field_name == "published":
            value = normalise_date(raw)
        elif field_name == "author":
            value = clean_author(raw)
        elif field_name == "site":
            value = clean_line(raw, MAX_SITE_CHARS)
        else:
            value = clean_language(raw)
        if value is None:
            log.warning("%s: %s ignored (%s)", origin, key, _describe(raw))
        values[field_name] = value
    return ArticleMetadata(**values)


def _describe(value: object) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'…' if len(text) > 60 else ''}"


# --- HTML --------------------------------------------------------------------------------


def html_metadata(
    content: str, *, url: str | None = None, today: date | None = None, extracted: Any = None
) -> ArticleMetadata:
    """The metadata of an HTML page, preferring what the page states explicitly.

    Sources, first found wins: the publication date from ``article:published_time`` and
    similar meta tags, JSON-LD ``datePublished``, ``<time pubdate>`` or
    ``itemprop=datePublished``, the first ``<time datetime>``, then htmldate's reading of
    the markup (original date preferred). htmldate is never asked to guess from the URL
    or the text, and a date it finds that is today is dropped: a page that does not say
    when it was published has no date. The byline from JSON-LD, then trafilatura (meta
    tags, bylines); the outlet from ``og:site_name``, JSON-LD ``publisher``, then
    trafilatura; the link from ``<link rel=canonical>``, then ``og:url``.

    Args:
        content: the page's HTML.
        url: where the page was downloaded from, to resolve a relative canonical link.
        today: the present date, for the check above; the clock's by default.
        extracted: trafilatura's ``Document`` of this page with its metadata, when the
            caller has one (``bare_extraction(..., with_metadata=True)``): saves a pass.
    """
    from trafilatura import extract_metadata
    from trafilatura.utils import load_html

    try:
        tree = load_html(content)
        if tree is None:
            return ArticleMetadata()
        explicit = _explicit_metadata(tree, url)
    except Exception as error:  # noqa: BLE001 - metadata never costs the article its text
        log.warning("page metadata could not be read (%s)", error)
        return ArticleMetadata()
    found = extracted
    if found is None:
        try:
            # extensive=False keeps htmldate to the markup; its date is not used anyway.
            found = extract_metadata(load_html(content), default_url=None, extensive=False)
        except Exception as error:  # noqa: BLE001 - lxml and trafilatura raise many types on odd markup
            log.warning("page metadata could not be read (%s)", error)
            return explicit
    published = explicit.published or _inferred_date(tree, today or datetime.now(UTC).date())
    author = explicit.author or clean_author(found.author)
    site = explicit.site
    if not site and found.sitename and not _is_hostname(found.sitename, explicit.url or url):
        site = clean_line(found.sitename, MAX_SITE_CHARS)
    page_url = explicit.url or http_url(found.url, url)
    return ArticleMetadata(
        title=clean_line(found.title, MAX_TITLE_CHARS),
        url=page_url,
        published=published,
        author=author,
        site=site,
        language=None,
    )


def _explicit_metadata(tree: Any, base: str | None) -> ArticleMetadata:
    published = site = page_url = author = None
    for meta in tree.iterfind(".//meta"):
        key = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").strip().lower()
        content = meta.get("content")
        if not key or not content:
            continue
        if key in PUBLISHED_META and published is None:
            published = normalise_date(content)
        elif key in SITE_META and site is None:
            site = clean_line(content, MAX_SITE_CHARS)
        elif key == "og:url" and page_url is None:
            page_url = http_url(content, base)
    for link in tree.iterfind(".//link"):
        if "canonical" in (link.get("rel") or "").lower().split():
            page_url = http_url(link.get("href"), base) or page_url
            break
    for thing in _jsonld_articles(tree):
        published = published or normalise_date(thing.get("datePublished") or thing.get("dateCreated"))
        author = author or clean_author(thing.get("author") or thing.get("creator"))
        publisher = thing.get("publisher")
        if isinstance(publisher, Mapping):
            site = site or clean_line(publisher.get("name"), MAX_SITE_CHARS)
    if published is None:
        for element in tree.xpath('//*[@itemprop="datePublished"] | //time[@pubdate]'):
            published = normalise_date(element.get("datetime") or element.get("content"))
            if published:
                break
    if published is None:
        first = tree.xpath("(//article//time[@datetime] | //time[@datetime])[1]")
        if first:
            published = normalise_date(first[0].get("datetime"))
    return ArticleMetadata(url=page_url, published=published, author=author, site=site)


def _jsonld_articles(tree: Any) -> Iterator[Mapping[str, Any]]:
    for script in tree.xpath('//script[@type="application/ld+json"]'):
        try:
            data = json.loads(script.text or "")
        except (json.JSONDecodeError, RecursionError):
            continue
        yield from _jsonld_walk(data, depth=0)


def _jsonld_walk(data: object, depth: int) -> Iterator[Mapping[str, Any]]:
    if depth > 4:
        return
    if isinstance(data, list):
        for item in data[:50]:
            yield from _jsonld_walk(item, depth + 1)
    elif isinstance(data, Mapping):
        kind = data.get("@type")
        kinds = kind if isinstance(kind, list) else [kind]
        if any(isinstance(k, str) and JSONLD_ARTICLE.search(k) for k in kinds):
            yield data
        if "@graph" in data:
            yield from _jsonld_walk(data["@graph"], depth + 1)


def _inferred_date(tree: Any, today: date) -> str | None:
    from htmldate import find_date

    try:
        # No URL and no extensive search: a date in an address or in the text is a guess.
        found = find_date(tree, extensive_search=False, original_date=True)
    except Exception as error:  # noqa: BLE001 - htmldate parses dates in many ways; be defensive
        log.warning("page date could not be read (%s)", error)
        return None
    if found is None:
        return None
    if found == today.isoformat():
        log.info("page date %s dropped: it is today's and no metadata states it", found)
        return None
    return normalise_date(found)


def _is_hostname(name: str, url: str | None) -> bool:
    host = (urlsplit(url).hostname or "") if url else ""
    name = name.lower().removeprefix("www.")
    return bool(host) and name == host.lower().removeprefix("www.")
