"""The values the retrieval service hands out: articles, chunks, passages, answers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from retrieval.metadata import date_timestamp


@dataclass(frozen=True)
class Article:
    """One article file, read and cleaned.

    Attributes:
        source_id: the file name, which is the article's id everywhere.
        title: from metadata, a headline-like first line, or the lede cut short.
        text: the main text, paragraphs separated by blank lines.
        language: ISO 639-1 code detected from the text (``en``, ``fr``, ...).
        sha256: hash of the file's bytes (and of its sidecar, if any).
        url: the original address when metadata gives one.
        published: when it was published, ISO 8601: a date (``2020-02-12``) or a time
            with its offset (``2020-02-12T09:30:00+00:00``); None when unknown.
        author: the byline, several names joined by ``", "``.
        site: the outlet's name (``Le Monde``).
    """

    source_id: str
    title: str
    text: str
    language: str
    sha256: str
    url: str | None = None
    published: str | None = None
    author: str | None = None
    site: str | None = None

    @property
    def citation_source(self) -> str:
        """What a citation shows as the source: the URL when known, else the file name."""
        return self.url or self.source_id

    @property
    def published_timestamp(self) -> int | None:
        """The publication date as Unix seconds (a date counts from midnight UTC), for filters."""
        return date_timestamp(self.published)


@dataclass(frozen=True)
class Chunk:
    """A passage of an article as stored in the index."""

    id: str
    source_id: str
    text: str
    position: int
    location: str


@dataclass(frozen=True)
class Passage:
    """A ranked passage with everything a citation needs.

    ``url``, ``published`` (ISO 8601), ``author`` and ``site`` are its article's, None
    when the article does not say.
    """

    rank: int
    source: str
    source_id: str
    title: str
    text: str
    score: float
    language: str
    location: str
    highlight: str = ""
    chunk_id: str = ""
    url: str | None = None
    published: str | None = None
    author: str | None = None
    site: str | None = None

    def to_json(self) -> dict[str, object]:
        """The passage in the CLI's JSON contract."""
        return {
            "rank": self.rank,
            "source": self.source,
            "title": self.title,
            "text": self.text,
            "score": round(self.score, 4),
            "language": self.language,
            "location": self.location,
            "highlight": self.highlight,
            "url": self.url,
            "published": self.published,
            "author": self.author,
            "site": self.site,
        }


@dataclass(frozen=True)
class Answer:
    """The result of a search: the passages, and whether they answer the question."""

    question: str
    answered: bool
    passages: list[Passage] = field(default_factory=list)
    #: The conversation's earlier questions it was searched with, oldest first.
    previous: tuple[str, ...] = ()
    #: The signals ``answered`` was decided on (see ``retrieval.ranking.Signals``): the
    #: best sentence's cosine similarity (plus the cross-language bonus for a sentence in
    #: another language than the question's), the share of the question's words and of
    #: its names found in the archive.
    similarity: float = 0.0
    coverage: float = 0.0
    names: float = 1.0
    #: The answer rule's score minus its threshold: answered when >= 0; how far from
    #: flipping the decision is.
    margin: float = 0.0

    def to_json(self) -> dict[str, object]:
        """The answer in the CLI's JSON contract."""
        data: dict[str, object] = {"question": self.question}
        if self.previous:
            data["previous"] = list(self.previous)
        data["answered"] = self.answered
        data["passages"] = [p.to_json() for p in self.passages]
        return data


@dataclass(frozen=True)
class SourceInfo:
    """One indexed article, as listed by ``citebot sources``."""

    source_id: str
    title: str
    language: str
    chunks: int
    indexed_at: str
    url: str | None = None
    #: the library it belongs to ("base": the operator's articles folder).
    library: str = "base"
    published: str | None = None
    author: str | None = None
    site: str | None = None

    @property
    def published_timestamp(self) -> int | None:
        return date_timestamp(self.published)

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def newest_first(sources: list[SourceInfo]) -> list[SourceInfo]:
    """``sources`` by publication date, newest first; undated ones last, in their order."""
    return sorted(sources, key=lambda s: (s.published_timestamp is None, -(s.published_timestamp or 0)))


@dataclass
class IndexReport:
    """What an indexing run did."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    chunks_embedded: int = 0
    sentences_embedded: int = 0
    chunks_deleted: int = 0
    rebuilt: bool = False
    seconds: float = 0.0

    @property
    def modified(self) -> bool:
        return bool(self.added or self.changed or self.removed or self.rebuilt)

    def to_json(self) -> dict[str, object]:
        return asdict(self)
