"""Conversations in threads: every message in a thread the bot started is a follow-up.

Only with ``CITEBOT_THREAD_REPLIES`` (the bot then asks for the privileged Message
Content intent): without it, a thread's follow-ups come through the "Follow up" button,
a mention of the bot or /ask, which need no privileged intent (see :mod:`bot.cogs.ask`).
The buttons under answers are dynamic items registered in ``CitebotBot.setup_hook``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from bot import i18n
from bot.mentions import mentions
from bot.views import reply_with_answer

if TYPE_CHECKING:
    from bot.app import CitebotBot


class ConversationCog(commands.Cog):
    """Follow-ups typed straight into the bot's threads."""

    def __init__(self, bot: CitebotBot) -> None:
        self.bot = bot

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if not self.bot.settings.thread_replies or message.author.bot or self.bot.user is None:
            return
        if not isinstance(message.channel, discord.Thread | discord.PartialMessageable):
            return
        if mentions(message, self.bot.user) or not re.search(r"\w", message.content):
            return  # a mention is the ask cog's; an empty message (an image, a sticker) is no question
        previous = await self.bot.conversations.history(message.channel.id)
        if previous is None:
            return  # a thread someone else started
        question = message.content.strip()
        language = i18n.for_message(question, message.guild.preferred_locale if message.guild else None)
        await reply_with_answer(self.bot, message, question, previous, language)


async def setup(bot: CitebotBot) -> None:
    await bot.add_cog(ConversationCog(bot))
