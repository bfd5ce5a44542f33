"""Asking: /ask (with optional ``since:`` / ``until:`` dates), a mention of the bot, any
message in the configured ask channel, or *Find sources* on a message (Apps, in its menu):
the message's text is looked up as the question, without the Message Content intent.

The cog only parses input, defers, calls the service off the event loop and posts the
answer with its buttons (:mod:`bot.views`). In a thread the bot started, /ask and a
mention are follow-ups: searched with the questions asked there before.
"""

from __future__ import annotations

import logging
import re
from functools import partial
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import i18n
from bot.errors import UserFacingError
from bot.i18n import t
from bot.mentions import mentions, strip_mentions
from bot.views import post_answer, reply_with_answer
from config import MAX_TOP_K
from retrieval.dates import DateRange, parse_range
from retrieval.service import clean_question

if TYPE_CHECKING:
    from bot.app import CitebotBot

log = logging.getLogger(__name__)

#: Discord's own limit on a string option; the service checks CITEBOT_MAX_QUESTION_CHARS.
QUESTION_OPTION_MAX = 6000
#: A date option: ``2020-02-12T09:30:00+01:00`` at the longest.
DATE_OPTION_MAX = 40


def _check_cooldown(interaction: discord.Interaction) -> bool:
    interaction.client.check_cooldown(interaction.user.id)  # type: ignore[attr-defined]
    return True


#: A channel mention (``<#id>``) or a server's own emoji (``<:name:id>``, ``<a:name:id>``).
_CHANNEL_OR_EMOJI = re.compile(r"<#\d+>|<a?:\w+:\d+>")


def in_words(text: str) -> str:
    """A text as a question, on one line: user, role and channel mentions and a server's own
    emoji removed (their ids are no words to search for)."""
    return " ".join(strip_mentions(_CHANNEL_OR_EMOJI.sub(" ", text), None).split())


def looked_up(text: str, limit: int) -> str:
    """A message's text as a question (:func:`in_words`), a long message cut at the last
    word that fits ``limit`` characters (someone's post, not a question typed for the bot,
    so it is not refused for its length)."""
    text = in_words(text)
    if len(text) <= limit:
        return text
    cut = text[:limit]
    return cut[: cut.rfind(" ")] if " " in cut.strip() else cut


class AskCog(commands.Cog):
    """Questions, however they are asked."""

    def __init__(self, bot: CitebotBot) -> None:
        self.bot = bot
        # Context menus cannot be methods of a cog: made here, added and removed with the cog.
        self.find_sources_menu = app_commands.ContextMenu(
            name="Find sources", callback=self.find_sources, type=discord.AppCommandType.message
        )
        self.find_sources_menu.add_check(_check_cooldown)

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.find_sources_menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.find_sources_menu.name, type=self.find_sources_menu.type)

    async def find_sources(self, interaction: discord.Interaction, message: discord.Message) -> None:
        """The passages that bear on a message someone posted: a claim to check, a story to
        read more about. Answered in public, like /ask, under the message's text."""
        language = i18n.for_interaction(interaction)
        question = looked_up(message.content or "", self.bot.settings.max_question_chars)
        if not re.search(r"\w", question):
            raise UserFacingError(t(language, "find_sources_empty"))
        await self._answer(interaction, question, language)

    @app_commands.command(name="ask", description="Answer a question with cited passages from the articles")
    @app_commands.describe(
        question="Your question, in English or French",
        k="How many passages (default 5)",
        since="Only articles published from this date: 2020-02-12, or 7d, 2w, 3m, 1y ago",
        until="Only articles published until this date: 2020-02-12, or 7d, 2w, 3m, 1y ago",
        private="Only you see the answer (no follow-up thread then)",
    )
    @app_commands.check(_check_cooldown)
    async def ask(
        self,
        interaction: discord.Interaction,
        question: app_commands.Range[str, 1, QUESTION_OPTION_MAX],
        k: app_commands.Range[int, 1, MAX_TOP_K] | None = None,
        since: app_commands.Range[str, 1, DATE_OPTION_MAX] | None = None,
        until: app_commands.Range[str, 1, DATE_OPTION_MAX] | None = None,
        private: bool = False,
    ) -> None:
        language = i18n.for_interaction(interaction)
        # An unusable question or date is refused privately, before anything public appears;
        # a question of mentions or emoji only is empty.
        question = in_words(question)
        clean_question(question, self.bot.settings.max_question_chars)
        dates = parse_range(since, until)
        await self._answer(interaction, question, language, k=k, dates=dates, private=private, history=True)

    async def _answer(
        self,
        interaction: discord.Interaction,
        question: str,
        language: str,
        *,
        k: int | None = None,
        dates: DateRange | None = None,
        private: bool = False,
        history: bool = False,
    ) -> None:
        """Answer an application command: "thinking…" at once, then the answer with its
        buttons, in public (or to the asker only, without Follow up: a thread cannot start
        from a message only its asker sees); with ``history``, in a thread the bot started, as
        a follow-up of the questions asked there."""
        await interaction.response.defer(thinking=True, ephemeral=private)
        interaction.extras["public_defer"] = not private
        previous = await self.bot.conversations.history(interaction.channel_id) if history else None
        library = self.bot.service.library_for(interaction.guild_id)
        answer, facts = await self.bot.service.ask(question, k, library, previous=previous, dates=dates)
        await post_answer(
            self.bot,
            partial(interaction.followup.send, wait=True, ephemeral=private),
            answer,
            facts,
            language,
            server=interaction.guild_id,
            channel=interaction.channel_id,
            dates=dates,
            follow_up=not private,
        )
        interaction.extras["followed_up"] = True

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or self.bot.user is None:
            return
        in_ask_channel = (
            self.bot.settings.ask_channel_id is not None
            and message.channel.id == self.bot.settings.ask_channel_id
        )
        if not (in_ask_channel or self._mentions_me(message)):
            return
        guild_locale = message.guild.preferred_locale if message.guild else None
        question = strip_mentions(message.content, self.bot.user)
        language = i18n.for_message(question, guild_locale)
        if not re.search(r"\w", question):
            try:
                await message.reply(t(language, "mention_help"), mention_author=False)
            except discord.HTTPException:
                log.warning("could not reply to an empty mention", exc_info=True)
            return
        # In a thread the bot started, a mention is a follow-up of the questions asked there.
        previous = await self.bot.conversations.history(message.channel.id)
        await reply_with_answer(self.bot, message, question, previous, language)

    def _mentions_me(self, message: discord.Message) -> bool:
        return mentions(message, self.bot.user)


async def setup(bot: CitebotBot) -> None:
    await bot.add_cog(AskCog(bot))
