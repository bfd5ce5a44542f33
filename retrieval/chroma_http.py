"""A time limit on chromadb's HTTP client: a Chroma server that stops answering (paused, cut
off by the network, or anything else holding the port) fails a call instead of blocking it
for ever.

chromadb builds its ``httpx.Client`` with ``timeout=None`` inside its client class, and
accepts no client class of ours, so the ``httpx`` that module sees is given a default
timeout: only the clients chromadb's HTTP client makes are concerned. Imported when a
store on a server is opened (chromadb is heavy to import).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import httpx

#: Seconds to connect to the server, and to wait for any answer. Each call the store makes
#: is a bounded read or write (reads go by pages, writes by batches).
CONNECT_SECONDS = 5.0
ANSWER_SECONDS = 60.0


def _client(*args: Any, timeout: Any = None, **options: Any) -> httpx.Client:
    limit = httpx.Timeout(ANSWER_SECONDS, connect=CONNECT_SECONDS) if timeout is None else timeout
    return httpx.Client(*args, timeout=limit, **options)


def limit_requests() -> None:
    """Give chromadb's HTTP client a time limit on every request (idempotent)."""
    from chromadb.api import fastapi

    if getattr(fastapi.httpx, "citebot_limited", False):
        return
    fastapi.httpx = SimpleNamespace(
        **{name: getattr(httpx, name) for name in dir(httpx) if not name.startswith("__")}
    )
    fastapi.httpx.Client = _client
    fastapi.httpx.citebot_limited = True
