"""The retrieval service: index folders of articles into libraries, answer questions with cited passages.

One :class:`Retriever` owns the embedder, the connection to Chroma and this
process's view of each library it reads (catalog and BM25, derived from the
store; see :mod:`retrieval.library`); the ranking itself is :mod:`retrieval.ranking`.
Everything needed to answer lives in Chroma, so any number of processes, each
with its own data folder, answer from one store; one of them writes (it holds the
writer lease), the others follow its changes within ``refresh_seconds``.

A search reads the base library (the operator's articles folder) and, when one is
named, one more library (a Discord server's own articles); never two others. It
is safe to search from several threads while one thread reindexes.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import replace
from datetime import datetime
from functools import cache, partial
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout

from config import Settings
from config.settings import library_problem
from retrieval import followup, threads
from retrieval import lexical as bm25
from retrieval.articles import short_text
from retrieval.chroma import Chroma
from retrieval.chunking import quick_sentence_units
from retrieval.dates import parse_range
from retrieval.embedding import Embedder, create_embedder
from retrieval.embedding.factory import index_identity, model_identity
from retrieval.errors import IndexBusyError, IndexMismatchError, LibraryError, QuestionError, ReadOnlyError
from retrieval.followup import FollowUpMethod
from retrieval.indexer import Indexer, Progress
from retrieval.layout import BASE_LIBRARY, DataFolder, collections
from retrieval.library import Views, save_cache
from retrieval.models import Answer, IndexReport, Passage, SourceInfo, newest_first
from retrieval.ranking import (
    AnswerRule,
    LexicalSide,
    Ranked,
    Ranker,
    Signals,
    Weights,
    best_similarity,
)
from retrieval.registry import LibraryRecord, Registry, WriterLease
from retrieval.rerank import DEFAULT as RERANK_DEFAULT
from retrieval.rerank import Candidate, cue_of, read_candidates, shown
from retrieval.scope import Scope
from retrieval.store import LibraryStore, StoredChunk
from retrieval.tokenization import question_language

log = logging.getLogger(__name__)

QUERY_CACHE_SIZE = 512
#: When copies fill the candidates (see :meth:`Retriever.search`), the deeper vector search
#: takes this many times more: 8 × 40 passages, which a story reprinted 300 times still leaves
#: room in (on speed.py's corpora, where each sentence is in ~1,000 passages, 8 gave k passages
#: as often as 16 for half the cost: ``benchmarks/README.md``).
#: 1 searches no deeper (``benchmarks/copies.py`` compares).
DEEPER = 8
#: What :meth:`Retriever.warm` searches for: any text does; this one asks for no kind of answer.
WARM_UP_QUESTION = "news"

#: Threads that run lexical searches while questions are embedded (more searches at once run inline).
SIDE_THREADS = 2
#: How long a search waits for its lexical side (seconds) before doing it itself: the side
#: thread runs only on idle cores, and other work (an index run) may keep them busy.
SIDE_PATIENCE = 0.05


#: A byte that was not UTF-8, as Python's ``surrogateescape`` keeps it (command-line arguments).
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")
_LONE_SURROGATE = re.compile("[\ud800-\udc7f\udd00-\udfff]")


def clean_question(question: str, max_chars: int) -> str:
    """The question with control characters dropped and spaces collapsed.

    Raises:
        QuestionError: it is empty, or longer than ``max_chars``.
    """
    # Half of a character (from JSON's "\ud800"): no text. Bytes that were not UTF-8, as
    # Python escapes them in arguments, are read as Windows-1252.
    question = _LONE_SURROGATE.sub("", question or "")
    if _ESCAPED_BYTE.search(question):
        question = short_text(question.encode("utf-8", "surrogateescape"))
    text = re.sub(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]", " ", question)
    text = re.sub(r"\s+", " ", text).strip()
    if not re.search(r"\w", text):
        raise QuestionError("the question is empty: ask something in words", "question_empty")
    if len(text) > max_chars:
        raise QuestionError(
            f"the question is too long ({len(text):,} characters; the limit is {max_chars:,})",
            "question_too_long",
            length=len(text),
            limit=max_chars,
        )
    return text


def _citation(meta: dict[str, object]) -> dict[str, str | None]:
    """A stored passage's article link, date, byline and outlet (None where it has none)."""
    return {key: str(meta[key]) if meta.get(key) else None for key in ("url", "published", "author", "site")}


def check_library(name: str) -> str:
    """``name`` if it can name a library.

    Raises:
        LibraryError: it cannot (it becomes part of collection and file names).
    """
    problem = library_problem(name)
    if problem:
        raise LibraryError(problem)
    return name


class Retriever:
    """Indexes articles into Chroma and answers questions with ranked passages.

    Args:
        settings: where the articles and the store are, how to rank, and this process's role.
        embedder: an already loaded embedder to share (tests, the bot); by default
            the one the settings name is loaded on first use.
    """

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.folder = DataFolder(settings.data_dir)
        self.weights = Weights(settings.lexical_weight, settings.cross_language_bonus)
        self.rule = AnswerRule(settings.min_score, settings.coverage_weight, settings.name_weight)
        self.reranking = RERANK_DEFAULT
        self._embedder = embedder
        self._chroma: Chroma | None = None
        self._registry: Registry | None = None
        self._lease: WriterLease | None = None
        self._file_lock: FileLock | None = None
        self._stores: dict[str, LibraryStore] = {}
        self.views = Views(
            lambda: self.registry, self.store_of, self.folder.lexical_cache, settings.refresh_seconds
        )
        self._write_lock = threading.Lock()
        self._cache_lock = threading.Lock()  # the query-vector cache, the side threads
        self._query_cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._side_threads: ThreadPoolExecutor | None = None
        self._splitter: Callable[[str], list[str]] | None = None

    # --- what it is built from ---------------------------------------------------------

    @property
    def read_only(self) -> bool:
        return self.settings.read_only

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
    def _split(self) -> Callable[[str], list[str]]:
        """A stored passage's text cut into the sentences the indexer matched it by."""
        if self._splitter is None:
            self._splitter = quick_sentence_units(self.embedder.count_tokens)
        return self._splitter

    @property
    def chroma(self) -> Chroma:
        """The connection to Chroma, made on first use."""
        if self._chroma is None:
            self._chroma = Chroma(self.settings)
        return self._chroma

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = Registry(self.chroma, self.settings.collection)
        return self._registry

    @property
    def store(self) -> LibraryStore:
        """The base library's collections."""
        return self.store_of(BASE_LIBRARY)

    def store_of(self, library: str) -> LibraryStore:
        """A library's collections."""
        if library not in self._stores:
            self._stores[library] = LibraryStore(self.chroma, collections(self.settings.collection, library))
        return self._stores[library]

    def for_articles(self, articles_dir: Path) -> Retriever:
        """A retriever for another articles folder, on an index of its own (a store named
        after the folder) under this one's data folder, sharing this one's model. That index
        is this process's scratch, written even by a read-only process: never the store."""
        folder = articles_dir.expanduser().resolve()
        data = self.folder.for_articles(folder).root
        settings = self.settings.model_copy(
            update={
                "articles_dir": folder,
                "data_dir": data,
                "chroma_host": None,
                "library": None,
                "read_only": False,
            }
        )
        return Retriever(settings, embedder=self._embedder)

    # --- writing -----------------------------------------------------------------------

    def index(
        self,
        articles_dir: Path | None = None,
        rebuild: bool = False,
        progress: Progress | None = None,
        *,
        library: str | None = None,
        prune: bool = False,
        background: bool = False,
    ) -> IndexReport:
        """Bring a library in line with its articles folder, incrementally.

        Args:
            articles_dir: the folder to index; for the base library the settings'
                articles folder, for another the one this process keeps for it.
            rebuild: drop the library and embed every article again.
            progress: called with ``(passages embedded, passages to embed)``.
            library: the library to write (the base library by default).
            prune: allow a run that removes most or all of the library's articles.
            background: embed in a thread of lower priority, so that the questions this
                process answers meanwhile keep the cores (the bot).

        Returns:
            What was added, changed, removed, unchanged and skipped.

        Raises:
            ReadOnlyError: this process is read-only.
            ArticlesDirError: the folder is missing.
            MassRemovalError: the run would remove more than half of the articles.
            IndexBusyError: another process is writing to the same store.
            StoreUnavailableError: the Chroma server is down.
        """
        self._check_writable()
        name = check_library(library) if library else BASE_LIBRARY
        folder = articles_dir or self.articles_folder(name)
        with self._write_lock, self.writing():
            current = self.views.get(name, refresh=True)
            indexer = Indexer(
                self.settings,
                self.folder,
                self.registry,
                self.store_of(name),
                lambda: self.embedder,
                self.model_identity,
                background,
            )
            report, view = indexer.run(name, current, folder, rebuild=rebuild, prune=prune, progress=progress)
            if report.modified:
                save_cache(view, self.folder.lexical_cache(name))
            self.views.publish(view)  # last: whoever sees the new view sees a finished run
        return report

    def writing(self) -> ExitStack:
        """Hold the writer lease (and, for an embedded store, the data folder's lock) for the
        length of a ``with`` block; nested holds are counted. The bot holds it for as long
        as it runs.

        Raises:
            ReadOnlyError: this process is read-only.
            IndexBusyError: another process holds it.
        """
        self._check_writable()
        stack = ExitStack()
        if not self.settings.chroma_host:
            self.settings.data_dir.mkdir(parents=True, exist_ok=True)
            if self._file_lock is None:
                # Not thread-local: the bot takes it in one worker thread and reindexes in others.
                self._file_lock = FileLock(str(self.folder.write_lock), timeout=0, thread_local=False)
            lock = self._file_lock
            try:
                lock.acquire()
            except Timeout:
                raise IndexBusyError(
                    f"another citebot process is writing to {self.settings.data_dir}; "
                    "wait for it to finish (if the bot is running, use /reindex there)"
                ) from None
            stack.callback(lock.release)
        if self._lease is None:
            self._lease = WriterLease(self.registry)
        try:
            self._lease.acquire()
        except BaseException:
            stack.close()
            raise
        stack.callback(self._lease.release)
        return stack

    def remove_library(self, library: str) -> LibraryRecord | None:
        """Delete a library and everything of it: its record first (every process stops
        reading it at its next check), then its feed subscriptions (and the channel they were
        announced in), its collections, this
        process's cache of it and the articles folder it keeps for it. Removing what an
        interrupted removal left behind is allowed. The base library is the operator's
        articles folder: it is emptied with ``index(prune=True)``, never removed.

        Returns:
            The library's record, or None when only leftovers were found.

        Raises:
            ReadOnlyError: this process is read-only.
            LibraryError: the base library, a bad name, or no such library.
            IndexBusyError: another process is the writer.
            StoreUnavailableError: the Chroma server is down.
        """
        import shutil

        from retrieval.subscriptions import StoredSubscriptions

        self._check_writable(
            "remove libraries where the writer runs (`citebot libraries remove` there, or /delete-library)"
        )
        name = check_library(library)
        if name == BASE_LIBRARY:
            raise LibraryError(
                "the base library is the articles folder's and cannot be removed; "
                "empty it with `citebot index --prune` on an empty folder"
            )
        with self._write_lock, self.writing():
            record, store = self.registry.record(name), self.store_of(name)
            feeds = StoredSubscriptions(
                self.chroma, self.settings.collection, name, threading.Lock(), threading.Lock()
            )
            folder, cache = self.folder.library_articles(name), self.folder.lexical_cache(name)
            subscribed, announced = feeds.load(), feeds.announce_channel()
            if (
                record is None
                and not store.exists()
                and not subscribed
                and announced is None
                and not folder.parent.exists()
            ):
                raise LibraryError(f"the store holds no library called {name}")
            self.registry.remove(name)
            self.views.forget(name)
            if subscribed:
                feeds.save({})
            if announced is not None:
                feeds.set_announce_channel(None)
            store.drop()
            for path in (cache, cache.with_name(cache.name + ".json")):
                path.unlink(missing_ok=True)
            shutil.rmtree(folder.parent, ignore_errors=True)
        return record

    def needs_index(self) -> bool:
        """Whether :meth:`ensure_index` would index: a writer whose store holds no base
        library yet (a new install, or an index of the layout before libraries to adopt)."""
        return not self.read_only and self.registry.record(BASE_LIBRARY) is None

    def has_legacy_index(self) -> bool:
        """Whether the data folder holds an index of the layout before the catalog moved into
        Chroma, which the next writer run adopts without embedding anything again."""
        return self.folder.manifest.exists() and self.registry.record(BASE_LIBRARY) is None

    def ensure_index(self, progress: Progress | None = None) -> IndexReport | None:
        """Index the base library from the articles folder when the store holds none (the
        first question on a new install), or adopt an index of the earlier layout; None when
        there is one already, or this process is read-only. A library built from another
        folder is never indexed over."""
        return self.index(progress=progress) if self.needs_index() else None

    def articles_folder(self, library: str = BASE_LIBRARY) -> Path:
        """The folder a library is indexed from by default."""
        return (
            self.settings.articles_dir if library == BASE_LIBRARY else self.folder.library_articles(library)
        )

    # --- reading -----------------------------------------------------------------------

    def has_index(self, library: str = BASE_LIBRARY) -> bool:
        """True when the store holds the library (or an index of the layout before libraries,
        which the writer's next run adopts)."""
        if self.views.known(library) or self.registry.record(library) is not None:
            return True
        return library == BASE_LIBRARY and self.folder.manifest.exists() and self.store_of(library).exists()

    def libraries(self) -> dict[str, LibraryRecord]:
        """Every library of the store, by name."""
        return self.registry.records()

    def search(
        self,
        question: str,
        k: int | None = None,
        *,
        library: str | None = None,
        previous: Sequence[str] | None = None,
        method: FollowUpMethod | None = None,
        since: str | datetime | None = None,
        until: str | datetime | None = None,
    ) -> Answer:
        """The passages that best answer ``question``, best first, with citations.

        Args:
            question: the user's question, in any language the model knows.
            k: how many passages; the settings' ``top_k`` by default.
            library: a library searched together with the base one (the settings'
                ``library`` by default); one that does not exist yet adds nothing.
            previous: the conversation's earlier questions, oldest first: a follow-up
                such as "And how many signed it?" is searched with them in mind (see
                :mod:`retrieval.followup`); blank ones are skipped.
            method: how the earlier questions are used; :data:`retrieval.followup.DEFAULT`
                unless a benchmark compares methods.
            since: only articles published from then on: an ISO date (``2020-02-12``,
                from the start of that day, UTC) or date-time, or a time before now
                (``7d``, ``2w``, ``3m``, ``1y``); see :mod:`retrieval.dates`. The filter
                runs inside Chroma's query. An article without a date is left out by any
                date filter.
            until: only articles published until then (a date: to the end of that day).

        Returns:
            An :class:`Answer`; ``answered`` is False when nothing relevant was found.

        Raises:
            QuestionError: the question is empty or too long, or a date cannot be read.
            IndexMismatchError: the index was built with another model.
            StoreUnavailableError: there is no index, or the Chroma server is down.
        """
        text = clean_question(question, self.settings.max_question_chars)
        history = [clean_question(p, self.settings.max_question_chars) for p in previous or () if p.strip()]
        k = k or self.settings.top_k
        dates = parse_range(since, until)
        scope = replace(self._scope(library), dates=dates)
        method = method or followup.DEFAULT
        side = cache(self._lexical_side(text, scope, followup.history_terms(text, history, method)))
        prepared = followup.prepare(text, history, self.query_vector, method)
        query = prepared.vector
        reach = max(k, self.reranking.depth) if cue_of(text) else k  # candidates the second stage may lift
        ranked = self._ranked(text, reach, scope, prepared, side)
        picked = shown(text, ranked, k, scope, query, self._split, self.reranking, side().vectors)
        # Copies of one story (reprints, boilerplate) may fill the vector search's candidates
        # and show as one passage: when fewer than k are shown and the search was cut, one
        # deeper vector search (the lexical candidates stay: their vectors are read).
        if DEEPER > 1 and len(picked) < k and len(ranked) >= self.settings.candidates:
            depth = self.settings.candidates * DEEPER
            deeper = self._ranked(text, reach, scope, prepared, side, candidates=depth)
            picked = shown(text, deeper, k, scope, query, self._split, self.reranking, side().vectors)
        passages = []
        for r in picked:
            meta = r.metadata
            passages.append(
                Passage(
                    rank=len(passages) + 1,
                    source=str(meta.get("source", meta.get("source_id", ""))),
                    source_id=str(meta.get("source_id", "")),
                    title=str(meta.get("title", "")),
                    text=r.candidate.text,
                    score=r.score,
                    language=str(meta.get("language", "und")),
                    location=str(meta.get("location", "")),
                    highlight=r.highlight,
                    chunk_id=r.candidate.ranked.chunk_id,
                    **_citation(meta),
                )
            )
        signals = Signals(
            best_similarity(ranked, self.weights),
            bm25.coverage(scope.lexical, text),
            bm25.name_coverage(scope.lexical, text),
        )
        margin = self.rule.margin(signals)
        log.info(
            "searched %d passages (%s): %d shown of %d ranked; best cosine %.3f, words %.2f, "
            "names %.2f, margin %+.4f",
            len(scope.passages),
            "1 library" if len(scope.parts) == 1 else f"{len(scope.parts)} libraries",
            len(passages),
            len(ranked),
            signals.similarity,
            signals.coverage,
            signals.names,
            margin,
        )
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

    def candidates(self, question: str, *, library: str | None = None) -> list[Ranked]:
        """Every candidate passage for ``question`` with its signals, best first, as the
        ranking sees them before one passage per sentence is kept (for tuning)."""
        text = clean_question(question, self.settings.max_question_chars)
        return self._ranked(text, self.settings.candidates, self._scope(library))

    def coverage(self, question: str, *, library: str | None = None) -> float:
        """Share of the question's content words that occur in the archive."""
        text = clean_question(question, self.settings.max_question_chars)
        return bm25.coverage(self._scope(library).lexical, text)

    def query_vector(self, question: str) -> np.ndarray:
        """The question's embedding; repeated questions skip the model (bounded LRU)."""
        with self._cache_lock:
            cached = self._query_cache.get(question)
            if cached is not None:
                self._query_cache.move_to_end(question)
                return cached
        vector = np.asarray(self.embedder.embed_queries([question])[0], dtype=np.float32)
        with self._cache_lock:
            self._query_cache[question] = vector
            while len(self._query_cache) > QUERY_CACHE_SIZE:
                self._query_cache.popitem(last=False)
        return vector

    def warm(self) -> float:
        """Load what a first question would wait for: the model, the base library's view
        (derived from the store, or this process's cache) and the store's vector index,
        by one search. For a long-running process, right after it starts (the bot).

        Returns:
            The seconds it took.

        Raises:
            CitebotError: as :meth:`search` (no index yet, another model's index, the
                store down); the first question then meets the same.
        """
        started = time.perf_counter()
        self.search(WARM_UP_QUESTION)
        with self._cache_lock:  # not a question anyone asked
            self._query_cache.pop(WARM_UP_QUESTION, None)
        return time.perf_counter() - started

    def follow(self) -> None:
        """Keep this process's views of the store current from a background thread (a
        long-running process: the bot). A search then waits neither for the check for
        another process's changes nor for bringing its view up to date after them."""
        self.views.follow()

    def stop_following(self) -> None:
        self.views.stop_following()

    def clear_query_cache(self) -> None:
        """Forget the cached question embeddings (benchmarks time the model on every ask)."""
        with self._cache_lock:
            self._query_cache.clear()

    def passage_languages(self, *, library: str | None = None) -> dict[str, str]:
        """``{passage id: its article's language}`` for every passage a search reads."""
        return dict(self._scope(library).view.languages)

    def passages(self, ids: Sequence[str], *, library: str | None = None) -> list[StoredChunk]:
        """Passages by id from the libraries a search with ``library`` reads (those still
        stored: a passage removed since is missing)."""
        return self._scope(library, missing_ok=True).get(list(ids))

    def sources(self, *, library: str | None = None) -> list[SourceInfo]:
        """Every article a search reads (the base library's and the named one's): newest
        first by publication date, then the undated ones by library and source id."""
        infos = []
        for store, view in self._scope(library, missing_ok=True).parts:
            del store
            for name, entry in sorted(view.catalog.entries.items()):
                infos.append(
                    SourceInfo(
                        source_id=name,
                        title=entry.title,
                        language=entry.language,
                        chunks=len(entry.chunks),
                        indexed_at=entry.indexed_at,
                        url=entry.url,
                        library=view.name,
                        published=entry.published,
                        author=entry.author,
                        site=entry.site,
                    )
                )
        return newest_first(infos)

    # --- this process's view of the store ----------------------------------------------

    def _scope(self, library: str | None, missing_ok: bool = False) -> Scope:
        """The libraries a search reads, current as of at most ``refresh_seconds`` ago."""
        self.views.poll()
        names = [BASE_LIBRARY]
        extra = library if library is not None else self.settings.library
        if extra and extra != BASE_LIBRARY:
            names.append(check_library(extra))
        parts = []
        for name in names:
            view = self.views.get(name)
            if view is not None:
                parts.append((self.store_of(name), view))
        if not parts:
            if missing_ok:
                return Scope(())
            self._no_index()
        for _, view in parts:
            if view.record.identity != self.model_identity:
                raise IndexMismatchError(
                    f"the index was built with other settings ({view.record.identity}, "
                    f"not {self.model_identity}); run `citebot index` where the index is written"
                )
        return Scope(tuple(parts))

    def _lexical_side(self, text: str, scope: Scope, terms: dict[str, float]) -> Callable[[], LexicalSide]:
        """The lexical search for ``text`` (with a conversation's ``terms``), started in
        another thread while this one embeds the question: call the result for it (the
        ranking does, after its vector search). When the question's vector is cached, or
        no thread is free, or the thread has not finished within ``SIDE_PATIENCE``, it
        runs here instead, and without reading every candidate's vectors: the ranking
        reads the few it needs."""
        ranker = Ranker(scope, scope.lexical, self.weights, self.settings.candidates)
        inline = partial(ranker.lexical_side, text, terms, scope.allowed)
        if text in self._query_cache:
            return inline
        work = partial(inline, counts=scope.view.sentence_counts)
        with self._cache_lock:
            if self._side_threads is None:
                self._side_threads = ThreadPoolExecutor(
                    SIDE_THREADS, thread_name_prefix="citebot-lexical", initializer=threads.idle
                )
        future = self._side_threads.submit(work)

        def result() -> LexicalSide:
            if future.cancel():  # no thread was free
                return inline()
            try:
                return future.result(timeout=SIDE_PATIENCE)
            except TimeoutError:  # the cores are busy with other work
                return inline()

        return result

    def _ranked(
        self,
        text: str,
        k: int,
        scope: Scope,
        prepared: followup.PreparedQuery | None = None,
        side: Callable[[], LexicalSide] | None = None,
        candidates: int | None = None,
    ) -> list[Ranked]:
        """The ranking of the libraries' indexed passages for the cleaned question ``text``
        (asked after earlier questions when ``prepared`` says how; its lexical search
        started beforehand when ``side`` gives it), from ``candidates`` passages of each
        search (the settings' by default)."""
        ranker = Ranker(scope, scope.lexical, self.weights, candidates or self.settings.candidates)
        query = prepared.vector if prepared is not None else self.query_vector(text)
        history_terms = prepared.history_terms if prepared is not None else None
        ranked = ranker.rank(
            text,
            query,
            k,
            question_language(text),
            scope.view,
            history_terms=history_terms,
            allowed=scope.allowed,
            side=side,
        )
        # While a reindex runs, the store holds the new passages of a changed article
        # beside its old ones until its catalog entry is written: show only passages the
        # catalog lists, so one answer never mixes two versions of an article.
        passages = scope.passages
        return [r for r in ranked if r.chunk_id in passages]

    def second_stage_input(self, question: str, depth: int, *, library: str | None = None) -> list[Candidate]:
        """The first ``depth`` candidates of ``question`` as the second stage reads them
        (for ``benchmarks/rerank.py``)."""
        text = clean_question(question, self.settings.max_question_chars)
        scope = self._scope(library)
        ranked = self._ranked(text, depth, scope)
        return read_candidates(ranked[:depth], scope, self.query_vector(text))

    def _check_writable(
        self, what: str = "index where the writer runs (`citebot index` there, or the writing bot's /reindex)"
    ) -> None:
        if self.read_only:
            raise ReadOnlyError(
                f"this citebot is read-only (CITEBOT_READ_ONLY=true): it never writes the index; {what}"
            )

    def _no_index(self) -> None:
        from retrieval.errors import NoIndexError

        hint = "the writer has not indexed anything yet" if self.read_only else "run `citebot index` first"
        raise NoIndexError(f"no index in {self.chroma.where}; {hint}")
