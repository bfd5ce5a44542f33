"""Browsing what is indexed: /sources (paginated), /source (one article, autocompleted), and
/help (how to use the bot, and what it can quote from)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import i18n
from bot.errors import UserFacingError
from bot.i18n import t
from bot.replies import clip, help_embed, neutralise, page_count, source_embed, sources_embed
from retrieval.models import SourceInfo

if TYPE_CHECKING:
    from bot.app import CitebotBot

VIEW_TIMEOUT = 15 * 60
AUTOCOMPLETE_CHOICES = 25  # Discord's maximum


class SourcesView(discord.ui.View):
    """Previous / Next under the list of sources."""

    def __init__(self, bot: CitebotBot, sources: list[SourceInfo], language: str) -> None:
        super().__init__(timeout=VIEW_TIMEOUT)
        self.bot = bot
        self.sources = sources
        self.language = language
        self.page = 0
        self.pages = page_count(len(sources))
        self.previous.label = t(language, "previous")
        self.next.label = t(language, "next")
        self._update_buttons()

    def _update_buttons(self) -> None:
        self.previous.disabled = self.page <= 0
        self.next.disabled = self.page >= self.pages - 1

    async def _show(self, interaction: discord.Interaction) -> None:
        self._update_buttons()
        await interaction.response.edit_message(
            embed=sources_embed(self.sources, self.page, self.language), view=self
        )

    @discord.ui.button(label="Previous", style=discord.ButtonStyle.secondary)
    async def previous(
        self, interaction: discord.Interaction, button: discord.ui.Button[SourcesView]
    ) -> None:
        self.page = max(0, self.page - 1)
        await self._show(interaction)

    @discord.ui.button(label="Next", style=discord.ButtonStyle.secondary)
    async def next(self, interaction: discord.Interaction, button: discord.ui.Button[SourcesView]) -> None:
        self.page = min(self.pages - 1, self.page + 1)
        await self._show(interaction)

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item
    ) -> None:  # type: ignore[type-arg]
        await self.bot.report_error(interaction, error)


class SourcesCog(commands.Cog):
    """What the bot can quote from."""

    def __init__(self, bot: CitebotBot) -> None:
        self.bot = bot

    @app_commands.command(name="sources", description="List the indexed articles")
    async def sources(self, interaction: discord.Interaction) -> None:
        language = i18n.for_interaction(interaction)
        sources = await self.bot.service.sources(self.bot.service.library_for(interaction.guild_id))
        view = SourcesView(self.bot, sources, language)
        await interaction.response.send_message(embed=sources_embed(sources, 0, language), view=view)

    @app_commands.command(name="source", description="Show one indexed article")
    @app_commands.describe(name="The article (start typing its title or file name)")
    async def source(self, interaction: discord.Interaction, name: str) -> None:
        language = i18n.for_interaction(interaction)
        sources = await self.bot.service.sources(self.bot.service.library_for(interaction.guild_id))
        match = next((s for s in sources if s.source_id == name), None)
        if match is None:
            lowered = name.lower()
            match = next(
                (s for s in sources if lowered in s.title.lower() or lowered in s.source_id.lower()), None
            )
        if match is None:
            # Quoted in a code span: a backtick would end it, and mentions stay inert.
            quoted = clip(neutralise(" ".join(name.replace("`", "'").split())), 100)
            raise UserFacingError(t(language, "source_unknown", name=quoted))
        await interaction.response.send_message(embed=source_embed(match, language))

    @app_commands.command(name="help", description="How to use citebot, and what it can quote from")
    async def help(self, interaction: discord.Interaction) -> None:
        language = i18n.for_interaction(interaction)
        service = self.bot.service
        own = service.library_for(interaction.guild_id)
        sources = await service.sources(own)
        embed = help_embed(
            sources,
            language,
            own=own,
            in_server=interaction.guild_id is not None,
            read_only=service.read_only,
        )
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @source.autocomplete("name")
    async def source_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        lowered = current.lower()
        sources = await self.bot.service.sources(self.bot.service.library_for(interaction.guild_id))
        hits = [s for s in sources if lowered in s.title.lower() or lowered in s.source_id.lower()]
        # Choice names and values are limited to 100 characters; source ids are file names.
        return [
            app_commands.Choice(name=clip(f"{s.title} ({s.language})", 100), value=s.source_id[:100])
            for s in hits[:AUTOCOMPLETE_CHOICES]
        ]


async def setup(bot: CitebotBot) -> None:
    await bot.add_cog(SourcesCog(bot))
