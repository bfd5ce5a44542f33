"""Finding the sentence of a passage that best matches the question."""

from __future__ import annotations

import math

from retrieval.chunking import split_sentences
from retrieval.lexical import tokenize, tokenize_query


def best_sentence(question: str, passage: str, language: str) -> str:
    """The sentence of ``passage`` sharing the most (stemmed) words with ``question``.

    Returns an empty string when no sentence shares a word, rather than
    emphasising one at random.
    """
    wanted = set(tokenize_query(question))
    if not wanted:
        return ""
    best, best_score = "", 0.0
    for paragraph in passage.split("\n\n"):
        for sentence in split_sentences(paragraph):
            tokens = set(tokenize(sentence, language)) | set(tokenize_query(sentence))
            shared = len(tokens & wanted)
            if not shared:
                continue
            score = shared / math.sqrt(len(tokens) + 4)
            if score > best_score:
                best, best_score = sentence, score
    return best
