"""An answer as a Discord message: its buttons, what they open, and how it is posted.

Every button under an answer ("[n] in full", "More passages", "Follow up", 👍, 👎) and
the passage picker a 👎 opens is a :class:`discord.ui.DynamicItem`: its custom_id says
what it does (``citebot:full:2``), and what it acts on (the question, the earlier
questions, the passages shown) is read from :class:`bot.conversation.Conversations` by
the message's id. Nothing lives in memory, so the buttons work for as long as the
message exists and after a restart (``CitebotBot.setup_hook`` registers the items).

:func:`post_answer` sends an answer with its buttons and remembers it;
:func:`reply_with_answer` answers a message (a mention, a message in a thread).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

import discord

from bot import i18n
from bot.conversation import follow_up_channel, follow_up_history
from bot.errors import UserFacingError, explain
from bot.i18n import t
from bot.replies import answer_embed, clip, full_passage_embed, message_text, neutralise, passages_embed
from config import MAX_TOP_K
from retrieval.dates import DateRange
from retrieval.feedback import AnswerRecord
from retrieval.models import Answer, Passage
from retrieval.service import clean_question

if TYPE_CHECKING:
    from bot.app import CitebotBot
    from bot.service import IndexFacts

log = logging.getLogger(__name__)

#: How many extra passages "More passages" shows.
MORE_STEP = 5
#: "[n] in full" buttons under one answer (4 rows of 5; the last row holds the others).
FULL_BUTTONS = 20
#: Discord's limits on a select menu's options and their text.
SELECT_OPTIONS = 25
OPTION_TEXT = 100
#: A follow-up typed in the modal; the service checks CITEBOT_MAX_QUESTION_CHARS too.
FOLLOW_UP_MAX = 1000

Send = Callable[..., Awaitable[discord.Message]]


def _bot(interaction: discord.Interaction) -> CitebotBot:
    return interaction.client  # type: ignore[return-value]


async def _record(interaction: discord.Interaction, key: int | str | None, language: str) -> AnswerRecord:
    """The answer a button acts on; a clear line when it is not known (an answer posted
    before this feature, or a database that was reset)."""
    record = await _bot(interaction).conversations.answer(int(key)) if key is not None else None
    if record is None:
        raise UserFacingError(t(language, "answer_unknown"))
    return record


async def _guarded(interaction: discord.Interaction, work: Callable[[], Awaitable[None]]) -> None:
    """Run a component's work; a failure becomes the usual one-line reply (discord.py only
    logs what a dynamic item's callback raises)."""
    try:
        await work()
    except Exception as error:  # noqa: BLE001 - every failure gets a short reply and a log line
        await _bot(interaction).report_error(interaction, error)


class PassageButton(discord.ui.DynamicItem[discord.ui.Button], template=r"citebot:full:(?P<rank>[0-9]{1,2})"):
    """The "[n] in full" button: passage n of the answer, whole, privately to whoever clicks."""

    def __init__(self, rank: int, label: str = "", row: int | None = None) -> None:
        super().__init__(
            discord.ui.Button(
                label=label or f"[{rank}]",
                style=discord.ButtonStyle.secondary,
                custom_id=f"citebot:full:{rank}",
                row=row,
            )
        )
        self.rank = rank

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> PassageButton:
        return cls(int(match["rank"]), item.label or "")

    async def callback(self, interaction: discord.Interaction) -> None:
        await _guarded(interaction, partial(self._show, interaction))

    async def _show(self, interaction: discord.Interaction) -> None:
        language = i18n.for_interaction(interaction)
        record = await _record(interaction, interaction.message and interaction.message.id, language)
        shown = record.shown(self.rank)
        if shown is None:
            raise UserFacingError(t(language, "answer_unknown"))
        texts = await _bot(interaction).service.passage_texts([shown.passage_id], record.state.get("library"))
        if shown.passage_id not in texts:
            raise UserFacingError(t(language, "passage_removed"))
        passage = shown.passage(texts[shown.passage_id])
        # An answer posted before the flag was kept counts as answered.
        embed = full_passage_embed(passage, language, bold=record.state.get("answered", True))
        await interaction.response.send_message(embed=embed, ephemeral=True)


class MoreButton(discord.ui.DynamicItem[discord.ui.Button], template=r"citebot:more"):
    """The "More passages" button: the next ones for the same question (and earlier questions)."""

    def __init__(self, label: str = "More passages", row: int | None = None) -> None:
        super().__init__(
            discord.ui.Button(
                label=label, style=discord.ButtonStyle.primary, custom_id="citebot:more", row=row
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> MoreButton:
        return cls(item.label or "More passages")

    async def callback(self, interaction: discord.Interaction) -> None:
        await _guarded(interaction, partial(self._more, interaction))

    async def _more(self, interaction: discord.Interaction) -> None:
        language = i18n.for_interaction(interaction)
        record = await _record(interaction, interaction.message and interaction.message.id, language)
        await interaction.response.defer(ephemeral=True, thinking=True)
        shown = int(record.state.get("shown", len(record.passages)))
        k = min(MAX_TOP_K, shown + MORE_STEP)
        library = record.state.get("library")
        dates = DateRange.from_json(record.state.get("dates"))
        answer, _ = await _bot(interaction).service.ask(
            record.question, k, library, previous=record.previous, dates=dates
        )
        extra = answer.passages[shown:k]
        if not extra:
            await interaction.followup.send(t(language, "no_more"), ephemeral=True)
            return
        title = neutralise(t(language, "more_title", question=record.question))
        if answer.answered:
            embed = passages_embed(title, "", extra, "")
        else:  # labelled as the answer's were: the closest passages, which may not answer it
            description = f"{t(language, 'not_answered')}\n{t(language, 'closest')}"
            label = t(language, "closest_label")
            colour = discord.Colour.orange()
            embed = passages_embed(title, description, extra, "", label=label, colour=colour, bold=False)
        await interaction.followup.send(embed=embed, ephemeral=True)


class VoteButton(discord.ui.DynamicItem[discord.ui.Button], template=r"citebot:vote:(?P<way>up|down)"):
    """👍 / 👎: one vote per member per answer, which they may change; a 👎 asks which
    passage, if any, answered the question."""

    def __init__(self, up: bool, row: int | None = None) -> None:
        super().__init__(
            discord.ui.Button(
                emoji="👍" if up else "👎",
                style=discord.ButtonStyle.secondary,
                custom_id=f"citebot:vote:{'up' if up else 'down'}",
                row=row,
            )
        )
        self.up = up

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> VoteButton:
        return cls(match["way"] == "up")

    async def callback(self, interaction: discord.Interaction) -> None:
        await _guarded(interaction, partial(self._vote, interaction))

    async def _vote(self, interaction: discord.Interaction) -> None:
        language = i18n.for_interaction(interaction)
        record = await _record(interaction, interaction.message and interaction.message.id, language)
        await _bot(interaction).conversations.vote(record.key, interaction.user.id, self.up)
        thanks = t(language, "vote_up" if self.up else "vote_down")
        if self.up or not record.passages:
            await interaction.response.send_message(thanks, ephemeral=True)
            return
        view = discord.ui.View(timeout=None)
        view.add_item(PassagePicker(record, language))
        text = f"{thanks}\n{t(language, 'gold_question')}"
        await interaction.response.send_message(text, view=view, ephemeral=True)


class PassagePicker(
    discord.ui.DynamicItem[discord.ui.Select], template=r"citebot:gold:(?P<answer>[0-9]{1,20})"
):
    """After a 👎: which of the passages shown answers the question (or none); the pick is
    recorded as the gold passage."""

    def __init__(self, record: AnswerRecord | str, language: str = "en") -> None:
        key = record.key if isinstance(record, AnswerRecord) else record
        options = [discord.SelectOption(label=t(language, "gold_none"), value="0")]
        if isinstance(record, AnswerRecord):
            options = [
                discord.SelectOption(
                    label=clip(neutralise(f"[{p.rank}] {p.title or p.source_id}"), OPTION_TEXT),
                    description=clip(neutralise(f"{p.source}, {p.location}"), OPTION_TEXT) or None,
                    value=str(p.rank),
                )
                for p in record.passages[: SELECT_OPTIONS - 1]
            ] + options
        super().__init__(
            discord.ui.Select(
                custom_id=f"citebot:gold:{key}",
                placeholder=t(language, "gold_placeholder"),
                options=options,
                min_values=1,
                max_values=1,
            )
        )
        self.key = key

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Select, match: re.Match[str], /
    ) -> PassagePicker:
        return cls(match["answer"])

    async def callback(self, interaction: discord.Interaction) -> None:
        await _guarded(interaction, partial(self._pick, interaction))

    async def _pick(self, interaction: discord.Interaction) -> None:
        language = i18n.for_interaction(interaction)
        record = await _record(interaction, self.key, language)
        values = self.item.values
        rank = int(values[0]) if values and values[0].isdigit() else 0
        if rank and record.shown(rank) is None:
            raise UserFacingError(t(language, "answer_unknown"))
        await _bot(interaction).conversations.pick(record.key, interaction.user.id, rank or None)
        text = t(language, "gold_done", n=rank) if rank else t(language, "gold_none_done")
        await interaction.response.edit_message(content=text, view=None)


class FollowUpButton(discord.ui.DynamicItem[discord.ui.Button], template=r"citebot:follow"):
    """The "Follow up" button: a modal for the next question, answered in a thread from the answer."""

    def __init__(self, label: str = "Follow up", row: int | None = None) -> None:
        super().__init__(
            discord.ui.Button(
                label=label, style=discord.ButtonStyle.success, custom_id="citebot:follow", row=row
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> FollowUpButton:
        return cls(item.label or "Follow up")

    async def callback(self, interaction: discord.Interaction) -> None:
        await _guarded(interaction, partial(self._open, interaction))

    async def _open(self, interaction: discord.Interaction) -> None:
        language = i18n.for_interaction(interaction)
        record = await _record(interaction, interaction.message and interaction.message.id, language)
        await interaction.response.send_modal(FollowUpModal(record, language))


class FollowUpModal(discord.ui.Modal):
    """The follow-up question; answered in the conversation's thread with its history."""

    def __init__(self, record: AnswerRecord, language: str) -> None:
        # Its own id (discord.py tells a member's open forms apart by it), readable in the log.
        super().__init__(
            title=t(language, "followup_title"), custom_id=f"citebot:follow:{os.urandom(8).hex()}"
        )
        self.record = record
        self.question: discord.ui.TextInput[FollowUpModal] = discord.ui.TextInput(
            label=t(language, "followup_label"),
            placeholder=t(language, "followup_placeholder"),
            max_length=FOLLOW_UP_MAX,
            custom_id="citebot:follow:question",
        )
        self.add_item(self.question)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        bot = _bot(interaction)
        language = i18n.for_interaction(interaction)
        question = self.question.value
        # An unusable question is refused privately, before anything public appears.
        clean_question(question, bot.settings.max_question_chars)
        bot.check_cooldown(interaction.user.id)
        await interaction.response.defer(ephemeral=True, thinking=True)
        previous = await follow_up_history(bot.conversations, interaction, self.record)
        library = bot.service.library_for(interaction.guild_id)
        answer, facts = await bot.service.ask(question, None, library, previous=previous)
        # The thread is started once there is an answer to put in it; if the one started
        # from the answer was deleted since, another is.
        try:
            for retry in (False, True):
                target, channel_id = await follow_up_channel(
                    bot, bot.conversations, interaction, self.record, language
                )
                try:
                    await post_answer(
                        bot,
                        target.send,
                        answer,
                        facts,
                        language,
                        server=interaction.guild_id,
                        channel=channel_id,
                    )
                    break
                except discord.NotFound:
                    if retry or self.record.thread is None or int(self.record.thread) != channel_id:
                        raise
                    self.record = replace(self.record, thread=None)
        except discord.Forbidden:
            raise UserFacingError(t(language, "thread_forbidden")) from None
        await interaction.followup.send(
            t(language, "followup_posted", thread=f"<#{channel_id}>"), ephemeral=True
        )

    async def on_error(self, interaction: discord.Interaction, error: Exception, /) -> None:
        await _bot(interaction).report_error(interaction, error)


#: Registered in ``CitebotBot.setup_hook``: what makes the buttons outlive a restart.
DYNAMIC_ITEMS = (PassageButton, MoreButton, VoteButton, FollowUpButton, PassagePicker)


def answer_view(shown: Sequence[Passage], language: str, follow_up: bool = True) -> discord.ui.View:
    """The buttons under an answer: each shown passage in full, then More passages,
    Follow up (unless not ``follow_up``), 👍 and 👎 on the last row."""
    view = discord.ui.View(timeout=None)
    full = list(shown[:FULL_BUTTONS])
    for index, passage in enumerate(full):
        label = t(language, "full_button", n=passage.rank)
        view.add_item(PassageButton(passage.rank, label, row=index // 5))
    row = min(4, (len(full) + 4) // 5)
    view.add_item(MoreButton(t(language, "more"), row=row))
    if follow_up:
        view.add_item(FollowUpButton(t(language, "follow_button"), row=row))
    view.add_item(VoteButton(True, row=row))
    view.add_item(VoteButton(False, row=row))
    return view


async def post_answer(
    bot: CitebotBot,
    send: Send,
    answer: Answer,
    facts: IndexFacts,
    language: str,
    *,
    server: int | None,
    channel: int | None,
    dates: DateRange | None = None,
    follow_up: bool = True,
    **send_options: Any,
) -> discord.Message:
    """Send ``answer`` with its buttons through ``send`` and remember it by its message id
    (with the date range it was searched in, which "More passages" searches again); without
    the Follow up button when not ``follow_up``."""
    embed = answer_embed(answer, facts, language, dated=dates is not None and dates.bounded)
    shown = answer.passages[: len(embed.fields)]
    async with bot.conversations.posting():
        message = await send(embed=embed, view=answer_view(shown, language, follow_up), **send_options)
        await bot.conversations.remember(
            message.id,
            answer,
            shown,
            server=server,
            channel=channel,
            # What the buttons search again: the server's library (and the base one).
            state={
                "shown": len(shown),
                "answered": answer.answered,
                "language": language,
                "library": bot.service.library_for(server),
                **({"dates": dates.to_json()} if dates is not None and dates.bounded else {}),
            },
        )
    return message


async def reply_with_answer(
    bot: CitebotBot, message: discord.Message, question: str, previous: list[str] | None, language: str
) -> None:
    """Answer ``message`` (a mention, or a message in the bot's thread) with a reply; a
    failure gets a short reply and a log line."""
    try:
        bot.check_cooldown(message.author.id)
        clean_question(question, bot.settings.max_question_chars)
        async with message.channel.typing():
            library = bot.service.library_for(message.guild.id if message.guild else None)
            answer, facts = await bot.service.ask(question, None, library, previous=previous)
        await post_answer(
            bot,
            message.reply,
            answer,
            facts,
            language,
            server=message.guild.id if message.guild else None,
            channel=message.channel.id,
            mention_author=False,
        )
    except Exception as error:  # noqa: BLE001 - every failure gets a short reply and a log line
        text = explain(error, language, f"a question from {message.author.id}")
        try:
            await message.reply(message_text(text), mention_author=False)
        except discord.HTTPException:
            log.warning("could not reply with the error", exc_info=True)
