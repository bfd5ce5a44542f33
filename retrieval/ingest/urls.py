"""Telling when two URLs name the same article: tracking parameters off, one spelling.

``clean_url`` is the address worth keeping (it is what a citation shows); ``url_key``
is the address reduced further to compare with others: the same story reached through
an RSS and an Atom feed, with ``?utm_source=...`` or without, over http or https, with
or without ``www.``, has one key.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

log = logging.getLogger(__name__)

#: Query parameters that only say where a click came from. courlan removes most of
#: them (utm_*, fbclid, gclid, ref, ...); these are the ones it keeps.
TRACKING_PARAMS = frozenset(
    {
        "cmp",
        "cmpid",
        "ocid",
        "smid",
        "smtyp",
        "spm",
        "icid",
        "ito",
        "trk",
        "trkcampaign",
        "soc_src",
        "soc_trk",
        "sr_share",
        "s_kwcid",
        "hsctatracking",
        "__twitter_impression",
        "action_object_map",
        "action_type_map",
        "action_ref_map",
        "wt.mc_id",
        "wt_mc",
        "rss",
        "amp",
    }
)
TRACKING_PREFIXES = ("utm_", "_hs", "mc_", "pk_", "mtm_", "fb_", "ns_", "at_", "oly_", "vero_", "mkt_", "wt.")
#: Parameters that say where a click came from only when their value is such a place
#: (``?from=rss``, ``?src=newsletter``; ``?from=2020`` is kept).
SOURCE_PARAMS = frozenset({"from", "src", "source", "origin", "via", "ref_src"})
SOURCE_VALUES = frozenset(
    {"rss", "feed", "feeds", "atom", "newsletter", "email", "mail", "twitter", "facebook", "social", "push"}
)


def clean_url(url: str) -> str:
    """``url`` without tracking parameters or fragment, its host and scheme in lower case.

    Also drops a default port and sorts the query, via courlan's ``normalize_url``.
    A URL that cannot be parsed comes back stripped of whitespace only.
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k, v)]
        url = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query, doseq=True), ""))
    except ValueError:
        return url
    from courlan import normalize_url

    try:
        normalised = normalize_url(url, strict=False, trailing_slash=True)
    except (ValueError, AttributeError) as error:  # courlan's own parse of odd input
        log.debug("courlan could not normalise %s (%s)", url, error)
        return url
    return normalised.split("#", 1)[0]


def url_key(url: str) -> str:
    """The address to compare by: :func:`clean_url` without scheme, ``www.`` or final slash."""
    cleaned = clean_url(url)
    parts = urlsplit(cleaned)
    host = (parts.hostname or "").removeprefix("www.")
    if parts.port:
        host += f":{parts.port}"
    path = re.sub(r"/+$", "", parts.path) or ""
    return host + path + (f"?{parts.query}" if parts.query else "")


def _is_tracking(name: str, value: str = "") -> bool:
    name = name.lower()
    if name in SOURCE_PARAMS:
        return value.lower() in SOURCE_VALUES
    return name in TRACKING_PARAMS or name.startswith(TRACKING_PREFIXES)
