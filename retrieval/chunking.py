"""Splitting an article into passages sized for the embedding model.

Paragraphs are kept whole when they fit; longer ones are cut between sentences
(and, for a single overlong sentence, between words). Consecutive chunks share
up to ``overlap_tokens`` of trailing sentences so that an answer straddling a
cut is still found whole in one of them. Chunk ids hash the article id, its title and the
chunk text, so an unchanged passage keeps its id and is never embedded twice.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from retrieval.models import Article, Chunk

TokenCounter = Callable[[str], int]
#: Bumped whenever the way articles are cut changes, so that indexes are rebuilt.
CHUNKER_VERSION = 2

# A sentence ends at . ! ? … (optionally followed by closing quotes or brackets)
# when whitespace and an upper-case letter, digit or opening quote come next.
_SENTENCE_END = re.compile(r"[.!?…][\"'”’»)\]]*(\s+)(?=[\"'“‘«(\[]?[A-ZÀ-ÖØ-Þ0-9])")
_ABBREVIATIONS = re.compile(
    r"\b(?:Mr|Mrs|Ms|Dr|Prof|Sr|Jr|St|Mt|vs|etc|e\.g|i\.e|M|Mme|Mlle|No|Inc|Ltd|Co|U\.S|U\.K)\.$"
)


def split_sentences(text: str) -> list[str]:
    """Split a paragraph into sentences with a conservative rule set (EN and FR)."""
    text = text.strip()
    pieces, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        pieces.append(text[start : match.start(1)])
        start = match.end(1)
    pieces.append(text[start:])
    sentences: list[str] = []
    for piece in pieces:
        if sentences and (_ABBREVIATIONS.search(sentences[-1]) or re.search(r"\b[A-Z]\.$", sentences[-1])):
            sentences[-1] = f"{sentences[-1]} {piece}"
        elif piece:
            sentences.append(piece)
    return sentences


@dataclass(frozen=True)
class _Unit:
    """A sentence (or a word run of an overlong sentence) and where it sits."""

    text: str
    paragraph: int
    tokens: int
    starts_paragraph: bool


def chunk_article(
    article: Article,
    count_tokens: TokenCounter,
    max_tokens: int,
    overlap_tokens: int,
) -> list[Chunk]:
    """Cut ``article`` into chunks of at most ``max_tokens`` tokens.

    Args:
        article: the article to cut.
        count_tokens: the embedding model's token counter (without special tokens).
        max_tokens: the largest chunk, in tokens.
        overlap_tokens: how many tokens of trailing sentences the next chunk repeats.

    Returns:
        The chunks in reading order, each with a stable id and a location such as
        ``"¶ 3–4"``.
    """
    units = _units(article.text, count_tokens, max_tokens)
    groups: list[list[_Unit]] = []
    current: list[_Unit] = []
    size = 0
    for unit in units:
        fits = size + unit.tokens <= max_tokens
        if current and not fits:
            # A sentence that introduces what follows ("The letter makes four
            # demands:") moves to the next chunk, with what it introduces.
            intro = current[-1] if len(current) > 1 and current[-1].text.rstrip().endswith(":") else None
            groups.append(current[:-1] if intro else current)
            current = _overlap(groups[-1], overlap_tokens, max_tokens - unit.tokens)
            if intro and intro.tokens + sum(u.tokens for u in current) + unit.tokens <= max_tokens:
                current.append(intro)
            elif intro:
                current = [intro]
            size = sum(u.tokens for u in current)
        current.append(unit)
        size += unit.tokens
    if current:
        groups.append(current)

    chunks: list[Chunk] = []
    seen: dict[str, int] = {}
    for position, group in enumerate(groups):
        text = _join(group)
        digest = hashlib.sha256(f"{article.source_id}\0{article.title}\0{text}".encode()).hexdigest()[:24]
        seen[digest] = seen.get(digest, 0) + 1
        chunk_id = digest if seen[digest] == 1 else f"{digest}-{seen[digest]}"
        first, last = group[0].paragraph + 1, group[-1].paragraph + 1
        location = f"¶ {first}" if first == last else f"¶ {first}–{last}"
        chunks.append(
            Chunk(id=chunk_id, source_id=article.source_id, text=text, position=position, location=location)
        )
    return chunks


def _units(text: str, count_tokens: TokenCounter, max_tokens: int) -> list[_Unit]:
    units: list[_Unit] = []
    for number, paragraph in enumerate(p for p in text.split("\n\n") if p.strip()):
        whole = count_tokens(paragraph)
        if whole <= max_tokens:
            units.append(_Unit(paragraph, number, whole, True))
            continue
        first = True
        for sentence in split_sentences(paragraph):
            for piece in _fit(sentence, count_tokens, max_tokens):
                units.append(_Unit(piece, number, count_tokens(piece), first))
                first = False
    return units


def _fit(sentence: str, count_tokens: TokenCounter, max_tokens: int) -> list[str]:
    """Cut an overlong sentence between words into pieces that fit."""
    if count_tokens(sentence) <= max_tokens:
        return [sentence]
    pieces: list[str] = []
    words = sentence.split(" ")
    current: list[str] = []
    for word in words:
        candidate = " ".join([*current, word])
        if current and count_tokens(candidate) > max_tokens:
            pieces.append(" ".join(current))
            current = [word]
        else:
            current.append(word)
    if current:
        pieces.append(" ".join(current))
    # A single "word" longer than the limit (a URL, say) is cut by characters.
    out: list[str] = []
    for piece in pieces:
        while count_tokens(piece) > max_tokens and len(piece) > 1:
            cut = max(1, len(piece) * max_tokens // max(count_tokens(piece), 1) - 1)
            out.append(piece[:cut])
            piece = piece[cut:]
        out.append(piece)
    return out


def _overlap(group: list[_Unit], overlap_tokens: int, room: int) -> list[_Unit]:
    """The trailing units of ``group`` to repeat at the start of the next chunk."""
    budget = min(overlap_tokens, room)
    kept: list[_Unit] = []
    size = 0
    for unit in reversed(group[1:]):
        if size + unit.tokens > budget:
            break
        kept.insert(0, unit)
        size += unit.tokens
    return kept


def _join(group: list[_Unit]) -> str:
    parts: list[str] = []
    for i, unit in enumerate(group):
        if i and (unit.starts_paragraph or unit.paragraph != group[i - 1].paragraph):
            parts.append("\n\n")
        elif i:
            parts.append(" ")
        parts.append(unit.text)
    return "".join(parts)


def sentence_units(text: str, count_tokens: TokenCounter, min_tokens: int = 8) -> list[str]:
    """The sentences a passage is matched by; a fragment shorter than ``min_tokens``
    (a dateline, "We demand that our company:") is joined to the sentence after it
    (or, at the end, before it) so that every unit says something on its own."""
    units: list[str] = []
    pending = ""
    for paragraph in text.split("\n\n"):
        for sentence in split_sentences(paragraph):
            sentence = f"{pending} {sentence}".strip() if pending else sentence
            if count_tokens(sentence) < min_tokens:
                pending = sentence
                continue
            pending = ""
            units.append(sentence)
    if pending:
        if units:
            units[-1] = f"{units[-1]} {pending}"
        else:
            units.append(pending)
    return units


def quick_sentence_units(count_tokens: TokenCounter, min_tokens: int = 8) -> Callable[[str], list[str]]:
    """:func:`sentence_units` for reading a stored passage back into the sentences it was
    indexed by, without tokenizing most of them: a sentence of ``min_tokens`` words or more
    is taken as no fragment, as the tokenizer nearly always agrees (a word is a token or
    more). Not always (multilingual-e5 counts "Southern California" as 1 token), so a
    caller checks the number of sentences against the one stored."""

    def count(sentence: str) -> int:
        words = len(sentence.split())
        return words if words >= min_tokens else count_tokens(sentence)

    return lambda text: sentence_units(text, count, min_tokens)
