"""Server admins keep the index: /reindex, /add, and /delete-library (after a confirmation).

Both are checked twice, as Discord's ``default_permissions`` only hides a command in
the UI (a server can override it, and raw interactions ignore it): the real check is
:func:`bot.checks.admin_only`, which refuses direct messages and members without Manage Server.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import i18n
from bot.checks import admin_only
from bot.errors import UserFacingError
from bot.i18n import t
from bot.replies import clip, neutralise
from retrieval.articles import ArticleFile, ArticleSkipped, read_article
from retrieval.ingest.fetch import (
    ALLOWED_SUFFIXES,
    FetchError,
    fetch_page,
    name_for_url,
    safe_filename,
    save_article,
)
from retrieval.models import IndexReport

if TYPE_CHECKING:
    from bot.app import CitebotBot

log = logging.getLogger(__name__)

#: How long /delete-library's question waits for an answer.
CONFIRM_SECONDS = 120


def report_text(report: IndexReport, language: str) -> str:
    text = t(
        language,
        "reindex_done",
        added=len(report.added),
        changed=len(report.changed),
        removed=len(report.removed),
        unchanged=len(report.unchanged),
        embedded=report.chunks_embedded,
        seconds=report.seconds,
    )
    names = [f"`{name}`" for name in report.added + report.changed]
    if names:
        text += "\n+ " + ", ".join(names)
    if report.removed:
        text += "\n− " + ", ".join(f"`{name}`" for name in report.removed)
    if report.skipped:
        text += "\n" + t(
            language, "skipped", items="; ".join(f"`{n}`: {why}" for n, why in report.skipped.items())
        )
    return clip(neutralise(text), 2000)


class AdminCog(commands.Cog):
    """Keeping a server's library (or, in the admin servers, the base one) up to date."""

    def __init__(self, bot: CitebotBot) -> None:
        self.bot = bot

    def _check_writer(self, language: str) -> None:
        if self.bot.service.read_only:
            raise UserFacingError(t(language, "read_only"))

    @app_commands.command(name="reindex", description="Index new, changed and removed articles now")
    @admin_only()
    async def reindex(self, interaction: discord.Interaction) -> None:
        language = i18n.for_interaction(interaction)
        self._check_writer(language)
        await interaction.response.defer(ephemeral=True, thinking=True)
        library = self.bot.service.library_for(interaction.guild_id)
        report = await self.bot.service.reindex(f"/reindex by {interaction.user.id}", library)
        await interaction.followup.send(report_text(report, language), ephemeral=True)

    @app_commands.command(
        name="add", description="Add an article: attach a .txt/.md/.html file or give a URL"
    )
    @app_commands.describe(file="A .txt, .md or .html file", url="The address of an article page")
    @admin_only()
    async def add(
        self,
        interaction: discord.Interaction,
        file: discord.Attachment | None = None,
        url: app_commands.Range[str, 1, 2000] | None = None,
    ) -> None:
        language = i18n.for_interaction(interaction)
        settings = self.bot.settings
        self._check_writer(language)
        if (file is None) == (url is None):
            raise UserFacingError(t(language, "add_needs_one"))
        if file is not None:
            # Refuse before downloading anything: wrong type or too large.
            if not file.filename.lower().endswith(ALLOWED_SUFFIXES):
                raise UserFacingError(t(language, "add_bad_type", name=clip(neutralise(file.filename), 100)))
            if file.size > settings.max_attachment_bytes:
                raise UserFacingError(
                    t(language, "add_too_large", size=file.size, limit=settings.max_attachment_bytes)
                )
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            if file is not None:
                data = await file.read()
                if len(data) > settings.max_attachment_bytes:
                    raise UserFacingError(
                        t(language, "add_too_large", size=len(data), limit=settings.max_attachment_bytes)
                    )
                name, meta = safe_filename(file.filename), None
            else:
                assert url is not None
                fetched = await fetch_page(
                    url.strip(),
                    max_bytes=settings.max_download_bytes,
                    timeout=settings.url_fetch_timeout,
                    allowlist=settings.url_allowlist,
                )
                data, name, meta = (
                    fetched.data,
                    name_for_url(fetched.url, fetched.suffix),
                    {"url": fetched.url},
                )
        except FetchError as error:
            raise UserFacingError(clip(neutralise(str(error)), 500)) from None
        problem = await asyncio.to_thread(unreadable, name, data, settings.max_article_bytes)
        if problem is not None:  # nothing is saved that the index would skip on every run
            raise UserFacingError(
                t(language, "add_unreadable", name=name, reason=clip(neutralise(problem), 300))
            )
        library = self.bot.service.library_for(interaction.guild_id)
        folder = self.bot.service.articles_folder(library)
        path = await asyncio.to_thread(save_article, folder, name, data, meta)
        log.info("/add by %s saved %s (%d bytes) in %s", interaction.user.id, path.name, len(data), folder)
        report = await self.bot.service.reindex(f"/add by {interaction.user.id}", library)
        if name in report.skipped:
            text = t(language, "add_skipped", name=name, reason=report.skipped[name])
        else:
            sources = await self.bot.service.sources(library)
            info = next(
                (s for s in sources if s.source_id == name and s.library == (library or "base")), None
            )
            text = t(
                language,
                "add_done",
                title=clip(neutralise(info.title if info else name), 200),
                name=name,
                chunks=info.chunks if info else 0,
            )
        await interaction.followup.send(clip(text, 2000), ephemeral=True)

    @app_commands.command(
        name="delete-library", description="Delete this server's own articles and feeds (the base stays)"
    )
    @admin_only()
    async def delete_library(self, interaction: discord.Interaction) -> None:
        language = i18n.for_interaction(interaction)
        self._check_writer(language)
        library = self.bot.service.library_for(interaction.guild_id)
        if library is None:  # an admin server writes the base library: the operator's
            raise UserFacingError(t(language, "delete_base"))
        articles = [s for s in await self.bot.service.sources(library) if s.library == library]
        feeds = await self.bot.service.list_feeds(library)
        if not articles and not feeds:
            raise UserFacingError(t(language, "delete_nothing"))
        question = t(language, "delete_confirm", articles=len(articles), feeds=len(feeds))
        view = DeleteLibraryView(self.bot, library, language, interaction.user.id)
        await interaction.response.send_message(question, view=view, ephemeral=True)
        view.asked = interaction


class DeleteLibraryView(discord.ui.View):
    """Delete / Cancel under /delete-library's question, for the member who asked only."""

    def __init__(self, bot: CitebotBot, library: str, language: str, member: int) -> None:
        super().__init__(timeout=CONFIRM_SECONDS)
        self.bot, self.library, self.language, self.member = bot, library, language, member
        self.delete.label = t(language, "delete_button")
        self.cancel.label = t(language, "cancel_button")
        #: the command the question answered: its message is edited when the question expires
        self.asked: discord.Interaction | None = None

    async def on_timeout(self) -> None:
        """Unanswered in time: the buttons go (a click would get no answer), nothing is deleted."""
        if self.asked is None:
            return
        try:
            await self.asked.edit_original_response(content=t(self.language, "delete_expired"), view=None)
        except discord.HTTPException:
            log.info("could not mark an expired /delete-library question", exc_info=True)

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return interaction.user.id == self.member

    @discord.ui.button(label="Delete", style=discord.ButtonStyle.danger)
    async def delete(
        self, interaction: discord.Interaction, button: discord.ui.Button[DeleteLibraryView]
    ) -> None:
        self.stop()
        await interaction.response.edit_message(content=t(self.language, "delete_running"), view=None)
        await self.bot.service.remove_library(self.library)
        log.info("/delete-library by %s removed %s", interaction.user.id, self.library)
        await interaction.edit_original_response(content=t(self.language, "delete_done"))

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary)
    async def cancel(
        self, interaction: discord.Interaction, button: discord.ui.Button[DeleteLibraryView]
    ) -> None:
        self.stop()
        await interaction.response.edit_message(content=t(self.language, "delete_cancelled"), view=None)

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item
    ) -> None:  # type: ignore[type-arg]
        await self.bot.report_error(interaction, error)


def unreadable(name: str, data: bytes, max_bytes: int) -> str | None:
    """Why an article file of these bytes would not be indexed, or None when it would."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        try:
            read_article(ArticleFile(path=path, source_id=name, sha256=""), max_bytes)
        except ArticleSkipped as skipped:
            return str(skipped)
    return None


async def setup(bot: CitebotBot) -> None:
    await bot.add_cog(AdminCog(bot))
