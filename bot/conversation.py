"""Conversations: which answer the bot posted where, and the votes on it.

:class:`Conversations` is the bot's async façade over
:class:`retrieval.feedback.FeedbackStore` (SQLite in the data folder): every call runs
in a worker thread. An answer is remembered by its message id with what it showed, so
its buttons keep working after a restart.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from retrieval.feedback import DOWN, UP, AnswerRecord, FeedbackStore, VoteRecord
from retrieval.models import Answer, Passage

log = logging.getLogger(__name__)

#: Seconds a click on an unknown answer waits for answers being posted right then.
POSTING_WAIT = 10.0


class Conversations:
    """The answers posted and what members did with them, off the event loop.

    Args:
        store: the SQLite store in the data folder.
    """

    def __init__(self, store: FeedbackStore) -> None:
        self.store = store
        self._posting: set[asyncio.Event] = set()

    @asynccontextmanager
    async def posting(self) -> AsyncIterator[None]:
        """Around sending an answer and remembering it: a click that arrives in between
        (the message is visible before its id is known here) waits for it."""
        done = asyncio.Event()
        self._posting.add(done)
        try:
            yield
        finally:
            done.set()
            self._posting.discard(done)

    async def remember(
        self,
        message_id: int,
        answer: Answer,
        shown: Sequence[Passage],
        *,
        server: int | None,
        channel: int | None,
        state: dict[str, Any] | None = None,
    ) -> AnswerRecord | None:
        """Keep what an answer showed, by its message id; None (and a log line) when the
        database cannot be written: the answer stands, only its buttons will not know it."""
        try:
            return await asyncio.to_thread(
                self.store.record_answer,
                str(message_id),
                answer,
                list(shown),
                server=None if server is None else str(server),
                channel=None if channel is None else str(channel),
                state=state,
            )
        except (sqlite3.Error, OSError):
            log.exception("could not remember answer %s in %s", message_id, self.store.path)
            return None

    async def answer(self, message_id: int) -> AnswerRecord | None:
        """The answer posted as ``message_id``; None when it is not known."""
        record = await asyncio.to_thread(self.store.answer, str(message_id))
        if record is None and self._posting:
            waits = [asyncio.create_task(done.wait()) for done in self._posting]
            _, pending = await asyncio.wait(waits, timeout=POSTING_WAIT)
            for task in pending:
                task.cancel()
            record = await asyncio.to_thread(self.store.answer, str(message_id))
        return record

    async def vote(self, message_id: int | str, user_id: int, up: bool) -> VoteRecord:
        return await asyncio.to_thread(self.store.vote, str(message_id), user_id, UP if up else DOWN)

    async def pick(self, message_id: int | str, user_id: int, rank: int | None) -> VoteRecord:
        return await asyncio.to_thread(self.store.pick, str(message_id), user_id, rank)
