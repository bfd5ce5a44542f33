"""The vector store: a Chroma collection, embedded under the data folder or on a server.

We supply every embedding (no Chroma embedding function, which would download a
model), use cosine space, and write in batches no larger than Chroma allows.
The embedding model's identity is kept in the collection's metadata.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from config import Settings
from retrieval.errors import StoreUnavailableError

log = logging.getLogger(__name__)

MODEL_KEY = "embedding_model"


class StoredChunk:
    """A chunk as it comes back from the store.

    ``query`` and ``get(..., embedding=...)`` return chunks whose text and metadata
    are fetched only when first read: ranking needs ids and similarities, and
    reading documents and metadata is most of what a Chroma call costs (4 of 5 ms
    for 40 results at 10k passages). :meth:`ChunkStore.load_texts` fetches them for
    the few chunks an answer shows in one call; a chunk read before that fetches
    the text of every chunk of its call at once, so correctness never depends on it.
    """

    __slots__ = ("id", "similarity", "_text", "_metadata", "_batch")

    def __init__(
        self,
        id: str,  # noqa: A002 - the public field name
        text: str | None = "",
        metadata: dict[str, Any] | None = None,
        similarity: float = 0.0,
        batch: _TextBatch | None = None,
    ) -> None:
        self.id = id
        self.similarity = similarity
        self._text = text
        self._metadata = metadata if metadata is not None or batch is not None else {}
        self._batch = batch if text is None else None

    @property
    def text(self) -> str:
        if self._batch is not None:
            self._batch.load()
        return self._text or ""

    @property
    def metadata(self) -> dict[str, Any]:
        if self._batch is not None:
            self._batch.load()
        return self._metadata or {}

    def __repr__(self) -> str:
        return f"StoredChunk(id={self.id!r}, similarity={self.similarity:.4f})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StoredChunk):
            return NotImplemented
        return (self.id, self.text, self.metadata, self.similarity) == (
            other.id, other.text, other.metadata, other.similarity
        )

    __hash__ = None  # type: ignore[assignment]


class _TextBatch:
    """The chunks of one store call whose text is still to be fetched."""

    def __init__(self, store: ChunkStore) -> None:
        self.store = store
        self.chunks: list[StoredChunk] = []

    def load(self) -> None:
        self.store.load_texts([c for c in self.chunks if c._batch is self])


class ChunkStore:
    """One Chroma collection of chunks, with their embeddings and citation metadata."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client = _connect(settings)
        self._collection: Any = None
        try:
            self._max_batch = int(self._client.get_max_batch_size())
        except Exception:  # older servers lack the call
            self._max_batch = 1000

    @property
    def where(self) -> str:
        """Where the store lives, for messages."""
        if self.settings.chroma_host:
            return f"Chroma server {self.settings.chroma_host}:{self.settings.chroma_port}"
        return f"{self.settings.data_dir / 'chroma'}"

    def model_identity(self) -> str | None:
        """The embedding model the collection was built with, None if there is none."""
        collection = self._existing()
        if collection is None:
            return None
        return (collection.metadata or {}).get(MODEL_KEY)

    def open(self, model_identity: str) -> None:
        """Open (creating if needed) the collection for ``model_identity``."""
        self._collection = self._call(
            self._client.get_or_create_collection,
            self.settings.collection,
            embedding_function=None,
            configuration={"hnsw": {"space": "cosine"}},
            metadata={MODEL_KEY: model_identity},
        )

    def drop(self) -> None:
        """Delete the whole collection (for a rebuild)."""
        if self._existing() is not None:
            self._call(self._client.delete_collection, self.settings.collection)
        self._collection = None

    def count(self) -> int:
        collection = self._collection or self._existing()
        return 0 if collection is None else int(self._call(collection.count))

    def all_ids(self) -> set[str]:
        collection = self._require()
        ids: set[str] = set()
        offset = 0
        while True:
            page = self._call(collection.get, include=[], limit=self._max_batch, offset=offset)
            ids.update(page["ids"])
            if len(page["ids"]) < self._max_batch:
                return ids
            offset += self._max_batch

    def existing(self, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` are already stored."""
        collection = self._require()
        found: set[str] = set()
        for start in range(0, len(ids), self._max_batch):
            page = self._call(collection.get, ids=list(ids[start : start + self._max_batch]), include=[])
            found.update(page["ids"])
        return found

    def upsert(
        self,
        ids: Sequence[str],
        embeddings: np.ndarray,
        documents: Sequence[str],
        metadatas: Sequence[dict[str, Any]],
    ) -> None:
        collection = self._require()
        for start in range(0, len(ids), self._max_batch):
            end = start + self._max_batch
            self._call(
                collection.upsert,
                ids=list(ids[start:end]),
                embeddings=embeddings[start:end],
                documents=list(documents[start:end]),
                metadatas=list(metadatas[start:end]),
            )

    def update_metadata(self, ids: Sequence[str], metadatas: Sequence[dict[str, Any]]) -> None:
        collection = self._require()
        for start in range(0, len(ids), self._max_batch):
            end = start + self._max_batch
            self._call(collection.update, ids=list(ids[start:end]), metadatas=list(metadatas[start:end]))

    def delete(self, ids: Sequence[str]) -> None:
        collection = self._require()
        for start in range(0, len(ids), self._max_batch):
            self._call(collection.delete, ids=list(ids[start : start + self._max_batch]))

    def query(self, embedding: np.ndarray, n: int) -> list[StoredChunk]:
        """The ``n`` chunks nearest to ``embedding``, most similar first (text fetched when read)."""
        collection = self._require()
        # No count() first: Chroma 1.x answers fewer results (or none) when n exceeds the
        # collection, and the extra round trip cost as much as the query itself.
        result = self._call(collection.query, query_embeddings=[embedding], n_results=n, include=["distances"])
        batch = _TextBatch(self)
        batch.chunks = [
            StoredChunk(id=i, text=None, similarity=1.0 - float(dist), batch=batch)
            for i, dist in zip(result["ids"][0], result["distances"][0])
        ]
        return batch.chunks

    def get(self, ids: Sequence[str], embedding: np.ndarray | None = None) -> list[StoredChunk]:
        """Chunks by id; with ``embedding``, their cosine similarity to it (text fetched when read)."""
        if not ids:
            return []
        if embedding is None:
            return [StoredChunk(id=i, text=t, metadata=m) for i, (t, m) in self._texts(ids).items()]
        collection = self._require()
        query = np.asarray(embedding, dtype=np.float32)
        batch = _TextBatch(self)
        for start in range(0, len(ids), self._max_batch):
            result = self._call(collection.get, ids=list(ids[start : start + self._max_batch]), include=["embeddings"])
            if not len(result["ids"]):
                continue
            similarities = (np.asarray(result["embeddings"], dtype=np.float32) @ query).tolist()
            batch.chunks += [
                StoredChunk(id=i, text=None, similarity=similarity, batch=batch)
                for i, similarity in zip(result["ids"], similarities)
            ]
        return batch.chunks

    def load_texts(self, chunks: Iterable[StoredChunk]) -> None:
        """Fetch the text and metadata of those of ``chunks`` that lack them, in one call."""
        wanted = [chunk for chunk in chunks if chunk._batch is not None]
        if not wanted:
            return
        found = self._texts([chunk.id for chunk in wanted])
        for chunk in wanted:
            chunk._text, chunk._metadata = found.get(chunk.id, ("", {}))
            chunk._batch = None

    def _texts(self, ids: Sequence[str]) -> dict[str, tuple[str, dict[str, Any]]]:
        """``{id: (text, metadata)}`` of the stored ``ids``, in the order Chroma returns them."""
        collection = self._require()
        out: dict[str, tuple[str, dict[str, Any]]] = {}
        for start in range(0, len(ids), self._max_batch):
            result = self._call(
                collection.get, ids=list(ids[start : start + self._max_batch]), include=["documents", "metadatas"]
            )
            for chunk_id, text, meta in zip(result["ids"], result["documents"], result["metadatas"]):
                out[chunk_id] = (text or "", dict(meta or {}))
        return out

    def _existing(self) -> Any:
        try:
            return self._call(self._client.get_collection, self.settings.collection, embedding_function=None)
        except StoreUnavailableError:
            raise
        except Exception:  # "does not exist" is raised as several types across versions
            return None

    def _require(self) -> Any:
        if self._collection is None:
            self._collection = self._existing()
        if self._collection is None:
            raise StoreUnavailableError(f"no index in {self.where}; run `citebot index` first")
        return self._collection

    def _call(self, function: Any, *args: Any, **kwargs: Any) -> Any:
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
        try:
            return chromadb.HttpClient(
                host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings
            )
        except Exception as error:
            raise StoreUnavailableError(
                f"cannot reach Chroma server {settings.chroma_host}:{settings.chroma_port}: {_short(error)}"
            ) from None
    path = settings.data_dir / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


def _is_connection_error(error: BaseException) -> bool:
    names = {type(e).__name__ for e in _chain(error)}
    text = str(error).lower()
    return bool(
        names & {"ConnectError", "ConnectionError", "ConnectTimeout", "ReadTimeout", "RemoteProtocolError"}
        or "could not connect" in text
        or "connection refused" in text
    )


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _short(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__
