"""The lexical index: BM25 (bm25s) over language-aware tokens, saved beside the vectors.

Each chunk is tokenised in its article's language (stopwords dropped, Snowball
stemming, accents folded). A question's language is rarely certain from a few
words, so it is tokenised in English and in French and both stems are looked up.
The index is one file replaced atomically, so a crash never leaves half of it.
"""

from __future__ import annotations

import logging
import os
import pickle
import re
import tempfile
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

FORMAT_VERSION = 1
_TOKEN = re.compile(r"\w\w+|\d")
_STEMMERS = {"en": "english", "fr": "french", "de": "german", "es": "spanish", "it": "italian", "pt": "portuguese"}
QUERY_LANGUAGES = ("en", "fr")


@lru_cache(maxsize=None)
def _stopwords(language: str) -> frozenset[str]:
    from bm25s import stopwords

    table = {
        "en": stopwords.STOPWORDS_EN,
        "fr": stopwords.STOPWORDS_FRENCH,
        "de": stopwords.STOPWORDS_GERMAN,
        "es": stopwords.STOPWORDS_SPANISH,
        "it": stopwords.STOPWORDS_ITALIAN,
        "pt": stopwords.STOPWORDS_PORTUGUESE,
    }
    return frozenset(_fold(w) for w in table.get(language, ()))


@lru_cache(maxsize=None)
def _stemmer(language: str):  # type: ignore[no-untyped-def]
    import Stemmer

    name = _STEMMERS.get(language)
    return Stemmer.Stemmer(name) if name else None


def _fold(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def tokenize(text: str, language: str) -> list[str]:
    """Lower-cased, stopword-free, stemmed and accent-folded tokens of ``text``."""
    words = [w for w in _TOKEN.findall(text.lower()) if _fold(w) not in _stopwords(language)]
    stemmer = _stemmer(language)
    if stemmer is not None:
        words = stemmer.stemWords(words)
    return [_fold(w) for w in words]


def tokenize_query(text: str, languages: Iterable[str] = QUERY_LANGUAGES) -> list[str]:
    """Tokens of a question in each of ``languages``, without repeats."""
    tokens: dict[str, None] = {}
    stop = frozenset().union(*(_stopwords(lang) for lang in languages))
    for language in languages:
        for token in tokenize(text, language):
            if token not in stop:
                tokens[token] = None
    return list(tokens)


class LexicalIndex:
    """BM25 over every chunk; ``search`` returns ``(chunk id, score)`` pairs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._tokens: dict[str, list[str]] = {}
        # (ids, bm25, vocab) swapped as one value so that a search running while an
        # update rebuilds the scores sees either the old index or the new one.
        self._state: tuple[list[str], object | None, dict[str, int]] = ([], None, {})

    def __len__(self) -> int:
        return len(self._tokens)

    @property
    def ids(self) -> set[str]:
        return set(self._tokens)

    def load(self) -> bool:
        """Read the saved index; False when there is none or it is unreadable."""
        try:
            with self.path.open("rb") as handle:
                data = pickle.load(handle)
        except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ValueError):
            return False
        if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
            return False
        self._tokens = data["tokens"]
        self._state = (data["ids"], data["bm25"], data["vocab"])
        return True

    def update(self, add: dict[str, tuple[str, str]], remove: Iterable[str]) -> None:
        """Remove chunks by id and add ``{id: (text, language)}``, then rebuild the scores."""
        for chunk_id in remove:
            self._tokens.pop(chunk_id, None)
        for chunk_id, (text, language) in add.items():
            self._tokens[chunk_id] = tokenize(text, language)
        self._rebuild()

    def clear(self) -> None:
        self._tokens = {}
        self._rebuild()

    def save(self) -> None:
        """Write the index to a temporary file and move it into place atomically."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        ids, bm25, vocab = self._state
        data = {"version": FORMAT_VERSION, "tokens": self._tokens, "ids": ids, "bm25": bm25, "vocab": vocab}
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".lexical-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                pickle.dump(data, handle, protocol=pickle.HIGHEST_PROTOCOL)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def search(self, question: str, n: int) -> list[tuple[str, float]]:
        """The ``n`` best chunks for ``question`` by BM25, best first (score > 0 only)."""
        ids, bm25, vocab = self._state
        if bm25 is None or not ids:
            return []
        tokens = [t for t in tokenize_query(question) if t in vocab]
        if not tokens:
            return []
        scores = bm25.get_scores(tokens)  # type: ignore[attr-defined]
        n = min(n, len(scores))
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top])]
        return [(ids[i], float(scores[i])) for i in top if scores[i] > 0]

    def coverage(self, question: str) -> float:
        """Share of the question's content words found anywhere in the indexed text.

        A question about something the archive never mentions shares few words
        with it; used, with the dense score, to decide whether to answer.
        """
        _, _, vocab = self._state
        stop = frozenset().union(*(_stopwords(lang) for lang in QUERY_LANGUAGES))
        words = [w for w in dict.fromkeys(_TOKEN.findall(question.lower())) if _fold(w) not in stop]
        if not words or not vocab:
            return 0.0
        found = sum(1 for w in words if any(t in vocab for t in tokenize_query(w)))
        return found / len(words)

    def _rebuild(self) -> None:
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # it sets DEBUG on import

        ids = sorted(self._tokens)
        if not ids:
            self._state = ([], None, {})
            return
        bm25 = bm25s.BM25()
        bm25.index([self._tokens[i] or [""] for i in ids], show_progress=False)
        self._state = (ids, bm25, dict(bm25.vocab_dict))


