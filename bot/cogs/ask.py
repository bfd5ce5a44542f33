"""Asking: /ask, a mention of the bot, or any message in the configured ask channel.

The cog only parses input, defers, calls the service off the event loop and formats
the reply with :mod:`bot.replies`; the buttons under an answer show more passages or
one passage in full, privately to whoever clicks.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import i18n
from bot.errors import explain
from bot.i18n import t
from bot.replies import answer_embed, full_passage_embed, message_text, neutralise, passages_embed
from config import MAX_TOP_K
from retrieval.models import Answer, Passage
from retrieval.service import clean_question

if TYPE_CHECKING:
    from bot.app import CitebotBot
    from bot.service import IndexFacts

log = logging.getLogger(__name__)

#: How many extra passages "More passages" shows each time.
MORE_STEP = 5
#: Discord's own limit on a string option; the service checks CITEBOT_MAX_QUESTION_CHARS.
QUESTION_OPTION_MAX = 6000
#: Buttons stay live this long; after that, asking again is cheap.
VIEW_TIMEOUT = 15 * 60


def _check_cooldown(interaction: discord.Interaction) -> bool:
    interaction.client.check_cooldown(interaction.user.id)  # type: ignore[attr-defined]
    return True


class AnswerView(discord.ui.View):
    """Buttons under an answer: each shown passage in full, and more passages."""

    def __init__(self, bot: CitebotBot, answer: Answer, shown: list[Passage], language: str) -> None:
        super().__init__(timeout=VIEW_TIMEOUT)
        self.bot = bot
        self.answer = answer
        self.language = language
        self.shown = len(shown)
        for index, passage in enumerate(shown[:20]):
            button: discord.ui.Button[AnswerView] = discord.ui.Button(
                label=t(language, "full_button", n=passage.rank),
                style=discord.ButtonStyle.secondary,
                row=index // 5,
            )
            button.callback = self._full_callback(passage)  # type: ignore[method-assign]
            self.add_item(button)
        more: discord.ui.Button[AnswerView] = discord.ui.Button(
            label=t(language, "more"),
            style=discord.ButtonStyle.primary,
            row=min(4, (len(shown[:20]) + 4) // 5),
        )
        more.callback = self._more  # type: ignore[method-assign]
        self.add_item(more)

    def _full_callback(self, passage: Passage):  # type: ignore[no-untyped-def]
        async def callback(interaction: discord.Interaction) -> None:
            language = i18n.for_interaction(interaction)
            await interaction.response.send_message(
                embed=full_passage_embed(passage, language), ephemeral=True
            )

        return callback

    async def _more(self, interaction: discord.Interaction) -> None:
        language = i18n.for_interaction(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        k = min(MAX_TOP_K, self.shown + MORE_STEP)
        library = self.bot.service.library_for(interaction.guild_id)
        answer, _ = await self.bot.service.ask(self.answer.question, k, library)
        extra = answer.passages[self.shown : k]
        if not extra:
            await interaction.followup.send(t(language, "no_more"), ephemeral=True)
            return
        embed = passages_embed(
            neutralise(t(language, "more_title", question=self.answer.question)),
            "",
            extra,
            "",
        )
        await interaction.followup.send(embed=embed, ephemeral=True)

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item
    ) -> None:  # type: ignore[type-arg]
        await self.bot.report_error(interaction, error)


def build_reply(
    bot: CitebotBot, answer: Answer, facts: IndexFacts, language: str
) -> tuple[discord.Embed, AnswerView]:
    """The embed and buttons for an answer (shared by /ask and mentions)."""
    embed = answer_embed(answer, facts, language)
    shown = answer.passages[: len(embed.fields)]
    return embed, AnswerView(bot, answer, shown, language)


class AskCog(commands.Cog):
    """Questions, however they are asked."""

    def __init__(self, bot: CitebotBot) -> None:
        self.bot = bot

    @app_commands.command(name="ask", description="Answer a question with cited passages from the articles")
    @app_commands.describe(question="Your question, in English or French", k="How many passages (default 5)")
    @app_commands.check(_check_cooldown)
    async def ask(
        self,
        interaction: discord.Interaction,
        question: app_commands.Range[str, 1, QUESTION_OPTION_MAX],
        k: app_commands.Range[int, 1, MAX_TOP_K] | None = None,
    ) -> None:
        language = i18n.for_interaction(interaction)
        # An unusable question is refused privately, before anything public appears.
        clean_question(question, self.bot.settings.max_question_chars)
        await interaction.response.defer(thinking=True)
        interaction.extras["public_defer"] = True
        library = self.bot.service.library_for(interaction.guild_id)
        answer, facts = await self.bot.service.ask(question, k, library)
        embed, view = build_reply(self.bot, answer, facts, language)
        await interaction.followup.send(embed=embed, view=view, wait=True)
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
        language = i18n.language_of(guild_locale)
        question = self._strip_mentions(message.content)
        try:
            if not re.search(r"\w", question):
                await message.reply(t(language, "mention_help"), mention_author=False)
                return
            self.bot.check_cooldown(message.author.id)
            clean_question(question, self.bot.settings.max_question_chars)
            async with message.channel.typing():
                library = self.bot.service.library_for(message.guild.id if message.guild else None)
                answer, facts = await self.bot.service.ask(question, None, library)
            embed, view = build_reply(self.bot, answer, facts, language)
            await message.reply(embed=embed, view=view, mention_author=False)
        except Exception as error:  # noqa: BLE001 - every failure gets a short reply and a log line
            text = explain(error, language, f"a question from {message.author.id}")
            try:
                await message.reply(message_text(text), mention_author=False)
            except discord.HTTPException:
                log.warning("could not reply with the error", exc_info=True)

    def _mentions_me(self, message: discord.Message) -> bool:
        me = self.bot.user
        if me is None:
            return False
        if any(user.id == me.id for user in message.mentions):
            # A reply to the bot pings it too; only an explicit @citebot is a question.
            return f"<@{me.id}>" in message.content or f"<@!{me.id}>" in message.content
        role = message.guild.self_role if message.guild else None
        return role is not None and role in message.role_mentions

    def _strip_mentions(self, content: str) -> str:
        me = self.bot.user
        if me is not None:
            content = re.sub(rf"<@!?{me.id}>", " ", content)
        return re.sub(r"<@[!&]?\d+>", " ", content).strip()


async def setup(bot: CitebotBot) -> None:
    await bot.add_cog(AskCog(bot))
