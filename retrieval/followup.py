"""Follow-up questions: a question and the earlier ones of its conversation, made into a query.

"And how many names did it have?" only makes sense after "What did No Music for ICE
demand from Amazon?". Pasting the earlier questions in front of the new one lets them
outweigh it (the answer to the follow-up drops out of the first five), so the new
question stays the main part of the query and the history is added at a lower weight:

- the query vector is ``normalise(v(question) + history_weight × normalise(Σ decay^age ×
  v(earlier question)))``: the latest earlier question counts most, and each earlier
  question is embedded once (the caller's embedding function caches);
- the earlier questions' BM25 terms join the question's at ``lexical_weight``;
- with the ``elliptical`` gate, the history is used only when the question cannot stand
  alone (it opens with "and" / « et », points back with a pronoun and names nothing, or
  is a couple of words), so a question that changes topic is searched as asked.

:class:`FollowUpMethod` holds these choices; ``benchmarks/followups.py`` measured the
methods (figures in ``benchmarks/README.md``) and :data:`DEFAULT` is the one chosen.
Nothing here reads the index: :meth:`Retriever.search` passes what is prepared to the ranker.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from retrieval.tokenization import content_words, names, tokenize_query

#: At most this many earlier questions are used, the latest ones.
MAX_TURNS = 3

# Words that tie a question to what was asked before. Lower case, accents folded.
_CONNECTIVES = frozenset({"and", "also", "but", "so", "then", "et", "aussi", "mais", "alors", "puis", "donc"})
_ANAPHORS = frozenset(
    {
        # English: personal, possessive and demonstrative pronouns, "there"
        "it", "its", "they", "them", "their", "theirs", "he", "him", "his", "she", "her", "hers",
        "this", "that", "these", "those", "there",
        # French: subject, object and demonstrative pronouns, possessives, "y", "en"
        "il", "ils", "elle", "elles", "lui", "leur", "leurs", "y", "en", "ca", "cela", "ceci",
        "celui", "celle", "ceux", "celles", "son", "sa", "ses",
    }
)  # fmt: skip
#: A question with no name and at most this many content words leans on its context.
_SHORT = 2
_WORD = re.compile(r"\w+")
_INVERTED = re.compile(r"-(?:t-)?(?:il|elle|ils|elles|on)\b", re.IGNORECASE)

Gate = Literal["always", "elliptical"]


@dataclass(frozen=True)
class FollowUpMethod:
    """How a conversation's earlier questions shape the query for a new one.

    Attributes:
        name: for benchmark tables.
        history_weight: weight of the earlier questions' vector against the question's (1).
        lexical_weight: weight of the earlier questions' BM25 terms (the question's count 1).
        decay: each earlier question counts this much of the one after it.
        gate: ``always`` uses the history for every question; ``elliptical`` only for a
            question that cannot stand alone (:func:`looks_elliptical`).
        concat: the naive baseline: the earlier questions pasted in front of the new one,
            one text for both the vector and BM25 (the weights are ignored).
    """

    name: str
    history_weight: float = 0.0
    lexical_weight: float = 0.0
    decay: float = 0.5
    gate: Gate = "always"
    concat: bool = False


@dataclass(frozen=True)
class PreparedQuery:
    """What the ranker needs for a question asked in a conversation.

    Attributes:
        vector: the query vector the sentences are ranked by.
        history_terms: the earlier questions' BM25 terms with their weights (empty when
            the history is not used).
        used_history: whether the earlier questions changed anything.
    """

    vector: np.ndarray
    history_terms: dict[str, float]
    used_history: bool


#: Chosen by benchmarks/followups.py (see benchmarks/README.md, "Follow-up questions").
DEFAULT = FollowUpMethod(
    "elliptical mix 1 + terms 0.5", history_weight=1.0, lexical_weight=0.5, gate="elliptical"
)


def _fold(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def looks_elliptical(question: str) -> bool:
    """Whether ``question`` leans on what was asked before: it opens with a connective
    ("and…", « et… »), or it names nothing and either points back with a pronoun ("it",
    "they", « y », « ça ») or holds at most two content words ("Why?", "Did management
    reply?")."""
    words = [_fold(w) for w in _WORD.findall(question)]
    if not words:
        return False
    if words[0] in _CONNECTIVES:
        return True
    if names(question):
        return False
    # A French subject pronoun after its verb ("le ciel est-il bleu ?") repeats the subject;
    # it points back only when nothing else is the subject, which the length rule catches.
    pronouns = [_fold(w) for w in _WORD.findall(_INVERTED.sub(" ", question))]
    return any(w in _ANAPHORS for w in pronouns) or len(content_words(question)) <= _SHORT


def uses_history(question: str, previous: Sequence[str], method: FollowUpMethod) -> bool:
    """Whether ``method`` lets the earlier questions shape the query for ``question``."""
    if not previous:
        return False
    if method.concat:
        return True
    if method.history_weight <= 0 and method.lexical_weight <= 0:
        return False
    return method.gate == "always" or looks_elliptical(question)


def prepare(
    question: str,
    previous: Sequence[str],
    embed: Callable[[str], np.ndarray],
    method: FollowUpMethod = DEFAULT,
) -> PreparedQuery:
    """The query vector and extra BM25 terms for ``question`` after ``previous``.

    Args:
        question: the cleaned question.
        previous: the conversation's earlier questions, oldest first (cleaned); only the
            last :data:`MAX_TURNS` are used.
        embed: a question's query vector (L2-normalised), cached by the caller.
        method: how the history is used.
    """
    previous = list(previous)[-MAX_TURNS:]
    if not uses_history(question, previous, method):
        return PreparedQuery(embed(question), {}, False)
    terms = history_terms(question, previous, method)
    if method.concat:
        return PreparedQuery(embed(" ".join([*previous, question])), terms, True)
    vector = np.asarray(embed(question), dtype=np.float32)
    if method.history_weight > 0:
        history = np.zeros_like(vector)
        for age, earlier in enumerate(reversed(previous)):
            history += (method.decay**age) * np.asarray(embed(earlier), dtype=np.float32)
        vector = _normalised(vector + method.history_weight * _normalised(history))
    return PreparedQuery(vector, terms, True)


def history_terms(
    question: str, previous: Sequence[str], method: FollowUpMethod = DEFAULT
) -> dict[str, float]:
    """The extra BM25 terms :func:`prepare` gives ``question`` after ``previous`` (no
    model needed, so the lexical search can start before the question is embedded)."""
    previous = list(previous)[-MAX_TURNS:]
    if not uses_history(question, previous, method):
        return {}
    if method.concat:
        return {t: 1.0 for t in tokenize_query(" ".join(previous))}
    terms: dict[str, float] = {}
    if method.lexical_weight > 0:
        for age, earlier in enumerate(reversed(previous)):
            weight = method.lexical_weight * method.decay**age
            for term in tokenize_query(earlier):
                terms[term] = max(terms.get(term, 0.0), weight)
    return terms


def _normalised(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector
