"""Answers and what people thought of them, in SQLite in the data folder.

Two tables, written by the bot, read by ``citebot feedback``:

- ``answers``: one row per answer posted (keyed by its message id): the question, the
  conversation's earlier questions, the passages shown with their ranks (source id,
  passage id, location, title, bold sentence), the server and channel, the thread started
  from it, and a JSON ``state`` for anything else an answer is searched with (the number
  shown, the language, a library name later). The answer's buttons ("in full", "More
  passages", 👍/👎, "Follow up") read it, so they keep working after a restart.
- ``votes``: one row per member per answer (a member may change their vote): 👍 or 👎,
  on a 👎 the passage they picked as the one that answers it, and when. The member is
  kept only as a keyed hash (HMAC-SHA256 with a secret made for this database), never
  their id.

Votes are a record, nothing more: nothing here deletes, hides or reranks a passage.
``as_eval`` turns confirmed answers into a ``citebot eval`` question set, which is how
an operator makes them a regression set. Plain :mod:`sqlite3`, one short connection per
call, so it is safe from several threads and processes; no Discord import.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from retrieval.models import Answer, Passage

SCHEMA_VERSION = 1
UP, DOWN = 1, -1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY,
    question TEXT NOT NULL,
    previous TEXT NOT NULL,
    passages TEXT NOT NULL,
    server TEXT,
    channel TEXT,
    thread TEXT,
    state TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS answers_channel ON answers (channel);
CREATE INDEX IF NOT EXISTS answers_thread ON answers (thread);
CREATE TABLE IF NOT EXISTS votes (
    answer TEXT NOT NULL REFERENCES answers (key),
    user TEXT NOT NULL,
    vote INTEGER NOT NULL,
    gold INTEGER,
    voted_at TEXT NOT NULL,
    PRIMARY KEY (answer, user)
);
"""

_VOTES = "SELECT a.*, v.user, v.vote, v.gold, v.voted_at FROM votes v JOIN answers a ON a.key = v.answer"


@dataclass(frozen=True)
class ShownPassage:
    """A passage as an answer showed it: enough to cite it, find it again and score it."""

    rank: int
    source_id: str
    passage_id: str
    location: str
    title: str = ""
    source: str = ""
    highlight: str = ""
    language: str = ""
    #: the article's link, date, byline and outlet, for the citation shown again (None:
    #: unknown, or an answer recorded before they were kept).
    url: str | None = None
    published: str | None = None
    author: str | None = None
    site: str | None = None

    @classmethod
    def of(cls, passage: Passage) -> ShownPassage:
        return cls(
            rank=passage.rank,
            source_id=passage.source_id,
            passage_id=passage.chunk_id,
            location=passage.location,
            title=passage.title,
            source=passage.source,
            highlight=passage.highlight,
            language=passage.language,
            url=passage.url,
            published=passage.published,
            author=passage.author,
            site=passage.site,
        )

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "rank": self.rank,
            "source_id": self.source_id,
            "passage_id": self.passage_id,
            "location": self.location,
            "title": self.title,
            "source": self.source,
            "highlight": self.highlight,
            "language": self.language,
        }
        for key in ("url", "published", "author", "site"):
            if getattr(self, key):
                data[key] = getattr(self, key)
        return data

    def passage(self, text: str) -> Passage:
        """The passage to show again, with its text read from the index."""
        return Passage(
            rank=self.rank,
            source=self.source,
            source_id=self.source_id,
            title=self.title,
            text=text,
            score=0.0,
            language=self.language,
            location=self.location,
            highlight=self.highlight,
            chunk_id=self.passage_id,
            url=self.url,
            published=self.published,
            author=self.author,
            site=self.site,
        )


@dataclass(frozen=True)
class AnswerRecord:
    """One answer that was posted.

    Attributes:
        key: its message id (any unique string).
        question: the question as searched.
        previous: the conversation's earlier questions, oldest first.
        passages: what was shown, best first.
        server: the Discord server (guild) id, None in direct messages or the CLI.
        channel: where it was posted (a thread's id for an answer in a thread).
        thread: the thread started from it, once there is one.
        state: anything else it was searched with (``shown``, ``language``, ``k``...).
        created_at: ISO 8601, UTC.
    """

    key: str
    question: str
    previous: tuple[str, ...] = ()
    passages: tuple[ShownPassage, ...] = ()
    server: str | None = None
    channel: str | None = None
    thread: str | None = None
    state: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""

    def shown(self, rank: int) -> ShownPassage | None:
        return next((p for p in self.passages if p.rank == rank), None)


@dataclass(frozen=True)
class VoteRecord:
    """One member's vote on one answer."""

    answer: AnswerRecord
    user: str  # the keyed hash, never the id
    vote: int  # UP or DOWN
    gold: int | None  # on a 👎, the rank of the passage picked as the one that answers it
    voted_at: str

    @property
    def confirmed(self) -> ShownPassage | None:
        """The passage this vote says answers the question: the first on a 👍, the one
        picked on a 👎 (None when none was picked)."""
        if self.vote == UP:
            return self.answer.passages[0] if self.answer.passages else None
        return self.answer.shown(self.gold) if self.gold else None

    def to_json(self) -> dict[str, object]:
        gold = self.answer.shown(self.gold) if self.gold else None
        return {
            "answer": self.answer.key,
            "question": self.answer.question,
            "previous": list(self.answer.previous),
            "vote": "up" if self.vote == UP else "down",
            "gold": None if gold is None else _citation(gold),
            "passages": [_citation(p) for p in self.answer.passages],
            "server": self.answer.server,
            "user": self.user,
            "time": self.voted_at,
            "answered_at": self.answer.created_at,
        }


def _citation(passage: ShownPassage) -> dict[str, object]:
    return {
        "rank": passage.rank,
        "source_id": passage.source_id,
        "passage_id": passage.passage_id,
        "location": passage.location,
    }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class FeedbackStore:
    """The answers posted and the votes on them, in one SQLite file.

    Args:
        path: the database file (``DataFolder.feedback``); created with its folder on
            the first write.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._ready = False

    def exists(self) -> bool:
        return self.path.exists()

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """A connection in a transaction (committed on success), the schema in place (again,
        should the file have been removed)."""
        if self._ready and not self.path.exists():
            self._ready = False
        if not self._ready:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.path, timeout=30)) as db:
            db.row_factory = sqlite3.Row
            with db:
                if not self._ready:
                    db.executescript(_SCHEMA)
                    db.execute(
                        "INSERT OR IGNORE INTO meta VALUES ('schema', ?), ('user_key', ?)",
                        (str(SCHEMA_VERSION), secrets.token_hex(32)),
                    )
                    self._ready = True
                yield db

    # -- answers ---------------------------------------------------------------------
    def record_answer(
        self,
        key: str,
        answer: Answer,
        shown: Sequence[Passage],
        *,
        server: str | None = None,
        channel: str | None = None,
        state: dict[str, Any] | None = None,
    ) -> AnswerRecord:
        """Remember an answer that was posted, with the passages it showed."""
        record = AnswerRecord(
            key=str(key),
            question=answer.question,
            previous=tuple(answer.previous),
            passages=tuple(ShownPassage.of(p) for p in shown),
            server=server,
            channel=channel,
            state={"answered": answer.answered, **(state or {})},
            created_at=_now(),
        )
        with self._db() as db:
            db.execute(
                "INSERT OR REPLACE INTO answers "
                "(key, question, previous, passages, server, channel, thread, state, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?)",
                (
                    record.key,
                    record.question,
                    json.dumps(list(record.previous), ensure_ascii=False),
                    json.dumps([p.to_json() for p in record.passages], ensure_ascii=False),
                    server,
                    channel,
                    json.dumps(record.state, ensure_ascii=False),
                    record.created_at,
                ),
            )
        return record

    def answer(self, key: str) -> AnswerRecord | None:
        """The answer posted as ``key``, None when it is not known."""
        if not self.exists():
            return None
        with self._db() as db:
            row = db.execute("SELECT * FROM answers WHERE key = ?", (str(key),)).fetchone()
        return None if row is None else _answer(row)

    def set_thread(self, key: str, thread: str) -> None:
        """Note the thread started from the answer ``key``."""
        with self._db() as db:
            db.execute("UPDATE answers SET thread = ? WHERE key = ?", (str(thread), str(key)))

    def conversation(self, thread: str) -> list[str] | None:
        """The questions asked so far in a thread started from an answer, oldest first;
        None when no answer started ``thread``."""
        if not self.exists():
            return None
        with self._db() as db:
            root = db.execute("SELECT * FROM answers WHERE thread = ?", (str(thread),)).fetchone()
            if root is None:
                return None
            latest = db.execute(
                "SELECT * FROM answers WHERE channel = ? ORDER BY rowid DESC LIMIT 1", (str(thread),)
            ).fetchone()
        record = _answer(latest if latest is not None else root)
        return [*record.previous, record.question]

    # -- votes -----------------------------------------------------------------------
    def user_hash(self, user_id: int | str) -> str:
        """The keyed hash a member's votes are stored under (the same for every vote)."""
        with self._db() as db:
            key = db.execute("SELECT value FROM meta WHERE key = 'user_key'").fetchone()[0]
        return hmac.new(bytes.fromhex(key), str(user_id).encode(), hashlib.sha256).hexdigest()[:32]

    def vote(self, key: str, user_id: int | str, vote: int) -> VoteRecord:
        """Record (or change) ``user_id``'s vote on the answer ``key``. A 👍 clears any
        passage picked with an earlier 👎.

        Raises:
            KeyError: the answer is not known.
        """
        if vote not in (UP, DOWN):
            raise ValueError(f"a vote is {UP} or {DOWN}, not {vote!r}")
        user = self.user_hash(user_id)
        with self._db() as db:
            if db.execute("SELECT 1 FROM answers WHERE key = ?", (str(key),)).fetchone() is None:
                raise KeyError(key)
            db.execute(
                "INSERT INTO votes (answer, user, vote, gold, voted_at) VALUES (?, ?, ?, NULL, ?) "
                "ON CONFLICT (answer, user) DO UPDATE SET vote = excluded.vote, "
                "gold = CASE WHEN excluded.vote = 1 THEN NULL ELSE votes.gold END, "
                "voted_at = excluded.voted_at",
                (str(key), user, vote, _now()),
            )
        return self._vote(str(key), user)

    def pick(self, key: str, user_id: int | str, rank: int | None) -> VoteRecord:
        """Record the passage (by rank; None: none of them) ``user_id`` says answers the
        question of ``key``: a 👎 on the order shown.

        Raises:
            KeyError: the answer is not known, or showed no passage ``rank``.
        """
        record = self.answer(key)
        if record is None or (rank is not None and record.shown(rank) is None):
            raise KeyError(f"{key} [{rank}]")
        user = self.user_hash(user_id)
        with self._db() as db:
            db.execute(
                "INSERT INTO votes (answer, user, vote, gold, voted_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (answer, user) DO UPDATE SET vote = excluded.vote, gold = excluded.gold, "
                "voted_at = excluded.voted_at",
                (str(key), user, DOWN, rank, _now()),
            )
        return self._vote(str(key), user)

    def _vote(self, key: str, user: str) -> VoteRecord:
        with self._db() as db:
            row = db.execute(
                _VOTES + " WHERE v.answer = ? AND v.user = ?",
                (key, user),
            ).fetchone()
        return _vote(row)

    def votes(self, since: datetime | None = None) -> list[VoteRecord]:
        """Every vote, oldest first; only those cast (or changed) at or after ``since``."""
        if not self.exists():
            return []
        query = _VOTES
        args: tuple[str, ...] = ()
        if since is not None:
            moment = since if since.tzinfo else since.replace(tzinfo=UTC)
            query += " WHERE v.voted_at >= ?"
            args = (moment.astimezone(UTC).isoformat(timespec="seconds"),)
        with self._db() as db:
            rows = db.execute(query + " ORDER BY v.voted_at, v.rowid", args).fetchall()
        return [_vote(row) for row in rows]


def as_eval(votes: Sequence[VoteRecord]) -> list[dict[str, object]]:
    """The confirmed answers as ``citebot eval`` question lines ``{"id", "q", "docs",
    "answer"}`` (and ``"previous"`` for a follow-up): a 👍 confirms the first passage, a 👎
    with a picked passage confirms that one; the article is the gold doc and the passage's
    bold sentence the gold answer. One line per question (with its earlier questions),
    gathering every confirmation; a 👎 without a pick confirms nothing."""
    lines: dict[tuple[str, tuple[str, ...]], dict[str, Any]] = {}
    for vote in votes:
        passage = vote.confirmed
        if passage is None or not passage.highlight.strip():
            continue
        question = (vote.answer.question, vote.answer.previous)
        line = lines.setdefault(
            question,
            {"id": f"feedback-{vote.answer.key}", "q": vote.answer.question, "docs": [], "answer": []},
        )
        if vote.answer.previous:
            line["previous"] = list(vote.answer.previous)
        if passage.source_id not in line["docs"]:
            line["docs"].append(passage.source_id)
        if passage.highlight not in line["answer"]:
            line["answer"].append(passage.highlight)
    return list(lines.values())


def _answer(row: sqlite3.Row) -> AnswerRecord:
    return AnswerRecord(
        key=row["key"],
        question=row["question"],
        previous=tuple(json.loads(row["previous"])),
        passages=tuple(_shown(p) for p in json.loads(row["passages"])),
        server=row["server"],
        channel=row["channel"],
        thread=row["thread"],
        state=json.loads(row["state"]),
        created_at=row["created_at"],
    )


def _shown(data: dict[str, Any]) -> ShownPassage:
    known = ShownPassage.__dataclass_fields__
    return ShownPassage(**{name: value for name, value in data.items() if name in known})


def _vote(row: sqlite3.Row) -> VoteRecord:
    return VoteRecord(
        answer=_answer(row),
        user=row["user"],
        vote=int(row["vote"]),
        gold=None if row["gold"] is None else int(row["gold"]),
        voted_at=row["voted_at"],
    )
