"""/feeds add, /feeds list, /feeds remove, /feeds announce: a server's news feeds, for its admins.

The group is hidden from members without Manage Server and unavailable in direct
messages, and each subcommand checks Manage Server again on every call (see
:mod:`bot.checks`). A server's feeds write its own library, like /add; the writer bot
polls them on a timer (:mod:`bot.feeds`) and posts their new articles in the channel
chosen with /feeds announce. A read-only bot lists them and refuses to change them.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import i18n
from bot.checks import admin_check
from bot.errors import UserFacingError
from bot.i18n import t
from bot.replies import CONTENT_LIMIT, clip, link_target, neutralise, safe
from retrieval.errors import FeedError
from retrieval.ingest.registry import Subscription

if TYPE_CHECKING:
    from bot.app import CitebotBot

log = logging.getLogger(__name__)


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class FeedsCog(
    commands.GroupCog, group_name="feeds", group_description="This server's news feeds (RSS or Atom)"
):
    """A server's subscriptions to news feeds."""

    def __init__(self, bot: CitebotBot) -> None:
        self.bot = bot
        super().__init__()

    def _check_writer(self, language: str) -> None:
        if self.bot.service.read_only:
            raise UserFacingError(t(language, "read_only"))

    @app_commands.command(
        name="add", description="Subscribe to a news feed: its new articles are indexed as they come"
    )
    @app_commands.describe(url="The feed's address (RSS or Atom)")
    @app_commands.check(admin_check)
    async def add(self, interaction: discord.Interaction, url: app_commands.Range[str, 1, 2000]) -> None:
        language = i18n.for_interaction(interaction)
        self._check_writer(language)
        await interaction.response.defer(ephemeral=True, thinking=True)
        library = self.bot.service.library_for(interaction.guild_id)
        try:
            added = await self.bot.service.add_feed(url, library)
        except FeedError as error:
            raise UserFacingError(clip(neutralise(str(error)), 500)) from None
        log.info("/feeds add by %s: %s (%s) into %s", interaction.user.id, added.url, added.title, library)
        if self.bot.feed_poller is not None:
            self.bot.feed_poller.wake()  # its first items now, not at the next round
        text = t(
            language,
            "feed_added",
            title=clip(safe(added.title), 200),
            url=link_target(added.url) or "",
            items=added.items,
            minutes=self.bot.settings.feed_poll_minutes,
        )
        await interaction.followup.send(clip(text, CONTENT_LIMIT), ephemeral=True)

    @app_commands.command(name="list", description="List this server's news feeds")
    @app_commands.check(admin_check)
    async def list(self, interaction: discord.Interaction) -> None:
        language = i18n.for_interaction(interaction)
        library = self.bot.service.library_for(interaction.guild_id)
        try:
            feeds = await self.bot.service.list_feeds(library)
        except FeedError as error:
            raise UserFacingError(clip(neutralise(str(error)), 500)) from None
        announced = await self.bot.service.announce_channel(library)
        await interaction.response.send_message(feeds_text(feeds, language, announced), ephemeral=True)

    @app_commands.command(
        name="announce", description="Post this server's new feed articles in a channel, or nowhere"
    )
    @app_commands.describe(channel="Where to post them; leave it out to stop posting them")
    @app_commands.check(admin_check)
    async def announce(
        self, interaction: discord.Interaction, channel: discord.TextChannel | None = None
    ) -> None:
        language = i18n.for_interaction(interaction)
        self._check_writer(language)
        await interaction.response.defer(ephemeral=True, thinking=True)
        library = self.bot.service.library_for(interaction.guild_id)
        previous = await self.bot.service.announce_channel(library)
        await self.bot.service.set_announce_channel(None if channel is None else channel.id, library)
        if channel is None:
            text = t(language, "announce_off")
        else:
            if channel.id != previous:  # the channel hears of it, and this proves the bot may post there
                public = i18n.language_of(interaction.guild.preferred_locale if interaction.guild else None)
                try:
                    await channel.send(
                        t(public, "announce_welcome"), allowed_mentions=discord.AllowedMentions.none()
                    )
                except discord.HTTPException:
                    await self.bot.service.set_announce_channel(previous, library)
                    raise UserFacingError(t(language, "announce_cannot_post", channel=channel.id)) from None
            text = t(language, "announce_set", channel=channel.id)
        log.info(
            "/feeds announce by %s: %s for %s", interaction.user.id, channel and channel.id, library or "base"
        )
        await interaction.followup.send(text, ephemeral=True)

    @app_commands.command(name="remove", description="Unsubscribe from a news feed (its articles stay)")
    @app_commands.describe(url="The feed's address, as listed by /feeds list")
    @app_commands.check(admin_check)
    async def remove(self, interaction: discord.Interaction, url: app_commands.Range[str, 1, 2000]) -> None:
        language = i18n.for_interaction(interaction)
        self._check_writer(language)
        library = self.bot.service.library_for(interaction.guild_id)
        try:
            removed = await self.bot.service.remove_feed(url, library)
        except FeedError as error:
            raise UserFacingError(clip(neutralise(str(error)), 500)) from None
        log.info("/feeds remove by %s: %s from %s", interaction.user.id, removed.url, library)
        text = t(
            language, "feed_removed", title=clip(safe(removed.title), 200), url=link_target(removed.url) or ""
        )
        await interaction.response.send_message(clip(text, CONTENT_LIMIT), ephemeral=True)


def feeds_text(feeds: list[Subscription], language: str, announced: int | None = None) -> str:
    """The server's feeds, one line each, within a message's 2000 characters, and the
    channel where their new articles are posted (``announced``)."""
    where = (
        t(language, "feeds_announced", channel=announced)
        if announced is not None
        else t(language, "feeds_not_announced")
    )
    if not feeds:
        return t(language, "feeds_empty") + ("" if announced is None else "\n" + where)
    lines = [t(language, "feeds_title", count=len(feeds)) + "\n" + where]
    for feed in feeds:
        polled = _relative(feed.last_polled) or t(language, "feed_never")
        state = (
            t(
                language,
                "feed_failing",
                errors=feed.errors,
                error=clip(neutralise(feed.last_error or "?"), 200),
            )
            if feed.errors
            else t(language, "feed_ok")
        )
        lines.append(
            "• "
            + t(
                language,
                "feed_line",
                title=clip(safe(feed.title), 150),
                url=link_target(feed.url) or "",
                polled=polled,
                state=state,
            )
        )
    text = lines[0]
    for n, line in enumerate(lines[1:], 1):
        rest = f"\n… +{len(lines) - n}"
        if len(text) + 1 + len(line) + len(rest) > CONTENT_LIMIT:
            return text + rest
        text += "\n" + line
    return text


def _relative(moment: str | None) -> str:
    """A Discord relative timestamp (``<t:UNIX:R>``, "5 minutes ago" in the reader's language)."""
    if not moment:
        return ""
    try:
        return f"<t:{int(datetime.fromisoformat(moment).timestamp())}:R>"
    except ValueError:
        return ""


async def setup(bot: CitebotBot) -> None:
    await bot.add_cog(FeedsCog(bot))
