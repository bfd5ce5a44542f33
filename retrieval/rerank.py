"""The second stage of the ranking: the first passage is the one that answers.

The first stage (:class:`retrieval.ranking.Ranker`) scores a passage by its one
sentence closest to the question. Close is not the same as answering: a lede that
names the same people and the same events is close to most questions about them.
For the first ``depth`` candidates the second stage reads every sentence (text and
cosine) and adds to the first stage's score when the passage holds the kind of
answer asked for: "how many"/"combien" wants a number, "when"/"quand" a date, "what
are the demands"/"quels sont" a list, "what did she say"/"qu'a-t-il répondu" someone's
words (a sentence holding a quotation mark; not for a "who" question, which asks for a
name). Among the passage's sentences nearly as close as its best, one that holds that
kind of answer is the one shown in bold; a list asked for is shown whole ("…four
demands of Amazon:" and the items after it), as it reads in the passage's text, and
without such a list a sentence listing inline ("BPP, ZPP and RP") holds one. The sentence
after the bold one is bold too when it points back at it ("They said: «…»", "Ils pensent que
cela…"): the closest sentence often sets the scene that the next one completes.

Measured and left out (``benchmarks/rerank.py``, cross-validated on the seeds sets):
the best neighbouring sentence's cosine, the question's words in the title or in the
passage, and a penalty for fragments; none raised held-out hit@1.

The weights are fitted by cross-validation (``benchmarks/rerank.py``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from retrieval.chunking import split_sentences
from retrieval.highlight import best_sentence
from retrieval.layout import sentence_number
from retrieval.ranking import IndexView, Ranked, SentenceSource
from retrieval.store import SentenceVectors, StoredChunk, StoredSentence, sentence_key
from retrieval.tokenization import question_language


@dataclass(frozen=True)
class RerankWeights:
    """How much each second-stage signal adds to the first stage's score.

    Attributes:
        depth: how many first-stage candidates are read and reordered.
        cue: added when the passage's best sentences hold the kind of answer asked for.
        listing: when a list is asked for, how much closer the best sentence may be
            than the passage's list for the list to be shown (and the passage cued).
    """

    depth: int = 6
    cue: float = 0.02
    listing: float = 0.12


DEFAULT = RerankWeights()

#: A sentence this much less close than the passage's best still counts as its answer
#: when it holds the kind asked for.
NEARLY = 0.03


@dataclass(frozen=True)
class Candidate:
    """A first-stage candidate with what the second stage reads of it.

    Attributes:
        ranked: the first stage's result.
        source: its article's source id and source (file name or URL).
        title: its article's title.
        text: the passage's text.
        metadata: the passage's stored metadata (its citation).
        sentences: every sentence it is matched by, in reading order, with its cosine
            to the question and its text.
    """

    ranked: Ranked
    source: str
    title: str
    text: str
    sentences: tuple[StoredSentence, ...]
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reranked:
    """A candidate's second-stage score and the part of its text to show in bold."""

    candidate: Candidate
    score: float
    highlight: str
    key: str  # one passage per bold sentence is shown

    @property
    def metadata(self) -> Mapping[str, Any]:
        return self.candidate.metadata


_NUMBER_WORDS = (
    "one two three four five six seven eight nine ten eleven twelve twenty thirty forty fifty "
    "hundred hundreds thousand thousands million millions billion dozen dozens "
    "un une deux trois quatre cinq six sept huit neuf dix onze douze vingt trente quarante "
    "cinquante cent cents centaine centaines mille milliers million millions milliard dizaine dizaines"
)
_NUMBER = re.compile(r"\d|\b(?:" + "|".join(_NUMBER_WORDS.split()) + r")\b", re.IGNORECASE)
_MONTHS = (
    "january february march april may june july august september october november december "
    "janvier février fevrier mars avril mai juin juillet août aout septembre octobre novembre décembre "
    "monday tuesday wednesday thursday friday saturday sunday lundi mardi mercredi jeudi vendredi "
    "samedi dimanche yesterday today tomorrow hier demain week semaine"
)
#: A year (1000-2099, or three digits after "in", "since", "en", "depuis"... unless a plural
#: word or "%" follows: "in 911 as a fiefdom", not "in 300 cities"), a month or a day.
_DATE = re.compile(
    r"\b(?:1\d{3}|20\d\d)\b"
    r"|\b(?:in|since|until|around|en|depuis|jusqu'en|vers)\s+\d{3}\b(?!\s*(?:%|[^\W\d_]{2,}s\b))"
    r"|\b(?:" + "|".join(_MONTHS.split()) + r")\b",
    re.IGNORECASE,
)
_ASKS_NUMBER = re.compile(
    r"\b(?:how (?:many|much|long|old)|what (?:number|percentage|share|amount)"
    r"|combien|quel(?:le)? (?:nombre|montant|part))\b",
    re.IGNORECASE,
)
_ASKS_DATE = re.compile(
    r"\b(?:when|what (?:year|date|day)|which (?:year|date|day)|quand"
    r"|(?:en |à |a )?quel(?:le)? (?:année|annee|date|jour))\b",
    re.IGNORECASE,
)
_ASKS_LIST = re.compile(
    r"\b(?:what (?:are|were)|which (?:are|were)|list|name the|quels sont|quelles sont|quels étaient"
    r"|quelles étaient|demands?|requests?|revendications?|demandes?|exigences?|conditions?)\b",
    re.IGNORECASE,
)
_ASKS_QUOTE = re.compile(
    r"\b(?:say|says|said|saying|quoted?|words|repl(?:y|ied|ies)|respon(?:d|ds|ded|se)|react(?:s|ed|ion)?"
    r"|told|claim(?:s|ed)?|wr(?:ote|ite|ites|itten)|conclude[sd]?|phrase|slogan"
    r"|dit|dire|disent|déclar\w*|répon\w*|affirm\w*|citation|écri\w*|conclu\w*|réagi\w*)\b",
    re.IGNORECASE,
)
_ASKS_WHO = re.compile(r"\s*(?:who|whom|qui)\b|.*\b(?:c'est qui|c’est qui)\b", re.IGNORECASE)
_QUOTE = re.compile(r"[“”«»\"]")
#: A list written inline: "BPP, ZPP and RP", "les artistes, les fans et les défenseurs".
_ENUMERATION = re.compile(
    r"\b[\w’'-]+(?: [\w’'-]+){0,3}, [\w’'-]+(?: [\w’'-]+){0,3},? (?:and|or|et|ou) [\w’'-]+",
    re.IGNORECASE,
)
_ITEM = re.compile(r"\s*(?:[*•\-–—]|\d{1,2}[.)])\s+")
#: A list's introduction the index joined to its first item: a fragment shorter than a
#: sentence ("We demand that our company:") is matched together with the sentence after it.
_JOINED_ITEM = re.compile(r":[ \t]*\n\s*(?:[*•\-–—]|\d{1,2}[.)])\s+")
#: An embedded post's signature line, as a page's text gives it: "— Name (@handle) July 29,
#: 2019", after a "(con't)" when a thread goes on.
_SIGNATURE = re.compile(
    r"(?:\(con[’']t\)\s*)?[—–]\s*[^\n]{1,100}\(@\w{1,30}\)\s+[A-Z][a-z]+\.? \d{1,2}, \d{4}\s*$"
)
_CONTINUED = re.compile(r"\s*\(con[’']t\)\s*")
#: A post's text before its signature, at most: a tweet's 280 characters and some room.
POST_CHARS = 320
#: What a post's text holds and an article's sentence seldom does: a handle, a hashtag, a link.
_POST_MARK = re.compile(r"(?<![\w@#])[@#]\w|https?://|pic\.twitter\.com")
#: A sentence that opens by pointing back at the one before it ("They said: «…»", "Ils pensent
#: que cela…", "With this they had also rejected…") goes on with what that one started.
_POINTS_BACK = re.compile(
    r"(?:(?:with|in|by) this,? )?(?:they|it|its|this|these|those|he|she|his|her|their|such"
    r"|ils|elles|il|elle|cela|ceci|ce|ces|cette|cet|leur|leurs|son|sa|ses)\b",
    re.IGNORECASE,
)


def cue_of(question: str) -> str:
    """The kind of answer ``question`` asks for: ``number``, ``date``, ``list``, ``quote`` or ``""``."""
    if _ASKS_NUMBER.search(question):
        return "number"
    if _ASKS_DATE.search(question):
        return "date"
    if _ASKS_LIST.search(question):
        return "list"
    if _ASKS_QUOTE.search(question) and not _ASKS_WHO.match(question):
        return "quote"
    return ""


def rerank(
    question: str, language: str, candidates: Sequence[Candidate], weights: RerankWeights | None = DEFAULT
) -> list[Reranked]:
    """The candidates in their second-stage order (the first stage's when ``weights`` is
    None), one per bold sentence, each with the part of its text to show in bold.

    Args:
        question: the cleaned question.
        language: its language (for the fallback highlight).
        candidates: the first stage's best, best first.
        weights: the second stage's weights.
    """
    cue = cue_of(question)
    scored = []
    for candidate in candidates:
        bold, cued = _read(candidate, cue, weights)
        score = candidate.ranked.score + (weights.cue * cued if weights is not None else 0.0)
        highlight = (
            _continued(candidate.text, bold) if bold else best_sentence(question, candidate.text, language)
        )
        # Passages are told apart by the text chosen, before the sentence that goes on with it.
        key = bold or highlight
        scored.append(
            Reranked(candidate, score, highlight, sentence_key(key) if key else candidate.ranked.chunk_id)
        )
    if weights is not None:
        scored.sort(key=lambda r: r.score, reverse=True)
    seen: set[str] = set()
    kept: list[Reranked] = []
    for r in scored:
        if r.key not in seen and not any(near_copy(r.highlight, k.highlight) for k in kept):
            seen.add(r.key)
            kept.append(r)
    return kept


_WORD = re.compile(r"\w+")
#: Words whose change turns a sentence round: never a copy's edit.
_NEGATIONS = frozenset(
    [
        "not",
        "no",
        "never",
        "nor",
        "none",
        "nothing",
        "cannot",
        "without",
        "ne",
        "pas",
        "jamais",
        "aucun",
        "aucune",
        "ni",
        "rien",
        "non",
        "sans",
    ]
)


def near_copy(first: str, second: str) -> bool:
    """Whether two bold texts say the same in nearly the same words, as a reprint edits a
    story ("early Tuesday", "early on Tuesday"): at most two words differ, one in ten at
    most, and none of them is a number or a negation."""
    a, b = Counter(_WORD.findall(first.casefold())), Counter(_WORD.findall(second.casefold()))
    differ = (a - b) + (b - a)
    changed = sum(differ.values())
    if changed > 2 or changed * 10 > sum((a | b).values()):
        return False
    return not any(word in _NEGATIONS or any(c.isdigit() for c in word) for word in differ)


class PassageSource(SentenceSource, Protocol):
    """Where the second stage reads passages and sentences (a :class:`retrieval.scope.Scope`):
    what the first stage reads, and the passages, the sentences' texts and the counts."""

    @property
    def view(self) -> IndexView: ...

    def get(self, ids: Sequence[str]) -> list[StoredChunk]: ...

    def sentence_texts(self, ids: Sequence[str]) -> dict[str, str]: ...


def shown(
    question: str,
    ranked: list[Ranked],
    k: int,
    source: PassageSource,
    query: np.ndarray,
    split: Callable[[str], list[str]],
    weights: RerankWeights = DEFAULT,
    vectors: SentenceVectors | None = None,
) -> list[Reranked]:
    """The ``k`` passages to show for the cleaned ``question``, one per bold text.

    When the question asks for a kind of answer (:func:`cue_of`), the first
    ``weights.depth`` candidates are read whole and put in the second stage's order.
    The rest, and every candidate of a question without a cue (where the second stage
    would change nothing), keep the first stage's order and are shown by their best
    sentence, read in their passage's text: ``split`` (the indexer's cut,
    :func:`retrieval.chunking.quick_sentence_units`) finds it there. Only the passages
    that may be shown are read: a sentence shared by passages (overlapping passages of
    one article, a story reprinted) has one vector, so one similarity, and a passage
    whose best sentence scores the same as one already read is passed over. When the
    texts still tell two passages' bold sentences to be the same, the next are read.
    The head of a question with a cue is scored from ``vectors`` (the BM25 candidates'
    sentence vectors, read while the question was embedded) for the passages they hold.
    """
    language = question_language(question)
    kept: list[Reranked] = []
    start = 0
    if cue_of(question):
        head = ranked[: weights.depth]
        candidates = read_candidates(head, source, query, split=split, vectors=vectors)
        kept = rerank(question, language, candidates, weights)
        start = len(head)
    shown_keys = {r.key for r in kept}  # the bold texts shown
    seen = set(shown_keys)  # and the best sentences read
    similarities = {r.candidate.ranked.sentence.similarity for r in kept}
    while len(kept) < k and start < len(ranked):
        batch: list[Ranked] = []
        while start < len(ranked) and len(batch) < k - len(kept):
            r = ranked[start]
            start += 1
            if r.sentence.similarity not in similarities:
                similarities.add(r.sentence.similarity)
                batch.append(r)
        chunks = {c.id: c for c in source.get([r.chunk_id for r in batch])}
        texts = _best_texts(batch, chunks, split, source)
        picked: list[Ranked] = []
        for r in batch:
            sentence = r.sentence.text or texts.get(r.sentence.id, "")
            key = sentence_key(sentence) if sentence else r.sentence.id
            if key not in seen:
                seen.add(key)
                picked.append(replace(r, sentence=replace(r.sentence, text=sentence)))
        candidates = read_candidates(picked, source, query, whole=False, chunks=chunks)
        candidates = _past_headlines(candidates, source, query, chunks, split, vectors)
        # A bold text may be longer than its best sentence (a quoted post with its
        # signature): a reprint's is told apart from one already shown by the bold text.
        for r in rerank(question, language, candidates, None):
            if r.key not in shown_keys and not any(near_copy(r.highlight, k.highlight) for k in kept):
                shown_keys.add(r.key)
                kept.append(r)
    return kept[:k]


def _past_headlines(
    candidates: list[Candidate],
    source: PassageSource,
    query: np.ndarray,
    chunks: Mapping[str, StoredChunk],
    split: Callable[[str], list[str]],
    vectors: SentenceVectors | None,
) -> list[Candidate]:
    """``candidates`` (each with only its best sentence), those matched by their headline
    given their next closest sentence, for the bold text: the first stage's runner-up,
    found in the passage's text, or else every sentence of the passage, read."""
    counts = source.view.sentence_counts
    out, unread = [], []
    for c in candidates:
        best, second = c.ranked.sentence, c.ranked.runner_up
        if not _is_title(best.text, c.title):
            out.append(c)
            continue
        units = split(c.text) if second is not None else []
        if second is not None and len(units) == counts.get(c.ranked.chunk_id):
            pair = sorted((best, _with_text(second, units)), key=lambda s: sentence_number(s.id))
            out.append(replace(c, sentences=tuple(pair)))
        else:
            out.append(c)
            unread.append(c.ranked)
    if unread:
        read = read_candidates(unread, source, query, chunks=chunks, split=split, vectors=vectors)
        whole = {c.ranked.chunk_id: c for c in read}
        out = [whole.get(c.ranked.chunk_id, c) for c in out]
    return out


def _best_texts(
    batch: list[Ranked],
    chunks: Mapping[str, StoredChunk],
    split: Callable[[str], list[str]],
    source: PassageSource,
) -> dict[str, str]:
    """``{sentence id: text}`` of the best sentences of ``batch`` that have none yet: found
    in their passages' texts (``chunks``, split by ``split``) when the split gives the number
    of sentences stored, read from the store otherwise (an index older than the counts)."""
    wanted = [r.sentence.id for r in batch if not r.sentence.text]
    texts: dict[str, str] = {}
    counts = source.view.sentence_counts
    for r in batch:
        chunk = chunks.get(r.chunk_id)
        if r.sentence.text or chunk is None or r.chunk_id not in counts:
            continue
        units = split(chunk.text)
        n = sentence_number(r.sentence.id)
        if len(units) == counts[r.chunk_id] and n < len(units):
            texts[r.sentence.id] = units[n]
    missing = [i for i in wanted if i not in texts]
    if missing:
        texts.update(source.sentence_texts(missing))
    return texts


def read_candidates(
    ranked: list[Ranked],
    source: PassageSource,
    query: np.ndarray,
    whole: bool = True,
    chunks: Mapping[str, StoredChunk] | None = None,
    split: Callable[[str], list[str]] | None = None,
    vectors: SentenceVectors | None = None,
) -> list[Candidate]:
    """What the second stage reads of ``ranked``: the passages (unless ``chunks`` holds
    them already) and (when ``whole``) every sentence of each, with its text and cosine to
    ``query``; otherwise only the best sentence the first stage found. The sentences'
    texts are found in the passages' texts by ``split`` (as in :func:`shown`) when it cuts
    every passage into the number of sentences stored, and read with them otherwise; then
    the sentences of a passage ``vectors`` holds are not read but scored from those. A
    passage deleted by a reindex between the reads is left out."""
    if not ranked:
        return []
    ids = [r.chunk_id for r in ranked]
    if chunks is None:
        chunks = {c.id: c for c in source.get(ids)}
    sentences: dict[str, list[StoredSentence]] = {}
    if whole:
        counts = source.view.sentence_counts
        if all(i in counts for i in ids):
            units = {c: split(chunk.text) for c, chunk in chunks.items()} if split is not None else {}
            cut = bool(units) and all(len(units[c]) == counts[c] for c in units)
            held = set(vectors.passages) if cut and vectors is not None else set()
            local = {i for i in ids if i in held}
            rest = {i: counts[i] for i in ids if i not in local}
            found = vectors.scored(local, query) if vectors is not None and local else []
            if rest:
                found += source.sentences_counted(rest, query, texts=not cut)
            if cut:
                found = [_with_text(s, units[s.chunk_id]) for s in found if s.chunk_id in units]
        else:  # an index written before the counts were kept
            found = source.sentences_of(ids, query)
        for sentence in found:
            sentences.setdefault(sentence.chunk_id, []).append(sentence)
    else:
        sentences = {r.chunk_id: [r.sentence] for r in ranked if r.sentence.text}
    candidates = []
    for r in ranked:
        chunk = chunks.get(r.chunk_id)
        if chunk is None:
            continue
        meta = chunk.metadata
        group = sorted(sentences.get(r.chunk_id, []), key=lambda s: sentence_number(s.id))
        origin = f"{meta.get('source_id', '')} {meta.get('source', '')}"
        title = str(meta.get("title", ""))
        candidates.append(Candidate(r, origin, title, chunk.text, tuple(group), meta))
    return candidates


def _with_text(sentence: StoredSentence, units: list[str]) -> StoredSentence:
    text = units[sentence_number(sentence.id)]
    return replace(sentence, text=text, key=sentence_key(text))


def _read(candidate: Candidate, cue: str, weights: RerankWeights | None) -> tuple[str, bool]:
    """The passage's bold text, and whether it holds the kind of answer asked for."""
    sentences = candidate.sentences
    if not sentences:
        text = candidate.ranked.sentence.text
        return (text if text and text in candidate.text else ""), False
    sims = [s.similarity for s in sentences]
    top = max(sims)
    # The headline is shown as the citation's title: it is never the bold text when the
    # passage has another sentence (a question that repeats the headline still ranks by it).
    pool = [n for n, s in enumerate(sentences) if not _is_title(s.text, candidate.title)] or list(
        range(len(sentences))
    )
    if weights is None:
        best = max(pool, key=sims.__getitem__)
        return _span(candidate.text, sentences[best].text, extend=False), False
    if cue == "list":
        # A list asked for, and a list here ("…four demands of Amazon:" and its items):
        # the list is the answer when any of its lines is nearly as close as the best sentence.
        for n, sentence in enumerate(sentences):
            if not _holds(candidate.text, sentence.text, cue):
                continue
            end = n + 1
            while end < len(sentences) and _ITEM.match(sentences[end].text):
                end += 1  # the items that follow it, up to the first sentence that is not one
            block = max(sims[n:end])
            if block + weights.listing >= top:
                return _span(candidate.text, sentence.text), True
        cue = "enumeration"  # no such list near enough: one written inline in a sentence counts
    # The sentence shown: the closest, unless one nearly as close holds the kind of answer asked for.
    shown = max(
        pool,
        key=lambda n: sims[n] + weights.cue * _holds(candidate.text, sentences[n].text, cue),
    )
    cued = any(_holds(candidate.text, s.text, cue) for s in sentences if s.similarity >= top - NEARLY)
    return _span(candidate.text, sentences[shown].text, extend=False), cued


def _is_title(sentence: str, title: str) -> bool:
    """Whether ``sentence`` is the article's headline (its title, as the passage starts with it)."""
    return bool(title) and " ".join(sentence.split()).casefold() == " ".join(title.split()).casefold()


def _holds(passage: str, sentence: str, cue: str) -> bool:
    if cue == "number":
        return bool(_NUMBER.search(sentence))
    if cue == "date":
        return bool(_DATE.search(sentence))
    if cue == "list":
        start, end = _find(passage, sentence)
        read = passage[start:end] if start >= 0 else ""
        return bool(_JOINED_ITEM.search(read)) or (
            read.rstrip().endswith(":") and _list_end(passage, end) > end
        )
    if cue == "quote":
        return bool(_QUOTE.search(sentence))
    if cue == "enumeration":
        return bool(_ENUMERATION.search(sentence))
    return False


def _introduces(sentence: str) -> bool:
    """Whether ``sentence`` (as it reads in its passage) introduces a list: it ends with a
    colon, or holds the colon and, on the next line, the list's first item."""
    return sentence.rstrip().endswith(":") or bool(_JOINED_ITEM.search(sentence))


def _list_end(passage: str, end: int) -> int:
    """Where the list items (paragraphs opening with ``*``, ``-``, ``1.``...) that follow
    ``passage[:end]`` end; ``end`` when none follows."""
    if not passage.startswith("\n\n", end):
        return end
    for paragraph in passage[end:].split("\n\n")[1:]:
        if not _ITEM.match(paragraph):
            break
        end = passage.index(paragraph, end) + len(paragraph)
    return end


def _find(passage: str, sentence: str) -> tuple[int, int]:
    """Where ``sentence`` reads in ``passage`` (whitespace may differ: a unit joins a short
    fragment to the next paragraph's sentence); (-1, -1) when it does not."""
    at = passage.find(sentence)
    if at >= 0:
        return at, at + len(sentence)
    words = sentence.split()
    if not words:
        return -1, -1
    match = re.search(r"\s+".join(re.escape(w) for w in words), passage)
    return (match.start(), match.end()) if match else (-1, -1)


def _span(passage: str, sentence: str, extend: bool = True) -> str:
    """``sentence`` as it reads in ``passage``, with the list it introduces when it ends
    with a colon (or holds the list's first item after one) and list items follow; empty
    when it does not read in the passage."""
    start, end = _find(passage, sentence)
    if start < 0:
        return ""
    if extend and _introduces(passage[start:end]):
        end = _list_end(passage, end)
    start, end = _with_post(passage, start, end)
    return passage[start:end]


def _continued(passage: str, bold: str) -> str:
    """``bold`` with the sentence after it when that sentence points back at it ("They said:
    «…»", "Ils pensent que cela…"), in the same paragraph or opening the next: the two read
    as one, and the answer is often in the second. Not after a list or an embedded post,
    nor into one."""
    start, end = _find(passage, bold)
    last = passage[start:end].rsplit("\n\n", 1)[-1]
    if start < 0 or _ITEM.match(last) or _SIGNATURE.search(last):
        return bold
    paragraph = passage[end:].lstrip().split("\n\n", 1)[0]
    if not paragraph or _ITEM.match(paragraph) or _SIGNATURE.match(paragraph) or _CONTINUED.match(paragraph):
        return bold
    following = split_sentences(paragraph)[0]
    at = passage.find(following, end)
    if at < 0 or not _POINTS_BACK.match(following):
        return bold
    return passage[start : at + len(following)]


def _with_post(passage: str, start: int, end: int) -> tuple[int, int]:
    """Widen ``passage[start:end]`` to a whole embedded post when it touches one: the
    post's signature line ("— Name (@handle) July 29, 2019") says who wrote the text
    above it and when, and says nothing without it. A signature is shown with the
    paragraph it signs, a post's last paragraph with its signature, and a short post from
    the text shown to its signature (:func:`_post_end`)."""
    if _SIGNATURE.match(passage[start:end]):
        before = passage.rfind("\n\n", 0, start)
        if before > 0:
            previous = passage.rfind("\n\n", 0, before)
            previous = 0 if previous < 0 else previous + 2
            if not _SIGNATURE.match(passage[previous:before]):
                start = previous
        return start, end
    if passage.startswith("\n\n", end):
        following = passage.find("\n\n", end + 2)
        following = len(passage) if following < 0 else following
        if _CONTINUED.fullmatch(passage[end + 2 : following]):  # the signature comes after "(con't)"
            after = passage.find("\n\n", following + 2)
            following = len(passage) if after < 0 else after
        if _SIGNATURE.match(passage[end + 2 : following]):
            return start, following
    return start, _post_end(passage, start, end)


def _post_end(passage: str, start: int, end: int) -> int:
    """The end of the signature that closes a short post ``passage[start:end]`` is in, when
    it is one: its paragraph names a handle, a hashtag or a link, and from the start of that
    paragraph to the signature there are at most :data:`POST_CHARS` characters and no list
    item (a post of several paragraphs, "Hello Twitter!" then what the group is about, is
    one message); else ``end``."""
    opening = passage.rfind("\n\n", 0, start)
    opening = 0 if opening < 0 else opening + 2
    at = passage.find("\n\n", end)
    at = len(passage) if at < 0 else at  # the end of the paragraph the bold text ends in
    if not _POST_MARK.search(passage, opening, at):
        return end
    while passage.startswith("\n\n", at):
        following = passage.find("\n\n", at + 2)
        following = len(passage) if following < 0 else following
        paragraph = passage[at + 2 : following]
        if _SIGNATURE.match(paragraph):
            return following if at - opening <= POST_CHARS else end
        if _ITEM.match(paragraph) or _CONTINUED.fullmatch(paragraph) or following - opening > POST_CHARS:
            return end
        at = following
    return end
