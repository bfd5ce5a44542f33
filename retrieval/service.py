"""The retrieval service: index a folder of articles, answer questions with cited passages.

One :class:`Retriever` owns the embedder, the Chroma store and the lexical index.
It is safe to search from several threads while one thread reindexes; writes
across processes are serialised by a lock file in the data folder.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout

from config import Settings
from retrieval.embedding import Embedder, create_embedder
from retrieval.embedding.factory import index_identity, model_identity
from retrieval.errors import IndexBusyError, IndexMismatchError, QuestionError
from retrieval.highlight import best_sentence
from retrieval.indexer import Progress, run_index
from retrieval.lexical import LexicalIndex, question_language
from retrieval.manifest import Manifest
from retrieval.models import Answer, IndexReport, Passage, SourceInfo
from retrieval.store import ChunkStore, StoredSentence, sentence_key

log = logging.getLogger(__name__)

QUERY_CACHE_SIZE = 512
#: Sentences fetched per wanted passage, so that ``candidates`` distinct passages come back.
SENTENCES_PER_PASSAGE = 3


@dataclass(frozen=True)
class Ranked:
    """A passage id with its fused score and its best-matching sentence."""

    chunk_id: str
    score: float
    sentence: StoredSentence
    lexical: float = 0.0
    #: whether the passage is in another language than the question (and got the bonus)
    crossed: bool = False


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
        raise QuestionError(f"the question is too long ({len(text):,} characters; the limit is {max_chars:,})")
    return text


def _distinct(ranked: list[Ranked], k: int, texts: dict[str, str]) -> list[Ranked]:
    """The first ``k`` passages, skipping any whose best sentence a better passage
    already showed (overlapping passages of one article match by the same sentence).
    ``texts`` holds the best sentences' text by sentence id where it was not read."""
    seen: set[str] = set()
    kept: list[Ranked] = []
    for r in ranked:
        text = r.sentence.text or texts.get(r.sentence.id, "")
        key = r.sentence.key or (sentence_key(text) if text else r.sentence.id)
        if key in seen:
            continue
        seen.add(key)
        kept.append(r)
        if len(kept) == k:
            break
    return kept


def _highlight(sentence: str, question: str, passage: str, meta: dict[str, object]) -> str:
    """The passage's best-matching sentence: the one it was matched by, when it reads as
    is in the passage, else the one sharing the most words with the question."""
    if sentence and sentence in passage:
        return sentence
    return best_sentence(question, passage, str(meta.get("language", "und")))


class Retriever:
    """Indexes articles into Chroma plus BM25 and answers questions with ranked passages.

    Args:
        settings: where the articles and the index live, and how to rank.
        embedder: an already loaded embedder to share (tests, the bot); by default
            the one the settings name is loaded on first use.
    """

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self._embedder = embedder
        self._store: ChunkStore | None = None
        self._lexical = LexicalIndex(settings.data_dir / "lexical.pkl")
        self._manifest: Manifest | None = None
        #: The passages of ``_manifest``: a search shows only these (see ``search``).
        self._manifest_ids: frozenset[str] | None = None
        self._manifest_stamp: int | None = None
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._query_cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._sentence_counts: dict[str, int] = {}
        self._languages: dict[str, str] = {}

    @property
    def manifest_path(self) -> Path:
        return self.settings.data_dir / "manifest.json"

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

    def has_index(self) -> bool:
        """True when an index has been built in the data folder."""
        return self.manifest_path.exists()

    def index(
        self,
        articles_dir: Path | None = None,
        rebuild: bool = False,
        progress: Progress | None = None,
    ) -> IndexReport:
        """Index the articles folder incrementally.

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
        folder = articles_dir or self.settings.articles_dir
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.settings.data_dir / "write.lock"), timeout=0)
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
                report, manifest = run_index(
                    self.settings,
                    folder,
                    lambda: self.store,
                    self._lexical,
                    self.manifest_path,
                    lambda: self.embedder,
                    self.model_identity,
                    rebuild=rebuild,
                    progress=progress,
                )
                with self._read_lock:
                    self._set_manifest(manifest, self._stamp())
            finally:
                lock.release()
        return report

    def search(self, question: str, k: int | None = None) -> Answer:
        """The passages that best answer ``question``, best first, with citations.

        Args:
            question: the user's question, in any language the model knows.
            k: how many passages; the settings' ``top_k`` by default.

        Returns:
            An :class:`Answer`; ``answered`` is False when nothing relevant was found.

        Raises:
            QuestionError: the question is empty or too long.
            IndexMismatchError: the index was built with another model.
            StoreUnavailableError: there is no index, or the Chroma server is down.
        """
        text = clean_question(question, self.settings.max_question_chars)
        k = k or self.settings.top_k
        manifest = self._refresh()
        if manifest is not None and manifest.model != self.model_identity:
            raise IndexMismatchError(
                f"the index was built with other settings ({manifest.model}, not {self.model_identity}); "
                "run `citebot index` to rebuild it"
            )
        ranked = self._rank(text, self._query_vector(text), k, question_language(text))
        committed = self._manifest_ids
        if committed is not None:
            # While a reindex runs, the store holds the new passages of a changed article
            # beside its old ones until the run ends: show only the passages of the last
            # finished run, so one answer never mixes two versions of an article.
            ranked = [r for r in ranked if r.chunk_id in committed]
        # The best sentences' text tells passages matched by one sentence apart and is
        # highlighted: read it for a few passages more than shown, and for the rest in
        # one more read if those were not enough (at most two round trips to a server).
        head = ranked[: 3 * k]
        best_texts = self.store.sentence_texts([r.sentence.id for r in head if not r.sentence.text])
        top = _distinct(head, k, best_texts)
        if len(top) < k and len(head) < len(ranked):
            rest = ranked[len(head) :]
            best_texts.update(self.store.sentence_texts([r.sentence.id for r in rest if not r.sentence.text]))
            top = _distinct(ranked, k, best_texts)
        chunks = {c.id: c for c in self.store.get([r.chunk_id for r in top])}
        passages = []
        for r in top:
            chunk = chunks.get(r.chunk_id)
            if chunk is None:  # deleted by a reindex between the two reads
                continue
            meta = chunk.metadata
            passages.append(
                Passage(
                    rank=len(passages) + 1,
                    source=str(meta.get("source", meta.get("source_id", ""))),
                    source_id=str(meta.get("source_id", "")),
                    title=str(meta.get("title", "")),
                    text=chunk.text,
                    score=r.score,
                    language=str(meta.get("language", "und")),
                    location=str(meta.get("location", "")),
                    highlight=_highlight(r.sentence.text or best_texts.get(r.sentence.id, ""), text, chunk.text, meta),
                    chunk_id=chunk.id,
                )
            )
        # The rule reads the closest sentence's cosine with the same correction for
        # language as the ranking: an answer in the other language scores lower.
        bonus = self.settings.cross_language_bonus
        similarity = max((r.sentence.similarity + bonus * r.crossed for r in ranked), default=0.0)
        coverage = self._lexical.coverage(text)
        answered = bool(passages) and self.is_answer(similarity, coverage)
        return Answer(question=text, answered=answered, passages=passages, similarity=similarity, coverage=coverage)

    def is_answer(self, similarity: float, coverage: float) -> bool:
        """The calibrated rule (see ``benchmarks/calibrate.py``): answer when the best
        sentence is close enough (its cosine, plus the cross-language bonus when it is in
        another language), counting the question's words found in the archive."""
        return similarity + self.settings.coverage_weight * coverage >= self.settings.min_score

    def coverage(self, question: str) -> float:
        """Share of the question's content words that occur in the archive."""
        self._refresh()
        return self._lexical.coverage(clean_question(question, self.settings.max_question_chars))

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

    def _query_vector(self, text: str) -> np.ndarray:
        """The question's embedding; repeated questions skip the model (bounded LRU)."""
        with self._read_lock:
            cached = self._query_cache.get(text)
            if cached is not None:
                self._query_cache.move_to_end(text)
                return cached
        vector = np.asarray(self.embedder.embed_queries([text])[0], dtype=np.float32)
        with self._read_lock:
            self._query_cache[text] = vector
            while len(self._query_cache) > QUERY_CACHE_SIZE:
                self._query_cache.popitem(last=False)
        return vector

    def _rank(self, question: str, query: np.ndarray, k: int, language: str = "und") -> list[Ranked]:
        """Score passages by their best sentence's cosine similarity plus weighted BM25.

        A passage is matched by its sentences (a question usually paraphrases one)
        and shown whole. Its score is its best sentence's cosine similarity plus
        ``lexical_weight`` times its BM25 score over the best BM25 score, plus
        ``cross_language_bonus`` when the passage's language is not the question's
        ``language``: the model rates a sentence in the question's language above
        its translation, and half the answers are only in the other language.
        Candidates come from the sentences nearest the question and from BM25. A
        BM25-only candidate's sentences are fetched to score it the same way, unless
        it cannot reach the first ``k``: its sentences are all below the last one the
        vector search returned, which bounds its score.
        """
        crossed = self._crossed(language)
        bonus = self.settings.cross_language_bonus
        n = self.settings.candidates
        asked = n * SENTENCES_PER_PASSAGE
        found = self.store.query_sentences(query, asked)
        sentences: dict[str, list[StoredSentence]] = {}
        for sentence in found:
            if sentence.chunk_id in sentences or len(sentences) < n:
                sentences.setdefault(sentence.chunk_id, []).append(sentence)
        lexical = self._lexical.search(question, n)
        top_lexical = lexical[0][1] if lexical else 0.0
        bm25 = {chunk_id: score / top_lexical for chunk_id, score in lexical} if top_lexical > 0 else {}
        weight = self.settings.lexical_weight

        missing = [chunk_id for chunk_id, _ in lexical if chunk_id not in sentences]
        if missing and len(found) == asked:
            # About as _distinct will count them: one sentence shared by passages has one
            # vector, so one similarity. Sentences that only happen to score the same are
            # counted once too, which lowers the bar: it only costs a few more reads.
            by_sentence: dict[float, float] = {}
            for chunk_id, group in sentences.items():
                best = max(group, key=lambda s: s.similarity)
                value = best.similarity + weight * bm25.get(chunk_id, 0.0) + bonus * crossed(chunk_id)
                by_sentence[best.similarity] = max(value, by_sentence.get(best.similarity, -np.inf))
            scores = sorted(by_sentence.values(), reverse=True)
            bar = scores[k - 1] if len(scores) >= k else -np.inf
            ceiling = found[-1].similarity
            missing = [c for c in missing if ceiling + weight * bm25[c] + bonus * crossed(c) >= bar]
        counts = self._sentence_counts
        if all(chunk_id in counts for chunk_id in missing):
            fetched = self.store.sentences_counted({c: counts[c] for c in missing}, query)
        else:  # an index written before the counts were kept
            fetched = self.store.sentences_of(missing, query)
        for sentence in fetched:
            sentences.setdefault(sentence.chunk_id, []).append(sentence)
        ranked = []
        for chunk_id, group in sentences.items():
            best = max(group, key=lambda s: s.similarity)
            lexical_score = bm25.get(chunk_id, 0.0)
            other = crossed(chunk_id)
            score = best.similarity + weight * lexical_score + bonus * other
            ranked.append(Ranked(chunk_id, score, best, lexical_score, other))
        ranked.sort(key=lambda r: r.score, reverse=True)
        return ranked

    def _crossed(self, language: str) -> Callable[[str], bool]:
        """Whether a passage (by id) is in another language than ``language``; False
        whenever either language is unknown."""
        languages = self._languages
        if language == "und":
            return lambda chunk_id: False
        return lambda chunk_id: languages.get(chunk_id, "und") not in (language, "und")

    def _stamp(self) -> int | None:
        try:
            return self.manifest_path.stat().st_mtime_ns
        except FileNotFoundError:
            return None

    def _refresh(self) -> Manifest | None:
        """Reload the manifest and lexical index when another process rewrote them."""
        stamp = self._stamp()
        with self._read_lock:
            if stamp != self._manifest_stamp or (self._manifest is None and stamp is not None):
                self._set_manifest(Manifest.load(self.manifest_path) if stamp is not None else None, stamp)
                self._lexical.load()
            return self._manifest

    def _set_manifest(self, manifest: Manifest | None, stamp: int | None) -> None:
        self._manifest, self._manifest_stamp = manifest, stamp
        self._manifest_ids = frozenset(manifest.chunk_ids()) if manifest is not None else None
        self._sentence_counts = manifest.sentence_counts() if manifest is not None else {}
        self._languages = manifest.chunk_languages() if manifest is not None else {}
