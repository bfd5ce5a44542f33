"""What one search reads: the base library and, for a Discord server, its own, as one.

A :class:`Scope` answers the ranking's questions (nearest sentences, a passage's
sentences, texts, passages) by asking each library's store and merging, so the
ranking needs no notion of libraries. With the base library alone it is the base
library's store, answer for answer.

A scope may be limited to a range of publication dates: its nearest-sentence query
filters inside Chroma (on the sentences' ``published_ts``), and :attr:`Scope.allowed`
gives the passages in range by their catalog entries' dates, for the BM25 candidates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from retrieval.dates import DateRange
from retrieval.layout import passage_of
from retrieval.lexical import LexicalIndex
from retrieval.library import LibraryView
from retrieval.ranking import IndexView
from retrieval.store import LibraryStore, SentenceVectors, StoredChunk, StoredSentence


@dataclass(frozen=True)
class Scope:
    """Libraries searched together, first one first (the base library)."""

    parts: tuple[tuple[LibraryStore, LibraryView], ...]
    #: The publication dates searched (open by default: every article, dated or not).
    dates: DateRange = field(default_factory=DateRange)

    @property
    def lexical(self) -> list[LexicalIndex]:
        return [view.lexical for _, view in self.parts]

    @cached_property
    def passages(self) -> frozenset[str]:
        """The passages a search may show: those of each library's last finished runs (the
        base library's own set when it is searched alone: no copy of every id per search)."""
        if len(self.parts) == 1:
            return self.parts[0][1].passages
        return frozenset().union(*(view.passages for _, view in self.parts))

    @cached_property
    def view(self) -> IndexView:
        if len(self.parts) == 1:
            return self.parts[0][1].view
        counts: dict[str, int] = {}
        languages: dict[str, str] = {}
        dates: dict[str, int] = {}
        for _, view in reversed(self.parts):  # the first library wins a passage id both hold
            counts.update(view.view.sentence_counts)
            languages.update(view.view.languages)
            dates.update(view.dates)
        return IndexView(counts, languages, dates)

    @cached_property
    def allowed(self) -> frozenset[str] | None:
        """The passages whose article's date is in :attr:`dates`; None when the range is open."""
        if not self.dates.bounded:
            return None
        return frozenset(
            chunk_id
            for _, view in self.parts
            for chunk_id, stamp in view.dates.items()
            if self.dates.contains(stamp)
        )

    def query_sentences(self, embedding: np.ndarray, n: int) -> list[StoredSentence]:
        """The ``n`` sentences nearest to ``embedding`` over every library (within the
        scope's dates), most similar first."""
        where = self.dates.where()
        if len(self.parts) == 1:
            return self.parts[0][0].query_sentences(embedding, n, where)
        found = [s for store, _ in self.parts for s in store.query_sentences(embedding, n, where)]
        found.sort(key=lambda s: s.similarity, reverse=True)
        return found[:n]

    def sentences_counted(
        self, counts: dict[str, int], embedding: np.ndarray, texts: bool = False
    ) -> list[StoredSentence]:
        return [
            s
            for store, ids in self._split(list(counts))
            for s in store.sentences_counted({c: counts[c] for c in ids}, embedding, texts)
        ]

    def vectors_counted(self, counts: dict[str, int]) -> SentenceVectors:
        return SentenceVectors.joined(
            [store.vectors_counted({c: counts[c] for c in ids}) for store, ids in self._split(list(counts))]
        )

    def sentences_of(self, chunk_ids: Sequence[str], embedding: np.ndarray) -> list[StoredSentence]:
        return [s for store, ids in self._split(chunk_ids) for s in store.sentences_of(ids, embedding)]

    def sentence_texts(self, ids: Sequence[str]) -> dict[str, str]:
        texts: dict[str, str] = {}
        by_passage: dict[str, list[str]] = {}
        for sentence in ids:
            by_passage.setdefault(passage_of(sentence), []).append(sentence)
        for store, passages in self._split(list(by_passage)):
            texts.update(store.sentence_texts([s for p in passages for s in by_passage[p]]))
        return texts

    def get(self, ids: Sequence[str]) -> list[StoredChunk]:
        return [chunk for store, part in self._split(ids) for chunk in store.get(part)]

    def _split(self, chunk_ids: Sequence[str]) -> list[tuple[LibraryStore, list[str]]]:
        """The passage ids grouped by the library that holds them (the first one, for an id
        two libraries hold; the first library, for one none lists)."""
        if len(self.parts) == 1:
            return [(self.parts[0][0], list(chunk_ids))] if chunk_ids else []
        groups: dict[int, list[str]] = {}
        for chunk_id in chunk_ids:
            owner = next((n for n, (_, view) in enumerate(self.parts) if chunk_id in view.passages), 0)
            groups.setdefault(owner, []).append(chunk_id)
        return [(self.parts[n][0], ids) for n, ids in sorted(groups.items())]
