"""The lexical index: BM25 over language-aware tokens, kept as plain arrays.

Scores are bm25s's "lucene" BM25 (k1 = 1.5, b = 0.75), computed from term counts
kept as flat numpy arrays: adding or removing passages touches only their own
terms (no re-index of the whole corpus), and a search reads only the postings of
the question's terms. Tokens come from :mod:`retrieval.tokenization`.

Each passage's terms are a :class:`Row` of ids into the index's vocabulary, which
only grows, so the writer can store every row and the new words of a run in
Chroma and any other process can rebuild the same index from them without
tokenising a word (see :mod:`retrieval.library`). A process may also keep its
index as a local cache: an ``.npz`` of arrays and a JSON file, never a pickle.
Several indexes (a server's library and the base one) are searched as one corpus:
document frequencies, the passage count and the mean length are summed over them.
"""

from __future__ import annotations

import base64
import json
import zipfile
import zlib
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from retrieval.layout import atomic_write
from retrieval.tokenization import content_words, names, tokenize, tokenize_query

FORMAT_VERSION = 3
K1 = 1.5
B = 0.75


@dataclass(frozen=True)
class Row:
    """One passage's terms: ids into its index's vocabulary, how often each occurs, and the
    passage's length in tokens."""

    terms: np.ndarray  # (n,) int32
    counts: np.ndarray  # (n,) int32
    length: int


def pack_rows(rows: Sequence[Row]) -> str:
    """Several rows (an article's passages, in order) as one short ASCII string: term ids
    sorted and delta-coded, counts, sizes and lengths, compressed."""
    order = [np.argsort(r.terms, kind="stable") for r in rows]
    ids = [r.terms[o].astype(np.int64) for r, o in zip(rows, order)]
    deltas = [np.diff(i, prepend=0) for i in ids]
    parts = [
        np.asarray([len(rows)], dtype="<u4"),
        np.asarray([len(r.terms) for r in rows], dtype="<u4"),
        np.asarray([r.length for r in rows], dtype="<u4"),
        np.concatenate(deltas or [np.zeros(0)]).astype("<u4"),
        np.concatenate([r.counts[o] for r, o in zip(rows, order)] or [np.zeros(0)]).astype("<u4"),
    ]
    return base64.b64encode(zlib.compress(b"".join(p.tobytes() for p in parts), 6)).decode("ascii")


def unpack_rows(text: str) -> list[Row]:
    """The rows :func:`pack_rows` packed.

    Raises:
        ValueError: ``text`` is not such a string.
    """
    sizes, lengths, terms, counts = _unpacked(text)
    bounds = np.concatenate(([0], np.cumsum(sizes)))
    return [
        Row(
            terms[bounds[k] : bounds[k + 1]],
            counts[bounds[k] : bounds[k + 1]].astype(np.int32),
            int(lengths[k]),
        )
        for k in range(len(sizes))
    ]


def unpack_block(text: str, ids: Sequence[str]) -> Rows:
    """The rows :func:`pack_rows` packed, as one flat block for the passages ``ids`` (in order).

    Raises:
        ValueError: ``text`` is not such a string, or holds another number of rows.
    """
    sizes, lengths, terms, counts = _unpacked(text)
    if len(sizes) != len(ids):
        raise ValueError(f"{len(sizes)} BM25 rows for {len(ids)} passages")
    return Rows(list(ids), sizes, lengths, terms, _compact(counts))


def _unpacked(text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rows' sizes (int64), lengths (int32), term ids (int32) and counts (uint32), flat."""
    try:
        data = np.frombuffer(zlib.decompress(base64.b64decode(text, validate=True)), dtype="<u4")
    except (ValueError, zlib.error) as error:
        raise ValueError(f"not packed BM25 rows ({error})") from None
    if not len(data):
        raise ValueError("not packed BM25 rows (empty)")
    n = int(data[0])
    sizes, lengths = data[1 : 1 + n].astype(np.int64), data[1 + n : 1 + 2 * n]
    total = int(sizes.sum())
    if len(sizes) != n or len(data) != 1 + 2 * n + 2 * total:
        raise ValueError("not packed BM25 rows (sizes do not add up)")
    deltas, counts = data[1 + 2 * n : 1 + 2 * n + total], data[1 + 2 * n + total :]
    # Each row's ids are delta-coded from 0: a running sum over all rows, less its value
    # where each row starts.
    running = np.cumsum(deltas, dtype=np.int64)
    before = np.concatenate(([0], running))[np.concatenate(([0], np.cumsum(sizes)))[:-1]]
    terms = (running - np.repeat(before, sizes)).astype(np.int32)
    return sizes, lengths.astype(np.int32), terms, counts


@dataclass(frozen=True)
class Rows:
    """Several passages' rows as flat arrays, one after another: a whole catalog's rows
    without two arrays per passage.

    Attributes:
        ids: the passages, in order.
        sizes: (n,) int64, how many distinct terms each passage has.
        lengths: (n,) int32, each passage's length in tokens.
        terms: (sum of sizes,) int32 term ids, passage after passage.
        counts: (sum of sizes,) how often each occurs (uint16, or int32 when one does not fit).
    """

    ids: list[str]
    sizes: np.ndarray
    lengths: np.ndarray
    terms: np.ndarray
    counts: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def of(cls, rows: Mapping[str, Row]) -> Rows:
        """The rows of a ``{passage id: row}`` mapping, in its order."""
        n = len(rows)
        return cls(
            list(rows),
            np.fromiter((len(r.terms) for r in rows.values()), np.int64, n),
            np.fromiter((r.length for r in rows.values()), np.int32, n),
            np.concatenate([np.zeros(0, np.int32), *(r.terms for r in rows.values())]).astype(
                np.int32, copy=False
            ),
            _compact(np.concatenate([np.zeros(0, np.int32), *(r.counts for r in rows.values())])),
        )

    @classmethod
    def joined(cls, parts: Sequence[Rows]) -> Rows:
        """One block of ``parts``, in order."""
        if len(parts) == 1:
            return parts[0]
        return cls(
            [i for part in parts for i in part.ids],
            np.concatenate([np.zeros(0, np.int64), *(p.sizes for p in parts)]),
            np.concatenate([np.zeros(0, np.int32), *(p.lengths for p in parts)]),
            np.concatenate([np.zeros(0, np.int32), *(p.terms for p in parts)]),
            _compact(np.concatenate([np.zeros(0, np.uint16), *(p.counts for p in parts)])),
        )


@dataclass(frozen=True)
class _Postings:
    """What a search reads, swapped as one value while an update builds the next one."""

    ids: list[str]
    vocab: dict[str, int]
    term_ptr: np.ndarray  # (terms + 1,) int64: the postings of term t are [term_ptr[t], term_ptr[t + 1])
    term_docs: np.ndarray  # (postings,) int32 row of the passage
    term_tf: np.ndarray  # (postings,) occurrences of the term in the passage (uint16 when they fit)
    lengths: np.ndarray  # (passages,) float32 tokens per passage


def _empty_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.int32)


class LexicalIndex:
    """BM25 over passages; see :func:`search` for scoring one or several indexes."""

    def __init__(self) -> None:
        self._terms: list[str] = []
        self._set_rows([], {}, *_empty_arrays())

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, chunk_id: object) -> bool:
        return chunk_id in self._positions

    @property
    def ids(self) -> set[str]:
        return set(self._ids)

    @property
    def terms(self) -> list[str]:
        """The vocabulary, by id; it only grows (until :meth:`clear`)."""
        return self._terms

    def update(self, add: Mapping[str, tuple[str, str]], remove: Iterable[str]) -> dict[str, Row]:
        """Remove passages by id and add ``{id: (text, language)}``, tokenising only those.

        Returns:
            The rows of the added passages (new words are appended to :attr:`terms`).
        """
        vocab = dict(self._vocab)
        terms = list(self._terms)
        rows: dict[str, Row] = {}
        for chunk_id, (text, language) in add.items():
            counts: dict[int, int] = {}
            tokens = tokenize(text, language)
            for token in tokens:
                term = vocab.get(token)
                if term is None:
                    term = vocab[token] = len(terms)
                    terms.append(token)
                counts[term] = counts.get(term, 0) + 1
            # bm25s indexes an empty passage as one empty token
            rows[chunk_id] = Row(
                np.fromiter(counts, np.int32, len(counts)),
                np.fromiter(counts.values(), np.int32, len(counts)),
                max(len(tokens), 1),
            )
        self._terms = terms
        self._apply(Rows.of(rows), remove, vocab)
        return rows

    def apply(
        self, rows: Mapping[str, Row] | Rows, remove: Iterable[str] = (), terms: Sequence[str] = ()
    ) -> None:
        """Add rows built elsewhere (by the writer, read from Chroma) and remove passages.

        Args:
            rows: ``{passage id: row}``, or a flat block of rows (a passage listed once);
                their ids refer to :attr:`terms` extended by ``terms``.
            remove: passages to drop.
            terms: words to append to the vocabulary first, in id order.
        """
        vocab = dict(self._vocab)
        if terms:
            self._terms = [*self._terms, *terms]
            vocab.update((term, n) for n, term in enumerate(self._terms[len(vocab) :], start=len(vocab)))
        self._apply(rows if isinstance(rows, Rows) else Rows.of(rows), remove, vocab)

    def copy(self) -> LexicalIndex:
        """An independent index with the same content (arrays are shared: they are never
        changed in place, only replaced)."""
        other = LexicalIndex.__new__(LexicalIndex)
        other.__dict__.update(self.__dict__)
        other._terms = list(self._terms)
        return other

    def row(self, chunk_id: str) -> Row:
        position = self._positions[chunk_id]
        start, end = int(self._doc_ptr[position]), int(self._doc_ptr[position + 1])
        return Row(
            self._doc_terms[start:end].copy(),
            self._doc_tf[start:end].astype(np.int32),
            int(self._lengths[position]),
        )

    def clear(self) -> None:
        self._terms = []
        self._set_rows([], {}, *_empty_arrays())

    def save(self, path: Path, meta: Mapping[str, object]) -> None:
        """Write the index as ``path`` (``.npz`` arrays) and ``path.json`` (ids, words and
        ``meta``, whose values may hold objects with a ``to_json()``), each atomically and
        streamed to the file; the JSON, written last, names what the arrays hold."""
        atomic_write(
            path,
            lambda handle: np.savez(
                handle,
                doc_ptr=self._doc_ptr,
                doc_terms=self._doc_terms,
                doc_tf=self._doc_tf,
                lengths=self._lengths,
            ),
        )
        header = {
            "version": FORMAT_VERSION,
            "ids": self._ids,
            "terms": self._terms,
            "rows": len(self._ids),
            **meta,
        }
        atomic_write(path.with_name(path.name + ".json"), lambda handle: write_json(handle, header))

    @classmethod
    def load(cls, path: Path) -> tuple[LexicalIndex, dict[str, object]] | None:
        """The index saved at ``path`` and its ``meta``; None when there is none, it is
        unreadable, of another format, or its two files do not belong together."""
        try:
            header = json.loads(path.with_name(path.name + ".json").read_text(encoding="utf-8"))
            with np.load(path, allow_pickle=False) as arrays:
                doc_ptr, doc_terms = arrays["doc_ptr"], arrays["doc_terms"]
                doc_tf, lengths = arrays["doc_tf"], arrays["lengths"]
        except (OSError, ValueError, KeyError, UnicodeDecodeError, EOFError, zipfile.BadZipFile):
            return None
        if not isinstance(header, dict) or header.get("version") != FORMAT_VERSION:
            return None
        ids, terms = header.get("ids"), header.get("terms")
        if not isinstance(ids, list) or not isinstance(terms, list) or len(ids) + 1 != len(doc_ptr):
            return None
        if len(lengths) != len(ids) or int(doc_ptr[-1]) != len(doc_terms) or len(doc_tf) != len(doc_terms):
            return None
        if len(doc_terms) and int(doc_terms.max()) >= len(terms):
            return None
        index = cls()
        index._terms = [str(t) for t in terms]
        vocab = {term: n for n, term in enumerate(index._terms)}
        if not all(np.issubdtype(a.dtype, np.integer) for a in (doc_ptr, doc_terms, doc_tf, lengths)):
            return None
        index._set_rows(
            [str(i) for i in ids],
            vocab,
            doc_ptr.astype(np.int64, copy=False),
            doc_terms.astype(np.int32, copy=False),
            doc_tf,  # as saved: compact already
            lengths.astype(np.int32, copy=False),
        )
        meta = {k: v for k, v in header.items() if k not in {"version", "ids", "terms", "rows"}}
        return index, meta

    def _apply(self, rows: Rows, remove: Iterable[str], vocab: dict[str, int]) -> None:
        drop = {self._positions[c] for c in {*remove, *rows.ids} if c in self._positions}
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
        if len(rows):
            ends = np.cumsum(rows.sizes)
            if not ids:  # nothing kept: the block's arrays are the index's (a catalog read whole)
                doc_terms, doc_tf, lengths = rows.terms, rows.counts, rows.lengths
                doc_ptr = np.concatenate(([0], ends)).astype(np.int64)
            else:
                doc_terms = np.concatenate((doc_terms, rows.terms))
                doc_tf = np.concatenate((doc_tf, rows.counts))
                doc_ptr = np.concatenate((doc_ptr, doc_ptr[-1] + ends))
                lengths = np.concatenate((lengths, rows.lengths))
            ids = [*ids, *rows.ids]
        self._set_rows(ids, vocab, doc_ptr, doc_terms, doc_tf, lengths)

    def _set_rows(
        self,
        ids: list[str],
        vocab: dict[str, int],
        doc_ptr: np.ndarray,
        doc_terms: np.ndarray,
        doc_tf: np.ndarray,
        lengths: np.ndarray,
    ) -> None:
        """Install a new passage-major state and the term-major postings a search reads."""
        # Term counts are small integers: two bytes each instead of four (twice, passage- and
        # term-major: about 30 MB at 100k passages); a search reads them as float64 anyway.
        doc_tf = _compact(doc_tf)
        term_ptr, term_docs, term_tf = _transpose(doc_ptr, doc_terms, doc_tf, len(ids), len(self._terms))
        self._ids, self._vocab = ids, vocab
        self._positions = {chunk_id: row for row, chunk_id in enumerate(ids)}
        self._doc_ptr, self._doc_terms, self._doc_tf, self._lengths = doc_ptr, doc_terms, doc_tf, lengths
        self._postings = _Postings(ids, vocab, term_ptr, term_docs, term_tf, lengths.astype(np.float32))


def search(
    indexes: Sequence[LexicalIndex],
    question: str,
    n: int,
    *,
    extra: Mapping[str, float] | None = None,
    allowed: Container[str] | None = None,
) -> list[tuple[str, float]]:
    """The ``n`` best passages for ``question`` by BM25 over the indexes taken as one
    corpus, best first (score > 0 only; ties by passage id).

    Args:
        indexes: searched as one corpus.
        question: the question; each of its terms counts fully.
        n: how many passages.
        extra: more query terms (tokens as :func:`tokenize_query` makes them) with the
            weight each counts for, e.g. an earlier question's terms at a lower weight; a
            term of ``question`` keeps its full weight.
        allowed: the only passages that may be returned (a date filter); all when None.
            The corpus statistics stay those of every passage.
    """
    postings = [index._postings for index in indexes if index._postings.ids]
    if not postings or n <= 0:
        return []
    wanted = dict.fromkeys(tokenize_query(question), 1.0)
    for term, weight in (extra or {}).items():
        if weight > 0 and term not in wanted:
            wanted[term] = weight
    tokens = list(wanted)
    total = sum(len(p.ids) for p in postings)
    avgdl = float(sum(float(p.lengths.sum()) for p in postings)) / total
    df = {t: 0 for t in tokens}
    for p in postings:
        for t in tokens:
            term = p.vocab.get(t)
            if term is not None:
                df[t] += int(p.term_ptr[term + 1] - p.term_ptr[term])
    idf = {t: wanted[t] * float(np.log(1.0 + (total - d + 0.5) / (d + 0.5))) for t, d in df.items() if d}
    found: list[tuple[float, str]] = []
    for p in postings:
        terms = [(p.vocab[t], idf[t]) for t in tokens if t in idf and t in p.vocab]
        if not terms:
            continue
        spans = [(int(p.term_ptr[term]), int(p.term_ptr[term + 1]), weight) for term, weight in terms]
        rows = np.concatenate([p.term_docs[s:e] for s, e, _ in spans])
        if not len(rows):
            continue
        tf = np.concatenate([p.term_tf[s:e] for s, e, _ in spans]).astype(np.float64)
        weight = np.concatenate([np.full(e - s, w) for s, e, w in spans])
        norm = K1 * (1.0 - B + B * p.lengths[rows] / avgdl)
        scores = np.bincount(rows, weights=weight * tf / (tf + norm), minlength=len(p.ids))
        candidates = np.unique(rows) if len(rows) < len(p.ids) // 8 else np.flatnonzero(scores)
        if allowed is not None:
            inside = np.fromiter((p.ids[int(c)] in allowed for c in candidates), bool, len(candidates))
            candidates = candidates[inside]
            if not len(candidates):
                continue
        values = scores[candidates]
        keep = min(n, len(candidates))
        top = np.argpartition(-values, keep - 1)[:keep]
        cut = values[top].min()
        if keep < len(values) and np.count_nonzero(values == cut) > np.count_nonzero(values[top] == cut):
            # Passages tied at the cut: kept by passage id, not by where their rows happen to
            # sit (a writer's rows and a replica's differ in order, not in content).
            better = np.flatnonzero(values > cut)
            tied = sorted(np.flatnonzero(values == cut), key=lambda i: p.ids[int(candidates[i])])
            top = np.concatenate([better, np.asarray(tied[: keep - len(better)], dtype=better.dtype)])
        found.extend((float(values[i]), p.ids[int(candidates[i])]) for i in top if values[i] > 0)
    found.sort(key=lambda item: (-item[0], item[1]))
    return [(chunk_id, score) for score, chunk_id in found[:n]]


def _knows(indexes: Sequence[LexicalIndex], word: str) -> bool:
    vocabs = [index._postings.vocab for index in indexes]
    return any(t in vocab for t in tokenize_query(word) for vocab in vocabs)


def coverage(indexes: Sequence[LexicalIndex], question: str) -> float:
    """Share of the question's content words found anywhere in the indexed text.

    A question about something the archive never mentions shares few words with it;
    used, with the dense score, to decide whether to answer.
    """
    words = content_words(question)
    if not words or not any(len(index) for index in indexes):
        return 0.0
    return sum(1 for w in words if _knows(indexes, w)) / len(words)


def name_coverage(indexes: Sequence[LexicalIndex], question: str) -> float:
    """Share of the question's names (see ``tokenization.names``) found in the indexed
    text; 1.0 when it names nothing. An archive that never mentions "Twitter" or "DGSI"
    holds no answer about them, in whatever language the question is asked."""
    wanted = names(question)
    if not wanted:
        return 1.0
    if not any(len(index) for index in indexes):
        return 0.0
    return sum(1 for w in wanted if _knows(indexes, w)) / len(wanted)


def write_json(handle: BinaryIO, header: Mapping[str, object]) -> None:
    """``json.dumps(header, ensure_ascii=False)`` in UTF-8, written piece by piece: a value
    that is a list or an object (100k passage ids, a catalog of 20k articles) is encoded a
    slice or an item at a time, so it is never one string in memory. An object with a
    ``to_json()`` is written as what that returns."""

    def dumps(value: object) -> bytes:
        return json.dumps(value, ensure_ascii=False, default=_to_json).encode("utf-8")

    handle.write(b"{")
    for n, (key, value) in enumerate(header.items()):
        handle.write((b", " if n else b"") + dumps(key) + b": ")
        if isinstance(value, list) and value:
            handle.write(b"[")
            handle.writelines(
                (b", " if start else b"") + dumps(value[start : start + 4096])[1:-1]
                for start in range(0, len(value), 4096)
            )
            handle.write(b"]")
        elif isinstance(value, Mapping) and value:
            handle.write(b"{")
            handle.writelines(
                (b", " if m else b"") + dumps(item) + b": " + dumps(inner)
                for m, (item, inner) in enumerate(value.items())
            )
            handle.write(b"}")
        else:
            handle.write(dumps(value))
    handle.write(b"}")


def _to_json(value: object) -> object:
    to_json = getattr(value, "to_json", None)
    if to_json is None:
        raise TypeError(f"{type(value).__name__} is not JSON serializable")
    return to_json()


def _compact(counts: np.ndarray) -> np.ndarray:
    """``counts`` (non-negative integers) as uint16 when they all fit, else as int32 (no copy
    when they already are)."""
    if len(counts) and int(counts.max()) >= 2**16:
        return counts.astype(np.int32, copy=False)
    return counts.astype(np.uint16, copy=False)


def _transpose(
    doc_ptr: np.ndarray, doc_terms: np.ndarray, doc_tf: np.ndarray, rows: int, terms: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Passage-major term counts to term-major postings (linear time, through scipy), the
    counts kept in their type: no copy of the postings beyond the result."""
    if not rows:
        return np.zeros(max(terms, 0) + 1, np.int64), np.zeros(0, np.int32), np.zeros(0, doc_tf.dtype)
    from scipy import sparse

    # 32-bit indices when they fit, as scipy would choose: an int64 pointer array would make
    # it widen (copy) every index.
    index = np.int32 if len(doc_terms) < 2**31 and rows < 2**31 and terms < 2**31 else np.int64
    matrix = sparse.csr_matrix(
        (doc_tf, doc_terms.astype(index, copy=False), doc_ptr.astype(index, copy=False)),
        shape=(rows, max(terms, 1)),
        copy=False,
    )
    csc = matrix.tocsc()
    return csc.indptr.astype(np.int64), csc.indices.astype(np.int32, copy=False), csc.data
