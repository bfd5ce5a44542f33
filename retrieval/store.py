"""One library's records in Chroma: passages, their sentences, its catalog and its words.

Five collections per library (names in :func:`retrieval.layout.collections`):

- ``sentences``: what a question is matched against. Each sentence's vector, its
  text, and its passage id (also in the id itself, ``PASSAGE.N``).
- ``passages``: what is shown. Text and citation metadata; no vector is searched.
- ``articles``: the catalog (:class:`retrieval.catalog.ArticleEntry` per article, with
  its passages' BM25 rows; tombstones for removed ones).
- ``terms``: the library's BM25 vocabulary, in blocks of consecutive term ids.
- ``vectors``: each passage's sentence vectors again, in one record (base64 float32 in
  its metadata): what a search reads of its BM25 candidates while it embeds the question,
  one record a passage instead of one a sentence (``benchmarks/README.md``). A passage
  without one (an index written before them) is read by its sentences instead.

Sentences and vectors are written before their passage and deleted after it, so a stored
passage always has every sentence; an article's catalog entry is written after
its passages, so a search never shows a passage half-written.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from retrieval.catalog import ArticleEntry, tombstone
from retrieval.chroma import Chroma, placeholder_vectors
from retrieval.errors import StoreUnavailableError
from retrieval.layout import Collections, passage_of, sentence_ids, sentence_number

log = logging.getLogger(__name__)

MODEL_KEY = "embedding_model"
VECTORS_KEY = "vectors"
#: How long a search goes on reading sentence by sentence before it looks again for a
#: vectors collection it did not find (an index written before them, until the writer fills it).
ABSENT_SECONDS = 60.0


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


@dataclass(frozen=True)
class CatalogRecords:
    """A library's catalog as stored: live entries and removed names."""

    entries: dict[str, ArticleEntry]
    removed: set[str]


class LibraryStore:
    """The collections of one library.

    Args:
        chroma: the connection.
        names: the library's collection names.
    """

    def __init__(self, chroma: Chroma, names: Collections) -> None:
        self.chroma = chroma
        self.names = names
        self._collections: dict[str, Any] = {}
        self._dimension: int | None = None
        self._absent: dict[str, float] = {}

    @property
    def where(self) -> str:
        return self.chroma.where

    def exists(self) -> bool:
        """Whether the library's passages are stored (on disk or on the server)."""
        return self.chroma.existing(self.names.passages) is not None

    def model_identity(self) -> str | None:
        """The embedding model the passages were written with (stored by indexes that predate
        the library records), None if there are none."""
        collection = self.chroma.existing(self.names.passages)
        return None if collection is None else (collection.metadata or {}).get(MODEL_KEY)

    def open(self, model_identity: str) -> None:
        """Open (creating if needed) the library's collections."""
        for name in self._names:
            self._collections[name] = self.chroma.open(name, {MODEL_KEY: model_identity})

    def drop(self) -> None:
        """Delete the library's collections (a rebuild, another model)."""
        for name in self._names:
            self.chroma.drop(name)
        self._collections.clear()
        self._dimension = None

    # --- passages ----------------------------------------------------------------------

    def count(self) -> int:
        collection = self._existing(self.names.passages)
        return 0 if collection is None else int(self.chroma.call(collection.count))

    def all_ids(self) -> set[str]:
        return {i for page in self.chroma.pages(self._require(self.names.passages), []) for i in page["ids"]}

    def upsert(
        self, ids: Sequence[str], documents: Sequence[str], metadatas: Sequence[dict[str, Any]]
    ) -> None:
        """Store passages (text and metadata; their sentences must be stored first)."""
        collection = self._require(self.names.passages)
        vectors = placeholder_vectors(ids, self._passage_dimension(collection))
        self.chroma.upsert(collection, ids, vectors, documents, metadatas)

    def update_metadata(self, ids: Sequence[str], metadatas: Sequence[dict[str, Any]]) -> None:
        self.chroma.update(self._require(self.names.passages), ids, metadatas)

    def get(self, ids: Sequence[str]) -> list[StoredChunk]:
        """Passages by id, with their text and citation metadata."""
        result = self.chroma.get(self._require(self.names.passages), ids, ["documents", "metadatas"])
        return [
            StoredChunk(id=i, text=text or "", metadata=dict(meta or {}))
            for i, text, meta in zip(result["ids"], result["documents"], result["metadatas"])
        ]

    def delete(self, ids: Sequence[str]) -> None:
        """Delete passages and their sentences.

        Passages go first: a process killed in between leaves sentences without a
        passage (found and removed by the next run), never a passage without its
        sentences, which no question could reach.
        """
        passages = self._require(self.names.passages)
        sentences = self._require(self.names.sentences)
        vectors = self._existing(self.names.vectors)
        for batch in self.chroma.batches(list(ids)):
            self.chroma.call(passages.delete, ids=list(batch))
            self.chroma.call(sentences.delete, where={"chunk_id": {"$in": list(batch)}})
            if vectors is not None:
                self.chroma.call(vectors.delete, ids=list(batch))

    # --- sentences ---------------------------------------------------------------------

    def sentence_count(self) -> int:
        collection = self._existing(self.names.sentences)
        return 0 if collection is None else int(self.chroma.call(collection.count))

    def upsert_sentences(
        self,
        ids: Sequence[str],
        embeddings: np.ndarray,
        documents: Sequence[str],
        metadatas: Sequence[dict[str, Any]],
    ) -> None:
        """Store sentences; each metadata names its passage (``chunk_id``)."""
        rows = [{**m, "key": sentence_key(t)} for m, t in zip(metadatas, documents)]
        self.chroma.upsert(self._require(self.names.sentences), ids, embeddings, documents, rows)

    def query_sentences(
        self, embedding: np.ndarray, n: int, where: dict[str, Any] | None = None
    ) -> list[StoredSentence]:
        """The ``n`` sentences nearest to ``embedding``, most similar first.

        Ids and scores only: a sentence id names its passage (``PASSAGE.N``), and
        reading documents or metadata is most of what a Chroma query costs (at 250k
        sentences, 6.3 ms for 120 results against 1.8 ms); only the passages shown
        need their sentences' text (see :meth:`sentence_texts`).

        Args:
            embedding: the query vector.
            n: how many sentences.
            where: a metadata filter applied inside Chroma's query (a date range on
                ``published_ts``, see :class:`retrieval.dates.DateRange`), so the ``n``
                nearest are the nearest of those that match.
        """
        collection = self._require(self.names.sentences)
        options: dict[str, Any] = {"where": where} if where else {}
        result = self.chroma.call(
            collection.query, query_embeddings=[embedding], n_results=n, include=["distances"], **options
        )
        return [
            StoredSentence(i, passage_of(i), "", 1.0 - float(d))
            for i, d in zip(result["ids"][0], result["distances"][0])
        ]

    def sentence_texts(self, ids: Sequence[str]) -> dict[str, str]:
        """``{sentence id: text}`` for the given sentences."""
        if not ids:
            return {}
        result = self.chroma.get(self._require(self.names.sentences), ids, ["documents"])
        return {i: d or "" for i, d in zip(result["ids"], result["documents"])}

    def sentences_counted(
        self, counts: dict[str, int], embedding: np.ndarray, texts: bool = False
    ) -> list[StoredSentence]:
        """Every sentence of the passages in ``{passage id: sentence count}``, with its
        similarity to ``embedding`` (and its text when ``texts``): a lookup by id, no filter scan."""
        ids = [s for chunk_id, count in counts.items() for s in sentence_ids(chunk_id, count)]
        if not ids:
            return []
        include = ["embeddings", "documents"] if texts else ["embeddings"]
        return _scored(self.chroma.get(self._require(self.names.sentences), ids, include), embedding)

    def vectors_counted(self, counts: Mapping[str, int]) -> SentenceVectors:
        """The vectors of every sentence of the passages in ``{passage id: sentence
        count}``, to be scored once the query's vector is known: from the passages' vector
        records, and by their sentences for those without one."""
        parts, rest = [], dict(counts)
        held = self._vectors() if counts else None
        if held is not None:
            result = self.chroma.get(held, list(counts), ["metadatas"])
            for chunk_id, meta in zip(result["ids"], result["metadatas"]):
                block = _unpacked((meta or {}).get(VECTORS_KEY), counts.get(chunk_id, -1))
                if block is not None:
                    parts.append(SentenceVectors(sentence_ids(chunk_id, len(block)), block))
                    rest.pop(chunk_id, None)
        parts.append(self.vectors_by_sentence(rest))
        return SentenceVectors.joined(parts)

    def vectors_by_text(self, counts: Mapping[str, int]) -> dict[str, np.ndarray]:
        """``{sentence text: its stored vector}`` for every sentence of the passages in
        ``{passage id: sentence count}`` (an article renamed keeps its sentences' vectors)."""
        ids = [s for chunk_id, count in counts.items() for s in sentence_ids(chunk_id, count)]
        if not ids:
            return {}
        result = self.chroma.get(self._require(self.names.sentences), ids, ["embeddings", "documents"])
        return {
            text: np.asarray(vector, dtype=np.float32)
            for text, vector in zip(result["documents"], result["embeddings"])
            if text
        }

    def vectors_by_sentence(self, counts: Mapping[str, int]) -> SentenceVectors:
        """What :meth:`vectors_counted` gives, read sentence by sentence: the vectors as
        Chroma keeps them (it normalises them again, so they differ from the model's in the
        last bits), which the passages' vector records copy."""
        ids = [s for chunk_id, count in counts.items() for s in sentence_ids(chunk_id, count)]
        if not ids:
            return SentenceVectors.empty()
        result = self.chroma.get(self._require(self.names.sentences), ids, ["embeddings"])
        return SentenceVectors(list(result["ids"]), np.asarray(result["embeddings"], dtype=np.float32))

    def copy_vectors(self, counts: Mapping[str, int]) -> None:
        """Write the vector records of the passages in ``{passage id: sentence count}`` from
        their stored sentences (a passage missing a sentence gets none)."""
        read = self.vectors_by_sentence(counts)
        rows: dict[str, dict[int, np.ndarray]] = {}
        for sentence, vector in zip(read.ids, read.vectors):
            rows.setdefault(passage_of(sentence), {})[sentence_number(sentence)] = vector
        self.upsert_vectors(
            {c: np.stack([r[n] for n in range(counts[c])]) for c, r in rows.items() if len(r) == counts[c]}
        )

    def upsert_vectors(self, vectors: Mapping[str, np.ndarray]) -> None:
        """Keep each passage's sentence vectors (``{passage id: one row per sentence, in
        order}``) in one record as well; written before the passage, like its sentences."""
        ids = list(vectors)
        if ids:
            metadatas = [{VECTORS_KEY: _packed(vectors[i])} for i in ids]
            self.chroma.upsert(self._require(self.names.vectors), ids, None, None, metadatas)

    def missing_vectors(self, chunk_ids: Collection[str]) -> tuple[set[str], set[str]]:
        """Of the passages ``chunk_ids``, those without a vector record; and the records
        kept for passages not among them (left by an interrupted run)."""
        held = self._existing(self.names.vectors)
        stored = set() if held is None else {i for page in self.chroma.pages(held, []) for i in page["ids"]}
        return set(chunk_ids) - stored, stored - set(chunk_ids)

    def vector_count(self) -> int:
        held = self._existing(self.names.vectors)
        return 0 if held is None else int(self.chroma.call(held.count))

    def delete_vectors(self, ids: Sequence[str]) -> None:
        self.chroma.delete(self._require(self.names.vectors), ids)

    def sentences_of(self, chunk_ids: Sequence[str], embedding: np.ndarray) -> list[StoredSentence]:
        """Every sentence of the given passages, with its similarity to ``embedding``."""
        if not chunk_ids:
            return []
        result = self.chroma.call(
            self._require(self.names.sentences).get,
            where={"chunk_id": {"$in": list(chunk_ids)}},
            include=["documents", "metadatas", "embeddings"],
        )
        return _scored(result, embedding)

    def orphan_sentences(self, chunk_ids: set[str]) -> list[str]:
        """Ids of stored sentences whose passage is not in ``chunk_ids``."""
        return [
            i
            for page in self.chroma.pages(self._require(self.names.sentences), ["metadatas"])
            for i, m in zip(page["ids"], page["metadatas"])
            if (m or {}).get("chunk_id") not in chunk_ids
        ]

    def date_sentences(self, counts: dict[str, int], stamp: int | None) -> None:
        """Give the sentences of the passages in ``{passage id: sentence count}`` their
        article's date (``published_ts``; removed when ``stamp`` is None): a reused passage
        keeps its sentences, which must follow a date that changed."""
        ids = [s for chunk_id, count in counts.items() for s in sentence_ids(chunk_id, count)]
        if ids:
            self.chroma.update(self._require(self.names.sentences), ids, [{"published_ts": stamp}] * len(ids))

    def delete_sentences(self, ids: Sequence[str]) -> None:
        self.chroma.delete(self._require(self.names.sentences), ids)

    def sentence_vectors(self) -> tuple[list[str], np.ndarray]:
        """Every stored sentence's passage id and vector (for analysis; reads the whole collection)."""
        passages: list[str] = []
        vectors: list[np.ndarray] = []
        for page in self.chroma.pages(self._require(self.names.sentences), ["embeddings"]):
            if not page["ids"]:
                continue
            passages.extend(passage_of(i) for i in page["ids"])
            vectors.append(np.asarray(page["embeddings"], dtype=np.float32).reshape(len(page["ids"]), -1))
        return passages, np.vstack(vectors) if vectors else np.zeros((0, 0), np.float32)

    # --- the catalog -------------------------------------------------------------------

    def catalog(self, since: int | None = None) -> CatalogRecords:
        """The catalog's live entries and removed names; with ``since``, only those written
        by later runs (what a process that read generation ``since`` has not seen)."""
        collection = self._existing(self.names.articles)
        entries: dict[str, ArticleEntry] = {}
        removed: set[str] = set()
        if collection is None:
            return CatalogRecords(entries, removed)
        where = None if since is None else {"generation": {"$gt": since}}
        for page in self.chroma.pages(collection, ["documents", "metadatas"], where=where):
            for name, document, meta in zip(page["ids"], page["documents"], page["metadatas"]):
                if (meta or {}).get("removed"):
                    removed.add(name)
                    continue
                try:
                    entries[name] = ArticleEntry.from_json(json.loads(document or ""))
                except ValueError as error:
                    log.warning("catalog record %s ignored: %s", name, error)
        return CatalogRecords(entries, removed)

    def write_entries(
        self, entries: dict[str, ArticleEntry], removed: Iterable[str], generation: int
    ) -> None:
        """Record new article versions, and tombstones for ``removed`` ones."""
        collection = self._require(self.names.articles)
        records = [entry.to_record() for entry in entries.values()]
        names = [*entries, *removed]
        documents = [document for document, _ in records] + ["" for _ in removed]
        metadatas = [meta for _, meta in records] + [tombstone(generation) for _ in removed]
        if names:
            self.chroma.upsert(collection, names, None, documents, metadatas)

    def forget_entries(self, names: Sequence[str]) -> None:
        """Delete catalog records outright (entries whose passages are gone)."""
        self.chroma.delete(self._require(self.names.articles), names)

    # --- the vocabulary ----------------------------------------------------------------

    def terms(self, start: int = 0) -> list[str]:
        """The library's BM25 vocabulary from term id ``start`` on, in id order."""
        collection = self._existing(self.names.terms)
        if collection is None:
            return []
        blocks: list[tuple[int, list[str]]] = []
        for page in self.chroma.pages(collection, ["documents", "metadatas"]):
            for document, meta in zip(page["documents"], page["metadatas"]):
                first = int((meta or {}).get("start", 0))
                words = json.loads(document or "[]")
                if first + len(words) > start:
                    blocks.append((first, words))
        terms: list[str] = []
        for first, words in sorted(blocks):
            if first != start + len(terms):
                raise StoreUnavailableError(f"the vocabulary in {self.names.terms} has a gap at term {first}")
            terms.extend(words)
        return terms

    def append_terms(self, start: int, terms: Sequence[str]) -> None:
        """Store the words that got ids ``start`` onwards (written before any row uses them)."""
        if terms:
            self.chroma.upsert(
                self._require(self.names.terms),
                [f"{start:010d}"],
                None,
                [json.dumps(list(terms), ensure_ascii=False)],
                [{"start": start, "count": len(terms)}],
            )

    def forget_terms_from(self, start: int) -> None:
        """Delete the blocks of words from id ``start`` on (words no stored row refers to)."""
        collection = self._existing(self.names.terms)
        if collection is None:
            return
        stale = [
            i
            for page in self.chroma.pages(collection, ["metadatas"])
            for i, m in zip(page["ids"], page["metadatas"])
            if int((m or {}).get("start", 0)) >= start
        ]
        self.chroma.delete(collection, stale)

    # --- collections -------------------------------------------------------------------

    @property
    def _names(self) -> tuple[str, ...]:
        n = self.names
        return (n.passages, n.sentences, n.articles, n.terms, n.vectors)

    def _vectors(self) -> Any:
        """The vectors collection, or None: an index written before it has none until the
        writer fills it, so its absence is looked up again only every ``ABSENT_SECONDS``."""
        name = self.names.vectors
        if (
            name not in self._collections
            and time.monotonic() - self._absent.get(name, -ABSENT_SECONDS) < ABSENT_SECONDS
        ):
            return None
        collection = self._existing(name)
        if collection is None:
            self._absent[name] = time.monotonic()
        return collection

    def _passage_dimension(self, collection: Any) -> int:
        """The vector size passages are stored with: 2 (a placeholder), or the mean sentence
        vectors of indexes written before passages stopped carrying one."""
        if self._dimension is None:
            first = self.chroma.call(collection.get, limit=1, include=["embeddings"])
            embeddings = first.get("embeddings")
            self._dimension = len(embeddings[0]) if embeddings is not None and len(embeddings) else 2
        return self._dimension

    def _existing(self, name: str) -> Any:
        if name not in self._collections:
            collection = self.chroma.existing(name)
            if collection is None:
                return None
            self._collections[name] = collection
        return self._collections[name]

    def _require(self, name: str) -> Any:
        collection = self._existing(name)
        if collection is None:
            raise StoreUnavailableError(f"no index in {self.where}; run `citebot index` first")
        return collection


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


@dataclass(frozen=True)
class SentenceVectors:
    """Sentences read with their vectors but not yet scored: ``vectors[n]`` is ``ids[n]``'s."""

    ids: list[str]
    vectors: np.ndarray

    @classmethod
    def empty(cls) -> SentenceVectors:
        return cls([], np.zeros((0, 0), np.float32))

    @classmethod
    def joined(cls, parts: Sequence[SentenceVectors]) -> SentenceVectors:
        parts = [p for p in parts if p.ids]
        if len(parts) <= 1:
            return parts[0] if parts else cls.empty()
        return cls([i for p in parts for i in p.ids], np.vstack([p.vectors for p in parts]))

    @cached_property
    def passages(self) -> list[str]:
        """``passages[n]`` is the passage of ``ids[n]``."""
        return [passage_of(i) for i in self.ids]

    def scored(self, chunk_ids: Collection[str], embedding: np.ndarray) -> list[StoredSentence]:
        """The sentences of ``chunk_ids`` (those read) with their similarity to ``embedding``,
        in the order read: what :meth:`LibraryStore.sentences_counted` gives for them."""
        return [_sentence(self.ids[row], None, sim) for row, sim in self._similarities(chunk_ids, embedding)]

    def best(self, chunk_ids: Collection[str], embedding: np.ndarray) -> list[StoredSentence]:
        """The closest sentence to ``embedding`` of each of ``chunk_ids`` (those read; the
        first read of equals), as :meth:`scored` would score it: all the ranking needs of
        a passage's sentences."""
        top: dict[str, tuple[float, int]] = {}
        for row, sim in self._similarities(chunk_ids, embedding):
            passage = self.passages[row]
            if passage not in top or sim > top[passage][0]:
                top[passage] = (sim, row)
        return [_sentence(self.ids[row], None, sim) for sim, row in top.values()]

    def _similarities(self, chunk_ids: Collection[str], embedding: np.ndarray) -> list[tuple[int, float]]:
        picked = [row for row, passage in enumerate(self.passages) if passage in chunk_ids]
        if not picked:
            return []
        sims = cosines(self.vectors[picked], embedding)
        return list(zip(picked, sims.tolist()))


def cosines(vectors: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Each row of ``vectors`` (unit vectors) times ``query``, each row summed on its own: a
    matrix product may round a row differently by where it sits in the matrix, and a
    sentence must score the same whichever sentences it is read with."""
    return np.multiply(vectors, np.asarray(query, dtype=np.float32)).sum(axis=1)


def _packed(vectors: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(vectors, dtype="<f4").tobytes()).decode("ascii")


def _unpacked(text: Any, count: int) -> np.ndarray | None:
    """The ``count`` vectors a record holds, or None when it holds no such thing (another
    number of sentences: the passage changed since)."""
    if not isinstance(text, str) or count <= 0:
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    if not raw or len(raw) % (4 * count):
        return None
    return np.frombuffer(raw, dtype="<f4").reshape(count, -1).astype(np.float32)


def _scored(result: Any, embedding: np.ndarray) -> list[StoredSentence]:
    """The sentences of a ``get`` that included embeddings, scored against ``embedding``
    (with their text when the ``get`` included documents)."""
    if not len(result["ids"]):
        return []
    sims = cosines(np.asarray(result["embeddings"], dtype=np.float32), embedding)
    documents = result.get("documents") or [""] * len(result["ids"])
    metadatas = result.get("metadatas") or [None] * len(result["ids"])
    return [
        _sentence(i, m, float(sim), d or "")
        for i, m, sim, d in zip(result["ids"], metadatas, sims.tolist(), documents)
    ]


def sentence_key(text: str) -> str:
    """A short digest of a sentence's text."""
    return hashlib.sha1(text.casefold().encode()).hexdigest()[:16]
