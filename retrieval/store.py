"""The vector store: a Chroma collection, embedded under the data folder or on a server.

We supply every embedding (no Chroma embedding function, which would download a
model), use cosine space, and write in batches no larger than Chroma allows.
The embedding model's identity is kept in the collection's metadata.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from config import Settings
from retrieval.errors import StoreUnavailableError

log = logging.getLogger(__name__)

MODEL_KEY = "embedding_model"


@dataclass(frozen=True)
class StoredChunk:
    """A chunk as it comes back from the store."""

    id: str
    text: str
    metadata: dict[str, Any]
    similarity: float


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
        """The ``n`` chunks nearest to ``embedding``, most similar first."""
        collection = self._require()
        # No count() first: Chroma 1.x answers fewer results (or none) when n exceeds the
        # collection, and the extra round trip cost as much as the query itself.
        result = self._call(
            collection.query,
            query_embeddings=[embedding],
            n_results=n,
            include=["documents", "metadatas", "distances"],
        )
        return [
            StoredChunk(id=i, text=d or "", metadata=dict(m or {}), similarity=1.0 - float(dist))
            for i, d, m, dist in zip(
                result["ids"][0], result["documents"][0], result["metadatas"][0], result["distances"][0]
            )
        ]

    def get(self, ids: Sequence[str], embedding: np.ndarray | None = None) -> list[StoredChunk]:
        """Chunks by id; with ``embedding``, their cosine similarity to it."""
        if not ids:
            return []
        collection = self._require()
        include = ["documents", "metadatas"] + (["embeddings"] if embedding is not None else [])
        chunks = []
        for start in range(0, len(ids), self._max_batch):
            result = self._call(collection.get, ids=list(ids[start : start + self._max_batch]), include=include)
            similarities = [0.0] * len(result["ids"])
            if embedding is not None and len(result["ids"]):
                vectors = np.asarray(result["embeddings"], dtype=np.float32)
                similarities = (vectors @ np.asarray(embedding, dtype=np.float32)).tolist()
            chunks += [
                StoredChunk(id=chunk_id, text=text or "", metadata=dict(meta or {}), similarity=similarity)
                for chunk_id, text, meta, similarity in zip(
                    result["ids"], result["documents"], result["metadatas"], similarities
                )
            ]
        return chunks

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
