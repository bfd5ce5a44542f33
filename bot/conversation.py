"""Conversations: which answer the bot posted where, the threads of follow-ups, the votes.

:class:`Conversations` is the bot's async façade over
:class:`retrieval.feedback.FeedbackStore` (SQLite in the data folder): every call runs
in a worker thread. An answer is remembered by its message id with what it showed, so
its buttons keep working after a restart, and a thread started from an answer knows the
questions asked in it, which a follow-up is searched with.

:func:`follow_up_channel` finds (or starts) the thread a follow-up is answered in.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import discord

from bot.errors import UserFacingError
from bot.i18n import t
from bot.replies import clip, neutralise
from retrieval.feedback import DOWN, UP, AnswerRecord, FeedbackStore, VoteRecord
from retrieval.models import Answer, Passage

log = logging.getLogger(__name__)

#: Discord's limit on a thread's name.
THREAD_NAME_LIMIT = 100
#: Minutes of inactivity before Discord hides a thread (one day).
THREAD_ARCHIVE_MINUTES = 1440
#: Discord's error code for "a thread has already been created for this message".
THREAD_EXISTS = 160004
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
            await self._settled()
            record = await asyncio.to_thread(self.store.answer, str(message_id))
        return record

    async def _settled(self) -> None:
        """Wait (a little at most) for the answers being sent to be remembered."""
        waits = [asyncio.create_task(done.wait()) for done in self._posting]
        _, pending = await asyncio.wait(waits, timeout=POSTING_WAIT)
        for task in pending:
            task.cancel()

    async def history(self, channel_id: int | None) -> list[str] | None:
        """The questions asked so far in a thread the bot started, oldest first; None for
        any other channel."""
        if channel_id is None:
            return None
        if self._posting:  # the answer just posted in the thread counts once remembered
            await self._settled()
        return await asyncio.to_thread(self.store.conversation, str(channel_id))

    async def thread_started(self, message_id: int | str, thread_id: int) -> None:
        await asyncio.to_thread(self.store.set_thread, str(message_id), str(thread_id))

    async def vote(self, message_id: int | str, user_id: int, up: bool) -> VoteRecord:
        return await asyncio.to_thread(self.store.vote, str(message_id), user_id, UP if up else DOWN)

    async def pick(self, message_id: int | str, user_id: int, rank: int | None) -> VoteRecord:
        return await asyncio.to_thread(self.store.pick, str(message_id), user_id, rank)


def thread_name(question: str) -> str:
    """A thread's name from its first question: one line, mentions inert, at most 100 characters."""
    return clip(neutralise(" ".join(question.split())), THREAD_NAME_LIMIT) or "citebot"


async def follow_up_history(
    conversations: Conversations, interaction: discord.Interaction, record: AnswerRecord
) -> list[str]:
    """The earlier questions to search a follow-up of ``record`` with: the questions asked
    in its thread (the one it was posted in, or the one started from it), else the
    answer's own question and the ones before it."""
    chain = [*record.previous, record.question]
    if isinstance(interaction.channel, discord.Thread):
        return await conversations.history(interaction.channel.id) or chain
    if record.thread is not None:
        return await conversations.history(int(record.thread)) or chain
    return chain


async def follow_up_channel(
    client: discord.Client,
    conversations: Conversations,
    interaction: discord.Interaction,
    record: AnswerRecord,
    language: str,
) -> tuple[discord.abc.Messageable, int]:
    """Where to answer a follow-up of ``record`` asked through ``interaction``, and that
    channel's id: the thread the answer is in, or the one started from it, or a new public
    thread started from it. In a direct message, where there are no threads: the same
    channel.

    Raises:
        UserFacingError: the bot may not start or post in threads here (one line naming the
            permissions it needs).
    """
    channel = interaction.channel
    if isinstance(channel, discord.Thread):
        return channel, channel.id
    if record.thread is not None:
        thread_id = int(record.thread)
        return _thread(client, interaction, thread_id), thread_id
    if interaction.guild is None and isinstance(channel, discord.abc.Messageable):
        return channel, channel.id
    if not isinstance(channel, discord.TextChannel | discord.PartialMessageable):
        raise UserFacingError(t(language, "thread_forbidden"))
    permissions = interaction.app_permissions
    if not (permissions.create_public_threads and permissions.send_messages_in_threads):
        raise UserFacingError(t(language, "thread_forbidden"))
    try:
        thread = await channel.get_partial_message(int(record.key)).create_thread(
            name=thread_name(record.question), auto_archive_duration=THREAD_ARCHIVE_MINUTES
        )
        target: discord.abc.Messageable = thread
        thread_id = thread.id
    except discord.Forbidden:
        raise UserFacingError(t(language, "thread_forbidden")) from None
    except discord.HTTPException as error:
        if error.code != THREAD_EXISTS:
            raise
        # Someone else's follow-up started it a moment ago: it has the answer's id.
        thread_id = int(record.key)
        target = _thread(client, interaction, thread_id)
    await conversations.thread_started(record.key, thread_id)
    return target, thread_id


def _thread(
    client: discord.Client, interaction: discord.Interaction, thread_id: int
) -> discord.abc.Messageable:
    return client.get_partial_messageable(
        thread_id, guild_id=interaction.guild_id, type=discord.ChannelType.public_thread
    )
