"""The articles already in the folder, by every address and text hash they are known by.

Read from the sidecars (``NAME.meta.json``) of the articles folder, so an article counts
however it arrived: saved by a feed poll (whose sidecar lists every address the article
was reached by, and the hash of its text) or added with ``/add url:`` (whose sidecar
names its URL). A file in the folder is never replaced by an article of another name:
:meth:`KnownArticles.free_name` picks a name that is not taken.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from retrieval.articles import SIDECAR_SUFFIX
from retrieval.ingest.urls import url_key

log = logging.getLogger(__name__)

#: Sidecar keys that hold addresses of the article.
URL_KEYS = ("url", "source_url", "canonical_url", "item_url")
#: Shorter texts are not compared by hash: a stub ("Subscribe to read") is not a story.
MIN_HASHED_CHARS = 200


def text_sha256(text: str) -> str | None:
    """The hash two copies of a story share: of its normalised text; None for a stub."""
    if len(text) < MIN_HASHED_CHARS:
        return None
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class KnownArticles:
    """Addresses (by :func:`url_key`) and text hashes of the saved articles, to their file names."""

    def __init__(self) -> None:
        self.by_url: dict[str, str] = {}
        self.by_hash: dict[str, str] = {}
        self.by_item: dict[str, str] = {}  # a feed item's guid (or hash), for items with no link
        self.names: set[str] = set()

    @classmethod
    def from_folder(cls, folder: Path) -> KnownArticles:
        """Read every sidecar of ``folder`` (a missing folder knows nothing)."""
        known = cls()
        try:
            with os.scandir(folder) as listing:
                names = {entry.name for entry in listing}
        except FileNotFoundError:
            return known
        known.names = names
        for sidecar in sorted(n for n in names if n.endswith(SIDECAR_SUFFIX)):
            article = sidecar.removesuffix(SIDECAR_SUFFIX)
            if article not in names:
                continue  # a sidecar left behind by a deleted article
            try:
                data = json.loads((folder / sidecar).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
                log.debug("%s: not read for duplicates (%s)", sidecar, error)
                continue
            if isinstance(data, dict):
                known.add(article, _urls(data), data.get("text_sha256"), data.get("feed_item"))
        return known

    def find(self, urls: Iterable[str | None] = (), text_hash: str | None = None) -> str | None:
        """The file name of the article known by one of ``urls`` or by ``text_hash``, if any."""
        for url in urls:
            if url and (name := self.by_url.get(url_key(url))):
                return name
        if text_hash:
            return self.by_hash.get(text_hash)
        return None

    def add(
        self, name: str, urls: Iterable[str | None], text_hash: object = None, item: object = None
    ) -> None:
        """Record an article saved as ``name`` (from the feed item ``item``, if it was)."""
        self.names.add(name)
        self.names.add(name + SIDECAR_SUFFIX)
        if isinstance(item, str) and item:
            self.by_item.setdefault(item, name)
        for url in urls:
            if url:
                self.by_url.setdefault(url_key(url), name)
        if isinstance(text_hash, str) and text_hash:
            self.by_hash.setdefault(text_hash, name)

    def find_item(self, key: str) -> str | None:
        """The file name of the article saved from the feed item ``key``, if any."""
        return self.by_item.get(key)

    def free_name(self, name: str, salt: str) -> str:
        """``name``, or ``name`` with a short hash of ``salt`` when a file already has it."""
        if name not in self.names:
            return name
        stem, dot, suffix = name.rpartition(".")
        digest = hashlib.sha256(salt.encode()).hexdigest()
        for start in range(0, 56, 8):
            candidate = f"{stem[:71]}-{digest[start : start + 8]}{dot}{suffix}"
            if candidate not in self.names:
                return candidate
        raise RuntimeError(f"no free file name for {name}")  # 7 hash collisions in a row


def _urls(data: dict[str, object]) -> list[str]:
    urls = [value for key in URL_KEYS if isinstance(value := data.get(key), str)]
    links = data.get("links")
    if isinstance(links, list):
        urls.extend(link for link in links if isinstance(link, str))
    return urls
