"""Browsing what is indexed: /sources (paginated), /source (one article, autocompleted), and
/help (how to use the bot, and what it can quote from)."""

from __future__ import annotations

import re
import unicodedata
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


AUTOCOMPLETE_CHOICES = 25  # Discord's maximum


def _folded(text: str) -> str:
    """``text`` as it is searched: lower case, no accents, ``œ`` as ``oe``, ``’`` as ``'``
    (what a phone or a keyboard without them types)."""
    text = text.casefold().replace("’", "'").replace("œ", "oe").replace("æ", "ae")
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def names_it(typed: str, info: SourceInfo) -> bool:
    """Whether ``typed`` is part of the article's title or file name, accents and case aside."""
    wanted = _folded(typed)
    return wanted in _folded(info.title) or wanted in _folded(info.source_id)


class SourcesPageButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"citebot:sources:(?P<language>[a-z]{2}):(?P<page>[0-9]{1,6}):(?P<way>previous|next)",
):
    """Previous / Next under the list of sources: the page it leads to is in its id, so it
    works for anyone, after a restart too, on the list as it is when clicked."""

    def __init__(self, language: str, page: int, way: str, disabled: bool = False) -> None:
        super().__init__(
            discord.ui.Button(
                label=t(language, way),
                style=discord.ButtonStyle.secondary,
                custom_id=f"citebot:sources:{language}:{max(0, page)}:{way}",
                disabled=disabled,
            )
        )
        self.language, self.page = language, max(0, page)

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> SourcesPageButton:
        language = match["language"] if match["language"] in i18n.STRINGS else "en"
        return cls(language, int(match["page"]), match["way"])

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: CitebotBot = interaction.client  # type: ignore[assignment]
        try:
            sources = await bot.service.sources(bot.service.library_for(interaction.guild_id))
            page = min(self.page, page_count(len(sources)) - 1)
            await interaction.response.edit_message(
                embed=sources_embed(sources, page, self.language),
                view=sources_view(sources, page, self.language),
            )
        except Exception as error:  # noqa: BLE001 - every failure gets a short reply and a log line
            await bot.report_error(interaction, error)


def sources_view(sources: list[SourceInfo], page: int, language: str) -> discord.ui.View:
    """Previous / Next for page ``page`` (from 0) of ``sources``."""
    view = discord.ui.View(timeout=None)
    view.add_item(SourcesPageButton(language, page - 1, "previous", disabled=page <= 0))
    view.add_item(
        SourcesPageButton(language, page + 1, "next", disabled=page >= page_count(len(sources)) - 1)
    )
    return view


class SourcesCog(commands.Cog):
    """What the bot can quote from."""

    def __init__(self, bot: CitebotBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(SourcesPageButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(SourcesPageButton)

    @app_commands.command(name="sources", description="List the indexed articles")
    async def sources(self, interaction: discord.Interaction) -> None:
        language = i18n.for_interaction(interaction)
        sources = await self.bot.service.sources(self.bot.service.library_for(interaction.guild_id))
        view = sources_view(sources, 0, language)
        await interaction.response.send_message(embed=sources_embed(sources, 0, language), view=view)

    @app_commands.command(name="source", description="Show one indexed article")
    @app_commands.describe(name="The article (start typing its title or file name)")
    async def source(self, interaction: discord.Interaction, name: str) -> None:
        language = i18n.for_interaction(interaction)
        sources = await self.bot.service.sources(self.bot.service.library_for(interaction.guild_id))
        match = next((s for s in sources if s.source_id == name), None)
        if match is None:
            match = next((s for s in sources if names_it(name, s)), None)
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
        sources = await self.bot.service.sources(self.bot.service.library_for(interaction.guild_id))
        hits = [s for s in sources if names_it(current, s)]
        # Choice names and values are limited to 100 characters; source ids are file names.
        return [
            app_commands.Choice(name=clip(f"{s.title} ({s.language})", 100), value=s.source_id[:100])
            for s in hits[:AUTOCOMPLETE_CHOICES]
        ]


async def setup(bot: CitebotBot) -> None:
    await bot.add_cog(SourcesCog(bot))
