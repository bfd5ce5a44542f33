"""The retrieval service: index a folder of articles, answer questions with cited passages.

One :class:`Retriever` owns the embedder, the Chroma store, the lexical index and
the bookkeeping of what the last finished indexing run wrote; the ranking itself is
:mod:`retrieval.ranking`. It is safe to search from several threads while one
thread reindexes; writes across processes are serialised by a lock file in the
data folder.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout

from config import Settings
from retrieval import followup
from retrieval.embedding import Embedder, create_embedder
from retrieval.embedding.factory import index_identity, model_identity
from retrieval.errors import IndexBusyError, IndexMismatchError, QuestionError
from retrieval.followup import FollowUpMethod
from retrieval.indexer import Indexer, Progress
from retrieval.layout import DataFolder
from retrieval.lexical import LexicalIndex
from retrieval.manifest import Manifest
from retrieval.models import Answer, IndexReport, Passage, SourceInfo
from retrieval.ranking import (
    AnswerRule,
    IndexView,
    Ranked,
    Ranker,
    Signals,
    Weights,
    best_similarity,
    distinct,
    highlight,
)
from retrieval.store import ChunkStore
from retrieval.tokenization import question_language

log = logging.getLogger(__name__)

QUERY_CACHE_SIZE = 512


def clean_question(question: str, max_chars: int) -> str:
    """The question with control characters dropped and spaces collapsed.

    Raises:
        QuestionError: it is empty, or longer than ``max_chars``.
    """
    text = re.sub(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]", " ", question or "")
    text = re.sub(r"\s+", " ", text).strip()
    if not re.search(r"\w", text):
        raise QuestionError("the question is empty: ask something in words")
    if len(text) > max_chars:
        raise QuestionError(
            f"the question is too long ({len(text):,} characters; the limit is {max_chars:,})"
        )
    return text


@dataclass(frozen=True)
class _Committed:
    """What the last finished indexing run wrote, as this process last read it."""

    manifest: Manifest | None = None
    stamp: int | None = None
    #: Its passages: a search shows only these (see ``Retriever.search``).
    passages: frozenset[str] = frozenset()
    view: IndexView = field(default_factory=lambda: IndexView({}, {}))

    @classmethod
    def of(cls, manifest: Manifest | None, stamp: int | None) -> _Committed:
        if manifest is None:
            return cls(stamp=stamp)
        return cls(
            manifest,
            stamp,
            frozenset(manifest.chunk_ids()),
            IndexView(manifest.sentence_counts(), manifest.chunk_languages()),
        )


class Retriever:
    """Indexes articles into Chroma plus BM25 and answers questions with ranked passages.

    Args:
        settings: where the articles and the index live, and how to rank.
        embedder: an already loaded embedder to share (tests, the bot); by default
            the one the settings name is loaded on first use.
    """

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.folder = DataFolder(settings.data_dir)
        self.weights = Weights(settings.lexical_weight, settings.cross_language_bonus)
        self.rule = AnswerRule(settings.min_score, settings.coverage_weight, settings.name_weight)
        self._embedder = embedder
        self._store: ChunkStore | None = None
        self._lexical = LexicalIndex(self.folder.lexical)
        self._committed = _Committed()
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._query_cache: OrderedDict[str, np.ndarray] = OrderedDict()

    @property
    def model_identity(self) -> str:
        model = self._embedder.identity if self._embedder else model_identity(self.settings)
        return index_identity(self.settings, model)

    @property
    def embedder(self) -> Embedder:
        """The embedding model, loaded on first use."""
        if self._embedder is None:
            self._embedder = create_embedder(self.settings)
        return self._embedder

    @property
    def store(self) -> ChunkStore:
        """The Chroma store, connected on first use."""
        if self._store is None:
            self._store = ChunkStore(self.settings)
        return self._store

    def for_articles(self, articles_dir: Path) -> Retriever:
        """A retriever for another articles folder, on an index of its own (named after the
        folder) under this one's data folder, sharing this one's model."""
        folder = articles_dir.expanduser().resolve()
        settings = self.settings.model_copy(
            update={"articles_dir": folder, "data_dir": self.folder.for_articles(folder).root}
        )
        return Retriever(settings, embedder=self._embedder)

    def has_index(self) -> bool:
        """True when an index has been built in the data folder."""
        return self.folder.manifest.exists()

    def index(
        self, articles_dir: Path | None = None, rebuild: bool = False, progress: Progress | None = None
    ) -> IndexReport:
        """Bring the index in line with the articles folder, incrementally.

        Args:
            articles_dir: the folder to index; the settings' folder by default.
            rebuild: drop everything and embed every article again.
            progress: called with ``(chunks embedded, chunks to embed)``.

        Returns:
            What was added, changed, removed, unchanged and skipped.

        Raises:
            ArticlesDirError: the folder is missing.
            IndexBusyError: another process is writing to the same data folder.
            StoreUnavailableError: the Chroma server is down.
        """
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.folder.write_lock), timeout=0)
        with self._write_lock:
            try:
                lock.acquire()
            except Timeout:
                raise IndexBusyError(
                    f"another citebot process is writing to {self.settings.data_dir}; "
                    "wait for it to finish (if the bot is running, use /reindex there)"
                ) from None
            try:
                self._refresh()
                indexer = Indexer(
                    self.settings,
                    self.folder,
                    lambda: self.store,
                    self._lexical,
                    lambda: self.embedder,
                    self.model_identity,
                )
                folder = articles_dir or self.settings.articles_dir
                report, manifest = indexer.run(folder, rebuild=rebuild, progress=progress)
                with self._read_lock:
                    self._committed = _Committed.of(manifest, self._stamp())
            finally:
                lock.release()
        return report

    def ensure_index(self, progress: Progress | None = None) -> IndexReport | None:
        """Index the articles folder if nothing was ever indexed here; the report, or None
        when an index was already there."""
        return None if self.has_index() else self.index(progress=progress)

    def search(
        self,
        question: str,
        k: int | None = None,
        *,
        previous: Sequence[str] | None = None,
        method: FollowUpMethod | None = None,
    ) -> Answer:
        """The passages that best answer ``question``, best first, with citations.

        Args:
            question: the user's question, in any language the model knows.
            k: how many passages; the settings' ``top_k`` by default.
            previous: the conversation's earlier questions, oldest first: a follow-up
                such as "And how many signed it?" is searched with them in mind (see
                :mod:`retrieval.followup`); blank ones are skipped.
            method: how the earlier questions are used; :data:`retrieval.followup.DEFAULT`
                unless a benchmark compares methods.

        Returns:
            An :class:`Answer`; ``answered`` is False when nothing relevant was found.

        Raises:
            QuestionError: the question is empty or too long.
            IndexMismatchError: the index was built with another model.
            StoreUnavailableError: there is no index, or the Chroma server is down.
        """
        text = clean_question(question, self.settings.max_question_chars)
        history = [clean_question(p, self.settings.max_question_chars) for p in previous or () if p.strip()]
        k = k or self.settings.top_k
        prepared = followup.prepare(text, history, self.query_vector, method or followup.DEFAULT)
        ranked = self._ranked(text, k, prepared)
        top, texts = self._shown(ranked, k)
        chunks = {c.id: c for c in self.store.get([r.chunk_id for r in top])}
        passages = []
        for r in top:
            chunk = chunks.get(r.chunk_id)
            if chunk is None:  # deleted by a reindex between the two reads
                continue
            meta = chunk.metadata
            language = str(meta.get("language", "und"))
            passages.append(
                Passage(
                    rank=len(passages) + 1,
                    source=str(meta.get("source", meta.get("source_id", ""))),
                    source_id=str(meta.get("source_id", "")),
                    title=str(meta.get("title", "")),
                    text=chunk.text,
                    score=r.score,
                    language=language,
                    location=str(meta.get("location", "")),
                    highlight=highlight(
                        r.sentence.text or texts.get(r.sentence.id, ""), text, chunk.text, language
                    ),
                    chunk_id=chunk.id,
                )
            )
        signals = Signals(
            best_similarity(ranked, self.weights),
            self._lexical.coverage(text),
            self._lexical.name_coverage(text),
        )
        margin = self.rule.margin(signals)
        return Answer(
            question=text,
            previous=tuple(history),
            answered=bool(passages) and margin >= 0,
            passages=passages,
            similarity=signals.similarity,
            coverage=signals.coverage,
            names=signals.names,
            margin=margin,
        )

    def candidates(self, question: str) -> list[Ranked]:
        """Every candidate passage for ``question`` with its signals, best first, as the
        ranking sees them before one passage per sentence is kept (for tuning)."""
        text = clean_question(question, self.settings.max_question_chars)
        return self._ranked(text, self.settings.candidates)

    def coverage(self, question: str) -> float:
        """Share of the question's content words that occur in the archive."""
        self._refresh()
        return self._lexical.coverage(clean_question(question, self.settings.max_question_chars))

    def query_vector(self, question: str) -> np.ndarray:
        """The question's embedding; repeated questions skip the model (bounded LRU)."""
        with self._read_lock:
            cached = self._query_cache.get(question)
            if cached is not None:
                self._query_cache.move_to_end(question)
                return cached
        vector = np.asarray(self.embedder.embed_queries([question])[0], dtype=np.float32)
        with self._read_lock:
            self._query_cache[question] = vector
            while len(self._query_cache) > QUERY_CACHE_SIZE:
                self._query_cache.popitem(last=False)
        return vector

    def clear_query_cache(self) -> None:
        """Forget the cached question embeddings (benchmarks time the model on every ask)."""
        with self._read_lock:
            self._query_cache.clear()

    def passage_languages(self) -> dict[str, str]:
        """``{passage id: its article's language}`` for every indexed passage."""
        self._refresh()
        return dict(self._committed.view.languages)

    def sources(self) -> list[SourceInfo]:
        """Every indexed article, by source id."""
        manifest = self._refresh()
        if manifest is None:
            return []
        return [
            SourceInfo(
                source_id=name,
                title=entry.title,
                language=entry.language,
                chunks=len(entry.chunks),
                indexed_at=entry.indexed_at,
                url=entry.url,
            )
            for name, entry in sorted(manifest.articles.items())
        ]

    def _ranked(self, text: str, k: int, prepared: followup.PreparedQuery | None = None) -> list[Ranked]:
        """The ranking of the last finished run's passages for the cleaned question ``text``
        (asked after earlier questions when ``prepared`` says how)."""
        manifest = self._refresh()
        if manifest is not None and manifest.model != self.model_identity:
            raise IndexMismatchError(
                f"the index was built with other settings ({manifest.model}, not {self.model_identity}); "
                "run `citebot index` to rebuild it"
            )
        committed = self._committed
        ranker = Ranker(self.store, self._lexical, self.weights, self.settings.candidates)
        query = prepared.vector if prepared is not None else self.query_vector(text)
        history_terms = prepared.history_terms if prepared is not None else None
        ranked = ranker.rank(
            text, query, k, question_language(text), committed.view, history_terms=history_terms
        )
        if manifest is None:
            return ranked
        # While a reindex runs, the store holds the new passages of a changed article
        # beside its old ones until the run ends: show only the passages of the last
        # finished run, so one answer never mixes two versions of an article.
        return [r for r in ranked if r.chunk_id in committed.passages]

    def _shown(self, ranked: list[Ranked], k: int) -> tuple[list[Ranked], dict[str, str]]:
        """The ``k`` passages to show (one per best sentence) and the best sentences' text.

        The text tells passages matched by one sentence apart and is highlighted: read it
        for a few passages more than shown, and for the rest in one more read if those
        were not enough (at most two round trips to a server).
        """
        head = ranked[: 3 * k]
        texts = self.store.sentence_texts([r.sentence.id for r in head if not r.sentence.text])
        top = distinct(head, k, texts)
        if len(top) < k and len(head) < len(ranked):
            rest = ranked[len(head) :]
            texts.update(self.store.sentence_texts([r.sentence.id for r in rest if not r.sentence.text]))
            top = distinct(ranked, k, texts)
        return top, texts

    def _stamp(self) -> int | None:
        try:
            return self.folder.manifest.stat().st_mtime_ns
        except FileNotFoundError:
            return None

    def _refresh(self) -> Manifest | None:
        """Reload the manifest and lexical index when another process rewrote them."""
        stamp = self._stamp()
        with self._read_lock:
            committed = self._committed
            if stamp != committed.stamp or (committed.manifest is None and stamp is not None):
                manifest = Manifest.load(self.folder.manifest) if stamp is not None else None
                self._committed = _Committed.of(manifest, stamp)
                self._lexical.load()
            return self._committed.manifest
