"""One connection to Chroma, embedded under the data folder or on a server.

Everything the other storage modules do with Chroma goes through :class:`Chroma`:
writes batched to what the server accepts, reads paged, and any failure to reach
a server turned into :class:`StoreUnavailableError` with one line naming it. We
supply every embedding (no Chroma embedding function, which would download a
model). Records that are never searched by vector (passages, catalog entries,
words, library records) carry a tiny vector derived from their id: Chroma needs
one, and a 2-dimensional one costs nothing to index.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

import numpy as np

from config import Settings
from retrieval.errors import StoreUnavailableError
from retrieval.layout import DataFolder

log = logging.getLogger(__name__)

T = TypeVar("T")
#: Chroma's limits on a collection name.
NAME_CHARS = (3, 512)


def placeholder_vectors(ids: Sequence[str], dimension: int = 2) -> np.ndarray:
    """A distinct unit vector per id (in the plane of the first two axes), for records never
    searched by vector."""
    vectors = np.zeros((len(ids), dimension), np.float32)
    if ids:
        angles = (
            np.array([int(hashlib.sha1(i.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF for i in ids])
            * 2
            * np.pi
        )
        vectors[:, 0], vectors[:, 1] = np.cos(angles), np.sin(angles)
    return vectors


class Chroma:
    """A Chroma client for ``settings``: embedded in the data folder, or a server.

    Raises:
        StoreUnavailableError: the server cannot be reached.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = _connect(settings)
        try:
            self.max_batch = int(self.client.get_max_batch_size())
        except Exception:  # noqa: BLE001 - older servers lack the call
            self.max_batch = 1000

    @property
    def where(self) -> str:
        """Where the store lives, for messages."""
        if self.settings.chroma_host:
            return f"Chroma server {self.settings.chroma_host}:{self.settings.chroma_port}"
        return str(DataFolder(self.settings.data_dir).chroma)

    def existing(self, name: str) -> Any:
        """The collection ``name``, or None when there is none."""
        try:
            return self.call(self.client.get_collection, name, embedding_function=None)
        except StoreUnavailableError:
            raise
        except Exception:  # noqa: BLE001 - "does not exist" is raised as several types across versions
            return None

    def open(self, name: str, metadata: dict[str, Any] | None = None) -> Any:
        """The collection ``name``, created (cosine space) when missing."""
        return self.call(
            self.client.get_or_create_collection,
            name,
            embedding_function=None,
            configuration={"hnsw": {"space": "cosine"}},
            metadata=metadata,
        )

    def drop(self, name: str) -> None:
        if self.existing(name) is not None:
            self.call(self.client.delete_collection, name)

    def names(self) -> list[str]:
        """Every collection's name."""
        return [getattr(c, "name", c) for c in self.call(self.client.list_collections)]

    def batches(self, items: Sequence[T]) -> Iterator[Sequence[T]]:
        """``items`` in slices no larger than the server accepts in one call."""
        for start in range(0, len(items), self.max_batch):
            yield items[start : start + self.max_batch]

    def pages(
        self, collection: Any, include: list[str], where: dict[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every record of ``collection`` (matching ``where``), a page at a time."""
        offset = 0
        while True:
            page = self.call(
                collection.get, include=include, where=where, limit=self.max_batch, offset=offset
            )
            yield page
            if len(page["ids"]) < self.max_batch:
                return
            offset += self.max_batch

    def get(self, collection: Any, ids: Sequence[str], include: list[str]) -> dict[str, list[Any]]:
        """Records by id, in batches; the result's lists hold every batch's answers."""
        out: dict[str, list[Any]] = {"ids": [], **{key: [] for key in include}}
        for batch in self.batches(list(ids)):
            result = self.call(collection.get, ids=list(batch), include=include)
            out["ids"].extend(result["ids"])
            for key in include:
                out[key].extend(result[key] if result.get(key) is not None else [None] * len(result["ids"]))
        return out

    def upsert(
        self,
        collection: Any,
        ids: Sequence[str],
        embeddings: np.ndarray | None,
        documents: Sequence[str] | None,
        metadatas: Sequence[dict[str, Any]],
    ) -> None:
        """Write records in batches; ``embeddings=None`` gives them placeholder vectors."""
        vectors = placeholder_vectors(ids) if embeddings is None else embeddings
        for batch in self.batches(range(len(ids))):
            self.call(
                collection.upsert,
                ids=[ids[i] for i in batch],
                embeddings=vectors[batch.start : batch.stop],
                documents=None if documents is None else [documents[i] for i in batch],
                metadatas=[metadatas[i] for i in batch],
            )

    def update(self, collection: Any, ids: Sequence[str], metadatas: Sequence[dict[str, Any]]) -> None:
        for batch in self.batches(range(len(ids))):
            self.call(collection.update, ids=[ids[i] for i in batch], metadatas=[metadatas[i] for i in batch])

    def delete(self, collection: Any, ids: Sequence[str]) -> None:
        for batch in self.batches(list(ids)):
            self.call(collection.delete, ids=list(batch))

    def call(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        """``function(*args, **kwargs)``, with a server that cannot be reached as one clear error."""
        try:
            return function(*args, **kwargs)
        except Exception as error:
            if _is_connection_error(error):
                raise StoreUnavailableError(f"cannot reach {self.where}: {_short(error)}") from None
            raise


def _connect(settings: Settings) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_host:
        from retrieval.chroma_http import limit_requests

        limit_requests()  # a server that stops answering fails a call instead of blocking it
        try:
            return chromadb.HttpClient(
                host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings
            )
        except Exception as error:  # noqa: BLE001 - whatever the client raises, the server is unusable
            raise StoreUnavailableError(
                f"cannot reach Chroma server {settings.chroma_host}:{settings.chroma_port}: {_short(error)}"
            ) from None
    path = DataFolder(settings.data_dir).chroma
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


#: The errors (by class, through the chain of causes) of a server that cannot be reached or
#: did not answer in time.
_UNREACHABLE = {
    "ConnectError", "ConnectionError", "RemoteProtocolError",
    "ConnectTimeout", "ReadTimeout", "WriteTimeout", "PoolTimeout",
}  # fmt: skip


def _is_connection_error(error: BaseException) -> bool:
    names = {type(e).__name__ for e in _chain(error)}
    text = str(error).lower()
    return bool(names & _UNREACHABLE or "could not connect" in text or "connection refused" in text)


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _short(error: BaseException) -> str:
    if any(type(e).__name__ in {"ReadTimeout", "WriteTimeout", "PoolTimeout"} for e in _chain(error)):
        from retrieval.chroma_http import ANSWER_SECONDS

        return f"it did not answer within {ANSWER_SECONDS:g} s"
    if any(type(e).__name__ == "ConnectTimeout" for e in _chain(error)):
        from retrieval.chroma_http import CONNECT_SECONDS

        return f"no connection within {CONNECT_SECONDS:g} s"
    text = str(error).strip().splitlines()
    if text and text[0].lstrip().startswith("<"):  # a web page: something else holds the port
        return "it answers, but not as a Chroma server (is CITEBOT_CHROMA_PORT right?)"
    return text[0][:200] if text else type(error).__name__
