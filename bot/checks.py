"""Checks shared by the admin cogs (/reindex, /add, /feeds).

Discord's ``default_permissions`` only hides a command in the UI (a server can override
it, and raw interactions ignore it): :func:`admin_only` adds the real check, run on every
call, which refuses direct messages and members without Manage Server.
"""

from __future__ import annotations

import discord
from discord import app_commands


def admin_check(interaction: discord.Interaction) -> bool:
    """In a server, by a member with Manage Server; raises the error that says which is missing."""
    if interaction.guild_id is None:
        raise app_commands.NoPrivateMessage()
    if not interaction.permissions.manage_guild:
        raise app_commands.MissingPermissions(["manage_guild"])
    return True


def admin_only():  # type: ignore[no-untyped-def]
    """Manage Server, in a server: shown only to admins, and enforced on every call."""

    def decorate(func):  # type: ignore[no-untyped-def]
        func = app_commands.check(admin_check)(func)
        func = app_commands.default_permissions(manage_guild=True)(func)
        return app_commands.guild_only()(func)

    return decorate
