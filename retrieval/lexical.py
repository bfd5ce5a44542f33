"""The lexical index: BM25 over language-aware tokens, saved beside the vectors.

Scores are bm25s's "lucene" BM25 (k1 = 1.5, b = 0.75), computed here from term
counts kept as flat numpy arrays: adding or removing chunks touches only their
own tokens (no re-index of the whole corpus), and a search reads only the
postings of the question's terms. Tokens come from :mod:`retrieval.tokenization`.
The index is one file replaced atomically, so a crash never leaves half of it.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retrieval.layout import atomic_write
from retrieval.tokenization import content_words, names, tokenize, tokenize_query

FORMAT_VERSION = 2
K1 = 1.5
B = 0.75


@dataclass(frozen=True)
class _Postings:
    """What a search reads, swapped as one value while an update builds the next one."""

    ids: list[str]
    vocab: dict[str, int]
    term_ptr: np.ndarray  # (terms + 1,) int64: the postings of term t are [term_ptr[t], term_ptr[t + 1])
    term_docs: np.ndarray  # (postings,) int32 row of the chunk
    term_tf: np.ndarray  # (postings,) float32 occurrences of the term in the chunk
    lengths: np.ndarray  # (chunks,) float32 tokens per chunk
    avgdl: float


_EMPTY = _Postings(
    [],
    {},
    np.zeros(1, np.int64),
    np.zeros(0, np.int32),
    np.zeros(0, np.float32),
    np.zeros(0, np.float32),
    1.0,
)


class LexicalIndex:
    """BM25 over every chunk; ``search`` returns ``(chunk id, score)`` pairs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        #: True when the file read was of an older format: the next indexing run rewrites it.
        self.outdated = False
        self._set_rows(
            [], {}, np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.int32)
        )

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, chunk_id: object) -> bool:
        return chunk_id in self._positions

    @property
    def ids(self) -> set[str]:
        return set(self._ids)

    def load(self) -> bool:
        """Read the saved index; False when there is none, it is unreadable or of an older format."""
        try:
            with self.path.open("rb") as handle:
                data = pickle.load(handle)
        except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ValueError, ImportError):
            return False
        if isinstance(data, dict) and data.get("version") == 1 and isinstance(data.get("tokens"), dict):
            # The first format kept every chunk's token list: convert it, no re-tokenising needed.
            self.clear()
            self._add_tokens(data["tokens"], remove=())
            self.outdated = True
            return True
        if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
            return False
        self._set_rows(
            data["ids"],
            data["vocab"],
            data["doc_ptr"],
            data["doc_terms"],
            data["doc_tf"],
            data["lengths"],
            term_major=(data["term_ptr"], data["term_docs"], data["term_tf"]),
        )
        return True

    def update(self, add: dict[str, tuple[str, str]], remove: Iterable[str]) -> None:
        """Remove chunks by id and add ``{id: (text, language)}``; only their tokens are processed."""
        self._add_tokens(
            {chunk_id: tokenize(text, language) for chunk_id, (text, language) in add.items()}, remove
        )

    def _add_tokens(self, add: dict[str, list[str]], remove: Iterable[str]) -> None:
        drop = {self._positions[c] for c in {*remove, *add} if c in self._positions}
        ids, doc_ptr, doc_terms, doc_tf, lengths = (
            self._ids,
            self._doc_ptr,
            self._doc_terms,
            self._doc_tf,
            self._lengths,
        )
        if drop:
            keep = np.ones(len(ids), dtype=bool)
            keep[list(drop)] = False
            sizes = np.diff(doc_ptr)
            entries = np.repeat(keep, sizes)
            ids = [chunk_id for chunk_id, kept in zip(ids, keep.tolist()) if kept]
            doc_terms, doc_tf, lengths = doc_terms[entries], doc_tf[entries], lengths[keep]
            doc_ptr = np.concatenate(([0], np.cumsum(sizes[keep]))).astype(np.int64)
        vocab = dict(self._vocab)
        new_ids: list[str] = []
        new_terms: list[int] = []
        new_tf: list[int] = []
        new_sizes: list[int] = []
        new_lengths: list[int] = []
        for chunk_id, tokens in add.items():
            counts: dict[int, int] = {}
            for token in tokens:
                term = vocab.setdefault(token, len(vocab))
                counts[term] = counts.get(term, 0) + 1
            new_terms.extend(counts)
            new_tf.extend(counts.values())
            new_sizes.append(len(counts))
            new_lengths.append(max(len(tokens), 1))  # bm25s indexes an empty chunk as one empty token
            new_ids.append(chunk_id)
        if add:
            ids = [*ids, *new_ids]
            doc_terms = np.concatenate((doc_terms, np.asarray(new_terms, dtype=np.int32)))
            doc_tf = np.concatenate((doc_tf, np.asarray(new_tf, dtype=np.int32)))
            doc_ptr = np.concatenate((doc_ptr, doc_ptr[-1] + np.cumsum(new_sizes, dtype=np.int64)))
            lengths = np.concatenate((lengths, np.asarray(new_lengths, dtype=np.int32)))
        self._set_rows(ids, vocab, doc_ptr, doc_terms, doc_tf, lengths)

    def clear(self) -> None:
        self._set_rows(
            [], {}, np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.int32)
        )

    def save(self) -> None:
        """Write the index to a temporary file and move it into place atomically."""
        postings = self._postings
        data = {
            "version": FORMAT_VERSION,
            "ids": self._ids,
            "vocab": self._vocab,
            "doc_ptr": self._doc_ptr,
            "doc_terms": self._doc_terms,
            "doc_tf": self._doc_tf,
            "lengths": self._lengths,
            "term_ptr": postings.term_ptr,
            "term_docs": postings.term_docs,
            "term_tf": postings.term_tf,
        }
        buffer = io.BytesIO()
        pickle.dump(data, buffer, protocol=pickle.HIGHEST_PROTOCOL)
        atomic_write(self.path, buffer.getvalue())
        self.outdated = False

    def search(
        self, question: str, n: int, *, extra: Mapping[str, float] | None = None
    ) -> list[tuple[str, float]]:
        """The ``n`` best chunks for ``question`` by BM25, best first (score > 0 only).

        Args:
            question: the question; each of its terms counts fully.
            n: how many chunks.
            extra: more query terms (tokens as :func:`tokenize_query` makes them) with
                the weight each counts for, e.g. an earlier question's terms at a lower
                weight; a term of ``question`` keeps its full weight.
        """
        p = self._postings
        if not p.ids or n <= 0:
            return []
        wanted = {t: 1.0 for t in tokenize_query(question)}
        for term, weight in (extra or {}).items():
            if weight > 0 and term not in wanted:
                wanted[term] = weight
        known = [t for t in wanted if t in p.vocab]
        terms = np.asarray([p.vocab[t] for t in known], dtype=np.int64)
        if not len(terms):
            return []
        starts, ends = p.term_ptr[terms], p.term_ptr[terms + 1]
        df = (ends - starts).astype(np.float64)
        total = len(p.ids)
        idf = np.log(1.0 + (total - df + 0.5) / (df + 0.5))
        if extra:
            idf = idf * np.asarray([wanted[t] for t in known], dtype=np.float64)
        rows = np.concatenate([p.term_docs[s:e] for s, e in zip(starts.tolist(), ends.tolist())])
        if not len(rows):
            return []
        tf = np.concatenate([p.term_tf[s:e] for s, e in zip(starts.tolist(), ends.tolist())]).astype(
            np.float64
        )
        weight = np.repeat(idf, (ends - starts))
        norm = K1 * (1.0 - B + B * p.lengths[rows] / p.avgdl)
        scores = np.bincount(rows, weights=weight * tf / (tf + norm), minlength=total)
        candidates = np.unique(rows) if len(rows) < total // 8 else np.flatnonzero(scores)
        values = scores[candidates]
        n = min(n, len(candidates))
        top = np.argpartition(-values, n - 1)[:n]
        top = top[np.argsort(-values[top], kind="stable")]
        return [(p.ids[i], float(s)) for i, s in zip(candidates[top].tolist(), values[top].tolist()) if s > 0]

    def coverage(self, question: str) -> float:
        """Share of the question's content words found anywhere in the indexed text.

        A question about something the archive never mentions shares few words
        with it; used, with the dense score, to decide whether to answer.
        """
        vocab = self._postings.vocab
        words = content_words(question)
        if not words or not vocab:
            return 0.0
        found = sum(1 for w in words if any(t in vocab for t in tokenize_query(w)))
        return found / len(words)

    def name_coverage(self, question: str) -> float:
        """Share of the question's names (see ``tokenization.names``) found in the indexed
        text; 1.0 when it names nothing. An archive that never mentions "Twitter" or "DGSI"
        holds no answer about them, in whatever language the question is asked."""
        vocab = self._postings.vocab
        wanted = names(question)
        if not wanted:
            return 1.0
        if not vocab:
            return 0.0
        return sum(1 for w in wanted if any(t in vocab for t in tokenize_query(w))) / len(wanted)

    def _set_rows(
        self,
        ids: list[str],
        vocab: dict[str, int],
        doc_ptr: np.ndarray,
        doc_terms: np.ndarray,
        doc_tf: np.ndarray,
        lengths: np.ndarray,
        term_major: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    ) -> None:
        """Install a new chunk-major state and the term-major postings a search reads."""
        if term_major is None:
            term_major = _transpose(doc_ptr, doc_terms, doc_tf, len(ids), len(vocab))
        term_ptr, term_docs, term_tf = term_major
        self._ids, self._vocab = ids, vocab
        self._positions = {chunk_id: row for row, chunk_id in enumerate(ids)}
        self._doc_ptr, self._doc_terms, self._doc_tf, self._lengths = doc_ptr, doc_terms, doc_tf, lengths
        avgdl = float(lengths.mean()) if len(lengths) else 1.0
        self._postings = (
            _Postings(ids, vocab, term_ptr, term_docs, term_tf, lengths.astype(np.float32), avgdl)
            if ids
            else _EMPTY
        )


def _transpose(
    doc_ptr: np.ndarray, doc_terms: np.ndarray, doc_tf: np.ndarray, rows: int, terms: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chunk-major term counts to term-major postings (linear time, through scipy)."""
    if not rows:
        return np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32)
    from scipy import sparse

    matrix = sparse.csr_matrix((doc_tf.astype(np.float32), doc_terms, doc_ptr), shape=(rows, max(terms, 1)))
    csc = matrix.tocsc()
    return csc.indptr.astype(np.int64), csc.indices.astype(np.int32), csc.data.astype(np.float32)
