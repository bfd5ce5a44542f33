"""Telling a message that asks the bot from one that only mentions it, and the question in it.

Shared by the ask cog (mentions anywhere) and the conversation cog (every message in the
bot's threads, when CITEBOT_THREAD_REPLIES is on).
"""

from __future__ import annotations

import re

import discord


def mentions(message: discord.Message, me: discord.abc.User | None) -> bool:
    """Whether ``message`` asks the bot (``me``) explicitly: @citebot or its role."""
    if me is None:
        return False
    if any(user.id == me.id for user in message.mentions):
        # A reply to the bot pings it too; only an explicit @citebot is a question.
        return f"<@{me.id}>" in message.content or f"<@!{me.id}>" in message.content
    role = message.guild.self_role if message.guild else None
    return role is not None and role in message.role_mentions


def strip_mentions(content: str, me: discord.abc.User | None) -> str:
    """The question in a message: every user and role mention removed."""
    if me is not None:
        content = re.sub(rf"<@!?{me.id}>", " ", content)
    return re.sub(r"<@[!&]?\d+>", " ", content).strip()
