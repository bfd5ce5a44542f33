"""The vector store: Chroma collections, embedded under the data folder or on a server.

Two collections: the passages shown to users (``<name>``) and the sentences they
are matched by (``<name>-sentences``, each pointing to its passage). A passage's
own vector is the normalised mean of its sentences'. We supply every embedding
(no Chroma embedding function, which would download a model), use cosine space,
and write in batches no larger than Chroma allows. The embedding model's
identity is kept in both collections' metadata.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from config import Settings
from retrieval.errors import StoreUnavailableError
from retrieval.layout import DataFolder, passage_of, sentence_ids

log = logging.getLogger(__name__)

MODEL_KEY = "embedding_model"
T = TypeVar("T")


@dataclass(frozen=True)
class StoredSentence:
    """A matching unit (a sentence of a passage) and its similarity to the query."""

    id: str
    chunk_id: str
    text: str  # empty when the store was asked for ids and scores only
    similarity: float
    key: str = ""  # identifies the sentence's text (empty when not read), see sentence_key


@dataclass(frozen=True)
class StoredChunk:
    """A passage as it comes back from the store."""

    id: str
    text: str
    metadata: dict[str, Any]


class ChunkStore:
    """One Chroma collection of chunks, with their embeddings and citation metadata."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client = _connect(settings)
        self._collection: Any = None
        self._sentences: Any = None
        self.sentences_name = f"{settings.collection}-sentences"
        try:
            self._max_batch = int(self._client.get_max_batch_size())
        except Exception:  # noqa: BLE001 - older servers lack the call
            self._max_batch = 1000

    @property
    def where(self) -> str:
        """Where the store lives, for messages."""
        if self.settings.chroma_host:
            return f"Chroma server {self.settings.chroma_host}:{self.settings.chroma_port}"
        return str(DataFolder(self.settings.data_dir).chroma)

    def model_identity(self) -> str | None:
        """The embedding model the collection was built with, None if there is none."""
        collection = self._existing()
        if collection is None:
            return None
        return (collection.metadata or {}).get(MODEL_KEY)

    def open(self, model_identity: str) -> None:
        """Open (creating if needed) the collections for ``model_identity``."""
        self._collection, self._sentences = (
            self._call(
                self._client.get_or_create_collection,
                name,
                embedding_function=None,
                configuration={"hnsw": {"space": "cosine"}},
                metadata={MODEL_KEY: model_identity},
            )
            for name in (self.settings.collection, self.sentences_name)
        )

    def drop(self) -> None:
        """Delete both collections (for a rebuild)."""
        for name in (self.settings.collection, self.sentences_name):
            if self._existing(name) is not None:
                self._call(self._client.delete_collection, name)
        self._collection = self._sentences = None

    def count(self) -> int:
        collection = self._collection or self._existing()
        return 0 if collection is None else int(self._call(collection.count))

    def sentence_count(self) -> int:
        collection = self._sentences or self._existing(self.sentences_name)
        return 0 if collection is None else int(self._call(collection.count))

    def all_ids(self) -> set[str]:
        return {i for page in self._pages(self._require(), []) for i in page["ids"]}

    def upsert(
        self,
        ids: Sequence[str],
        embeddings: np.ndarray,
        documents: Sequence[str],
        metadatas: Sequence[dict[str, Any]],
    ) -> None:
        self._upsert(self._require(), ids, embeddings, documents, metadatas)

    def update_metadata(self, ids: Sequence[str], metadatas: Sequence[dict[str, Any]]) -> None:
        collection = self._require()
        for batch in self._batches(range(len(ids))):
            self._call(
                collection.update, ids=[ids[i] for i in batch], metadatas=[metadatas[i] for i in batch]
            )

    def upsert_sentences(
        self, ids: Sequence[str], embeddings: np.ndarray, documents: Sequence[str], chunk_ids: Sequence[str]
    ) -> None:
        metadatas = [{"chunk_id": c, "key": sentence_key(t)} for c, t in zip(chunk_ids, documents)]
        self._upsert(self._require_sentences(), ids, embeddings, documents, metadatas)

    def _upsert(
        self,
        collection: Any,
        ids: Sequence[str],
        embeddings: np.ndarray,
        documents: Sequence[str],
        metadatas: Sequence[dict[str, Any]],
    ) -> None:
        for batch in self._batches(range(len(ids))):
            self._call(
                collection.upsert,
                ids=[ids[i] for i in batch],
                embeddings=embeddings[batch.start : batch.stop],
                documents=[documents[i] for i in batch],
                metadatas=[metadatas[i] for i in batch],
            )

    def delete(self, ids: Sequence[str]) -> None:
        """Delete passages and their sentences.

        Passages go first: a process killed in between leaves sentences without a
        passage (found and removed by the next run), never a passage without its
        sentences, which no question could reach. Writes go the other way round
        (``indexer._embed_batch``), so a stored passage always has all its sentences.
        """
        collection = self._require()
        sentences = self._require_sentences()
        for batch in self._batches(list(ids)):
            self._call(collection.delete, ids=batch)
            self._call(sentences.delete, where={"chunk_id": {"$in": batch}})

    def orphan_sentences(self, chunk_ids: set[str]) -> list[str]:
        """Ids of stored sentences whose passage is not in ``chunk_ids``."""
        return [
            i
            for page in self._pages(self._require_sentences(), ["metadatas"])
            for i, m in zip(page["ids"], page["metadatas"])
            if (m or {}).get("chunk_id") not in chunk_ids
        ]

    def delete_sentences(self, ids: Sequence[str]) -> None:
        collection = self._require_sentences()
        for batch in self._batches(list(ids)):
            self._call(collection.delete, ids=batch)

    def query_sentences(self, embedding: np.ndarray, n: int) -> list[StoredSentence]:
        """The ``n`` sentences nearest to ``embedding``, most similar first.

        Ids and scores only: a sentence id names its passage (``PASSAGE.N``), and
        reading documents or metadata is most of what a Chroma query costs (at 250k
        sentences, 6.3 ms for 120 results against 1.8 ms); only the passages shown
        need their sentences' text (see :meth:`sentence_texts`).
        """
        collection = self._require_sentences()
        result = self._call(
            collection.query, query_embeddings=[embedding], n_results=n, include=["distances"]
        )
        return [
            _sentence(i, None, 1.0 - float(dist)) for i, dist in zip(result["ids"][0], result["distances"][0])
        ]

    def sentence_vectors(self) -> tuple[list[str], np.ndarray]:
        """Every stored sentence's passage id and vector (for analysis; reads the whole collection)."""
        passages: list[str] = []
        vectors: list[np.ndarray] = []
        for page in self._pages(self._require_sentences(), ["embeddings"]):
            passages.extend(passage_of(i) for i in page["ids"])
            vectors.append(np.asarray(page["embeddings"], dtype=np.float32).reshape(len(page["ids"]), -1))
        return passages, np.vstack(vectors) if vectors else np.zeros((0, 0), np.float32)

    def sentence_texts(self, ids: Sequence[str]) -> dict[str, str]:
        """``{sentence id: text}`` for the given sentences."""
        if not ids:
            return {}
        result = self._call(self._require_sentences().get, ids=list(ids), include=["documents"])
        return {i: d or "" for i, d in zip(result["ids"], result["documents"])}

    def sentences_counted(self, counts: dict[str, int], embedding: np.ndarray) -> list[StoredSentence]:
        """Every sentence of the passages in ``{passage id: sentence count}``, with its
        similarity to ``embedding`` (text left out): a lookup by id, no filter scan."""
        ids = [s for chunk_id, count in counts.items() for s in sentence_ids(chunk_id, count)]
        if not ids:
            return []
        result = self._call(self._require_sentences().get, ids=ids, include=["embeddings"])
        return _scored(result, embedding)

    def sentences_of(self, chunk_ids: Sequence[str], embedding: np.ndarray) -> list[StoredSentence]:
        """Every sentence of the given passages, with its similarity to ``embedding``."""
        if not chunk_ids:
            return []
        collection = self._require_sentences()
        result = self._call(
            collection.get,
            where={"chunk_id": {"$in": list(chunk_ids)}},
            include=["documents", "metadatas", "embeddings"],
        )
        return _scored(result, embedding)

    def get(self, ids: Sequence[str]) -> list[StoredChunk]:
        """Passages by id, with their text and citation metadata."""
        return [StoredChunk(id=i, text=t, metadata=m) for i, (t, m) in self._texts(ids).items()]

    def _texts(self, ids: Sequence[str]) -> dict[str, tuple[str, dict[str, Any]]]:
        """``{id: (text, metadata)}`` of the stored ``ids``, in the order Chroma returns them."""
        collection = self._require()
        out: dict[str, tuple[str, dict[str, Any]]] = {}
        for batch in self._batches(list(ids)):
            result = self._call(collection.get, ids=batch, include=["documents", "metadatas"])
            for chunk_id, text, meta in zip(result["ids"], result["documents"], result["metadatas"]):
                out[chunk_id] = (text or "", dict(meta or {}))
        return out

    def _batches(self, items: Sequence[T]) -> Iterator[Sequence[T]]:
        """``items`` in slices no larger than the server accepts in one call."""
        for start in range(0, len(items), self._max_batch):
            yield items[start : start + self._max_batch]

    def _pages(self, collection: Any, include: list[str]) -> Iterator[dict[str, Any]]:
        """Every record of ``collection``, a page at a time."""
        offset = 0
        while True:
            page = self._call(collection.get, include=include, limit=self._max_batch, offset=offset)
            yield page
            if len(page["ids"]) < self._max_batch:
                return
            offset += self._max_batch

    def _existing(self, name: str | None = None) -> Any:
        try:
            return self._call(
                self._client.get_collection, name or self.settings.collection, embedding_function=None
            )
        except StoreUnavailableError:
            raise
        except Exception:  # noqa: BLE001 - "does not exist" is raised as several types across versions
            return None

    def _require(self) -> Any:
        if self._collection is None:
            self._collection = self._existing()
        if self._collection is None:
            raise StoreUnavailableError(f"no index in {self.where}; run `citebot index` first")
        return self._collection

    def _require_sentences(self) -> Any:
        if self._sentences is None:
            self._sentences = self._existing(self.sentences_name)
        if self._sentences is None:
            raise StoreUnavailableError(f"no index in {self.where}; run `citebot index` first")
        return self._sentences

    def _call(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except Exception as error:
            if _is_connection_error(error):
                raise StoreUnavailableError(f"cannot reach {self.where}: {_short(error)}") from None
            raise


def _sentence(
    sentence_id: str, meta: dict[str, Any] | None, similarity: float, text: str = ""
) -> StoredSentence:
    meta = meta or {}
    return StoredSentence(
        id=sentence_id,
        chunk_id=str(meta.get("chunk_id") or passage_of(sentence_id)),
        text=text,
        similarity=similarity,
        key=str(meta.get("key") or (sentence_key(text) if text else "")),
    )


def _scored(result: Any, embedding: np.ndarray) -> list[StoredSentence]:
    """The sentences of a ``get`` that included embeddings, scored against ``embedding``
    (with their text when the ``get`` included documents)."""
    if not len(result["ids"]):
        return []
    sims = np.asarray(result["embeddings"], dtype=np.float32) @ np.asarray(embedding, dtype=np.float32)
    documents = result.get("documents") or [""] * len(result["ids"])
    metadatas = result.get("metadatas") or [None] * len(result["ids"])
    return [
        _sentence(i, m, float(sim), d or "")
        for i, m, sim, d in zip(result["ids"], metadatas, sims.tolist(), documents)
    ]


def sentence_key(text: str) -> str:
    """A short digest of a sentence's text."""
    return hashlib.sha1(text.casefold().encode()).hexdigest()[:16]


def _connect(settings: Settings) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_host:
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
