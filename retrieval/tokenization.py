"""Words for BM25: language-aware tokens, stopwords, and a question's language.

Each passage is tokenised in its article's language (stopwords dropped, Snowball
stemming, accents folded). A question's language is rarely certain from a few
words, so it is tokenised in English and in French and both stems are looked up.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import cache, lru_cache

_TOKEN = re.compile(r"\w\w+|\d")
_STEMMERS = {
    "en": "english",
    "fr": "french",
    "de": "german",
    "es": "spanish",
    "it": "italian",
    "pt": "portuguese",
}
QUERY_LANGUAGES = ("en", "fr")
#: Words a question uses about the archive itself ("according to the articles",
#: "selon les sources"): they say nothing about what is asked.
ARCHIVE_WORDS = frozenset(
    {
        "article",
        "articles",
        "source",
        "sources",
        "archive",
        "archives",
        "document",
        "documents",
        "according",
        "selon",
    }
)


@cache
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


#: Question words and auxiliaries the stopword lists lack (the English one is short,
#: and French shares most of its list with Spanish); with the lists they tell a
#: question's language (see ``question_language``).
# fmt: off
_MORE_WORDS = {
    "en": frozenset(
        [
            "what", "who", "whom", "whose", "which", "why", "how", "where", "when", "did", "does", "do",
            "is", "was", "were", "are", "has", "have", "had", "can", "could", "would", "should", "from",
            "about", "after", "before", "its", "his", "her", "their", "our", "many", "much",
        ]
    ),
    "fr": frozenset(
        [
            "quel", "quelle", "quels", "quelles", "qui", "quoi", "comment", "pourquoi", "combien", "ou",
            "quand", "est", "sont", "ont", "etait", "etaient", "fait", "font", "faire", "peut", "doit",
            "doivent", "selon", "aux", "du", "des", "une",
        ]
    ),
}
# fmt: on


@lru_cache(maxsize=4096)
def question_language(text: str) -> str:
    """The language of a question, told by its function words ("und" when unsure).

    A question is short, and the ranking only needs to know whether it shares its
    language with a passage, so this counts the words of ``text`` in each language's
    stopword list (English, French, German, Spanish, Italian, Portuguese) and takes
    the one with the most, if there is exactly one. It costs microseconds where a
    statistical identifier costs 0.6 s and 80 MB to load.
    """
    words = [_fold(w.lower()) for w in _outside_names(text)]
    counts = {
        language: sum(1 for w in words if w in _stopwords(language) or w in _MORE_WORDS.get(language, ()))
        for language in _STEMMERS
    }
    # French marks of its own: an elision (qu’, l’, d’...) and a space before ? ! : ;
    counts["fr"] += len(_FRENCH_MARKS.findall(text))
    best = max(counts.values())
    winners = [language for language, count in counts.items() if count == best]
    return winners[0] if best > 0 and len(winners) == 1 else "und"


#: An elision, or a space before a double sign, as French writes them.
_FRENCH_MARKS = re.compile(
    r"(?i)(?<!\w)(?:qu|jusqu|lorsqu|puisqu|[ldjnsmtc])['’](?=\w)|\w[ \u00a0\u202f][?!;:](?!\S)"
)


def _outside_names(text: str) -> list[str]:
    """The words of ``text`` outside its names ("No Music for ICE" in "Que demande No
    Music for ICE ?" says nothing of the question's language): capitalised words that
    do not open a sentence, and a lower-case word between two of them."""
    matches = list(_TOKEN.finditer(text))
    named = [m.group()[0].isupper() and not _SENTENCE_START.search(text[: m.start()]) for m in matches]
    return [
        m.group()
        for i, m in enumerate(matches)
        if not named[i] and not (0 < i < len(matches) - 1 and named[i - 1] and named[i + 1])
    ]


@cache
def _stemmer(language: str):  # type: ignore[no-untyped-def]
    import Stemmer

    name = _STEMMERS.get(language)
    return Stemmer.Stemmer(name) if name else None


@lru_cache(maxsize=200_000)
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
    return list(_tokenize_query(text, tuple(languages)))


@lru_cache(maxsize=4096)
def _tokenize_query(text: str, languages: tuple[str, ...]) -> tuple[str, ...]:
    # Cached: a search tokenises its question once for BM25 and once per passage it highlights.
    tokens: dict[str, None] = {}
    stop = frozenset().union(*(_stopwords(lang) for lang in languages))
    text = " ".join(w for w in _TOKEN.findall(text.lower()) if w not in ARCHIVE_WORDS)
    for language in languages:
        for token in tokenize(text, language):
            if token not in stop:
                tokens[token] = None
    return tuple(tokens)


def content_words(question: str) -> list[str]:
    """The question's words that say what is asked: no stopword of a query language, no
    word about the archive; each once, in order."""
    stop = frozenset().union(*(_stopwords(lang) for lang in QUERY_LANGUAGES), ARCHIVE_WORDS)
    return [w for w in dict.fromkeys(_TOKEN.findall(question.lower())) if _fold(w) not in stop]


_SENTENCE_START = re.compile(r"(?:^|[.!?¿¡:;«»\"“”]\s*)$")


def names(question: str) -> list[str]:
    """The question's names: capitalised words, acronyms and numbers, each once.

    A word opening the question (or a sentence in it) is a name only when it is an
    acronym or a number, since any word is capitalised there. Stopwords and question
    words in a query language are never names ("Who", "Quel"). Names are spelt the same
    in English and French, so whether the archive holds them does not depend on the
    language the question is asked in.
    """
    stop = frozenset().union(*(_stopwords(lang) | _MORE_WORDS[lang] for lang in QUERY_LANGUAGES))
    found: dict[str, None] = {}
    for match in re.finditer(r"\w+", question):
        word = match.group()
        if len(word) < 2:
            continue  # "L", "P", "X": variables and initials, not names the archive would spell
        acronym = word.isupper()
        if not (acronym or word.isdigit() or word[0].isupper()) or _fold(word.lower()) in stop:
            continue
        if not (acronym or word.isdigit()) and _SENTENCE_START.search(question[: match.start()]):
            continue
        found[word] = None
    return list(found)
