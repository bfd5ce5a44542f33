"""The citebot Discord client: cogs loaded in ``setup_hook``, one central error handler.

Everything the bot needs (settings, the retrieval service) is passed to the
constructor, so tests build it directly against a fake Discord; ``bot.main`` owns
the real resources.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import ExitStack
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot import i18n
from bot.conversation import Conversations
from bot.errors import explain
from bot.feeds import FeedPoller
from bot.service import AnswerService
from bot.views import DYNAMIC_ITEMS
from bot.watcher import ArticlesWatcher
from config import Settings
from retrieval.errors import CitebotError, StoreUnavailableError
from retrieval.feedback import FeedbackStore
from retrieval.service import Retriever

log = logging.getLogger(__name__)

COGS = ("bot.cogs.ask", "bot.cogs.conversation", "bot.cogs.sources", "bot.cogs.admin", "bot.cogs.feeds")


class QuestionCooldown:
    """A per-user token bucket shared by /ask, mentions and the ask channel."""

    def __init__(self, rate: int, per: float) -> None:
        self.rate = rate
        self.per = per
        self._buckets: dict[int, app_commands.Cooldown] = {}

    def hit(self, user_id: int) -> tuple[app_commands.Cooldown, float] | None:
        """Count one question; the bucket and seconds to wait when the user must wait, else None."""
        if self.per <= 0:
            return None
        now = time.monotonic()
        if len(self._buckets) > 10_000:
            # Forget users whose window has long passed, so the map stays small.
            self._buckets = {k: b for k, b in self._buckets.items() if now - b._last < self.per}
        bucket = self._buckets.setdefault(user_id, app_commands.Cooldown(self.rate, self.per))
        retry_after = bucket.update_rate_limit(now)
        return (bucket, retry_after) if retry_after else None


class CitebotTree(app_commands.CommandTree["CitebotBot"]):
    """The command tree, whose ``on_error`` is the one place errors become replies."""

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        await self.client.report_error(interaction, error)


class CitebotBot(commands.Bot):
    """The bot: slash commands, mentions, a watcher that keeps the index fresh, and (in the
    writer) a poller that brings the news feeds' new articles in.

    Args:
        settings: the bot's and the retrieval service's settings.
        retriever: the retrieval service; built from ``settings`` when omitted.
        feed_poll_seconds: seconds between rounds of feed polls; ``CITEBOT_FEED_POLL_MINUTES``
            by default (tests shorten it).
        **options: passed to :class:`discord.Client` (tests shorten ``guild_ready_timeout``).
    """

    def __init__(
        self,
        settings: Settings,
        retriever: Retriever | None = None,
        *,
        feed_poll_seconds: float | None = None,
        **options: Any,
    ) -> None:
        # The bot has no voice: without this, every start warns that PyNaCl and davey are missing.
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False
        intents = discord.Intents.default()
        # Mentions carry their content without the privileged intent; a channel where
        # every message is a question, and plain messages in the bot's threads, do not.
        intents.message_content = settings.ask_channel_id is not None or settings.thread_replies
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            # Set once here: nothing the bot sends can ping anyone.
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=CitebotTree,
            help_command=None,
            **options,
        )
        self.settings = settings
        self.service = AnswerService(retriever or Retriever(settings))
        self.conversations = Conversations(FeedbackStore(self.service.retriever.folder.feedback))
        self.cooldown = QuestionCooldown(settings.cooldown_rate, settings.cooldown_seconds)
        self.watcher: ArticlesWatcher | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self.feed_poll_seconds = feed_poll_seconds or settings.feed_poll_minutes * 60
        #: The writer's feed poller; None in a read-only bot.
        self.feed_poller: FeedPoller | None = None
        self._poll_task: asyncio.Task[None] | None = None
        self._warm_task: asyncio.Task[None] | None = None
        self._catch_up_task: asyncio.Task[None] | None = None
        #: Set when the writer's start-up index run has ended (at once in a read-only bot).
        self.caught_up = asyncio.Event()
        #: What stopped the bot after it connected (``run_bot`` reports it in one line).
        self.fatal: CitebotError | None = None
        self._writing: ExitStack | None = None

    async def setup_hook(self) -> None:
        self.service.retriever.follow()
        if self.service.read_only:
            self.caught_up.set()
        else:
            await self._start_writing()
        await self.tree.set_translator(i18n.CommandTranslator())
        # The buttons under every answer ever posted, rebuilt from their custom ids.
        self.add_dynamic_items(*DYNAMIC_ITEMS)
        for name in COGS:
            await self.load_extension(name)
        if self.settings.sync_commands:
            await self.sync_commands()
        self._warm_task = asyncio.create_task(self._warm_up(), name="citebot-warm-up")

    async def _warm_up(self) -> None:
        """Load the model, the index and the store's vectors while the bot connects, so the
        first question does not wait for them (seconds at 100k passages)."""
        try:
            took = await asyncio.to_thread(self.service.retriever.warm)
        except CitebotError as error:
            log.info("not warmed up (%s); the first question loads what it needs", error)
        else:
            log.info("ready to answer: model and index loaded in %.1f s", took)

    async def _start_writing(self) -> None:
        """Claim the store's writer lease for as long as the bot runs, watch the articles
        folder and catch up with what changed while the bot was off."""
        retriever = self.service.retriever
        try:
            self._writing = await asyncio.to_thread(retriever.writing)
        except StoreUnavailableError as error:
            # A Chroma server that is down must not keep the bot offline: questions get a
            # clear "try again" until it is back; each write takes the lease then.
            log.warning("writer lease not taken yet: %s", error)
        # Watch first, so nothing dropped in during the catch-up below is missed.
        if self.settings.watch_articles:
            self.watcher = ArticlesWatcher(
                self.service, self.settings.articles_dir, self.settings.watch_debounce_seconds
            )
            self._watch_task = asyncio.create_task(self.watcher.run(), name="citebot-watcher")
        # The catch-up runs while the bot connects and answers: questions meanwhile see each
        # article's last finished version (the whole index when there are hours to embed).
        self._catch_up_task = asyncio.create_task(self._catch_up(), name="citebot-catch-up")

    async def _catch_up(self) -> None:
        """Index what changed while the bot was off, then start polling the feeds."""
        try:
            await self.service.reindex("start-up")
        except StoreUnavailableError as error:
            log.warning("start-up reindex skipped: %s", error)
        except CitebotError as error:
            # A missing or emptied folder (the run would remove most of the index): the bot
            # stops with the line that says what to do, as `citebot index` would.
            self.fatal = error
            self.caught_up.set()
            self._catch_up_task = None  # ending by itself: close() has nothing to cancel
            await self.close()
            return
        finally:
            self.caught_up.set()
        # Feeds after the catch-up: the first round finds the index current.
        self.feed_poller = FeedPoller(self, self.feed_poll_seconds)
        self._poll_task = asyncio.create_task(self.feed_poller.run(), name="citebot-feeds")

    async def sync_commands(self) -> list[app_commands.AppCommand]:
        """Register the slash commands with Discord: one guild (instant) or globally."""
        if self.settings.sync_guild_id:
            guild = discord.Object(id=self.settings.sync_guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
        else:
            synced = await self.tree.sync()
        log.info("synced %d slash commands", len(synced))
        return synced

    async def close(self) -> None:
        catching_up = self._catch_up_task
        if catching_up is not None and not catching_up.done() and catching_up is not asyncio.current_task():
            # The run goes on in its thread until it ends (a run cut short loses nothing: the
            # next start finishes it); the bot stops waiting for it.
            catching_up.cancel()
        if self.feed_poller is not None:
            self.feed_poller.stop()
        if self._poll_task is not None:
            try:
                await asyncio.wait_for(self._poll_task, timeout=5)
            except (TimeoutError, asyncio.CancelledError):
                self._poll_task.cancel()
            except Exception:  # noqa: BLE001, S110 - already logged by the poller
                pass
        if self.watcher is not None:
            self.watcher.stop()
        if self._watch_task is not None:
            try:
                await asyncio.wait_for(self._watch_task, timeout=5)
            except (TimeoutError, asyncio.CancelledError):
                self._watch_task.cancel()
            except Exception:  # noqa: BLE001, S110 - already logged by the watcher
                pass
        if self._warm_task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._warm_task), timeout=30)
            except Exception:  # noqa: BLE001, S110 - closing; the warm-up only loads
                pass
        if self._writing is not None:
            writing, self._writing = self._writing, None
            await asyncio.to_thread(writing.close)
        await asyncio.to_thread(self.service.retriever.stop_following)
        await super().close()

    async def on_message(self, message: discord.Message) -> None:
        # No prefix commands: mentions are questions (see cogs/ask.py), not command calls.
        return

    async def on_ready(self) -> None:
        log.info(
            "connected as %s (id %s) to %d servers", self.user, self.user and self.user.id, len(self.guilds)
        )

    def check_cooldown(self, user_id: int) -> None:
        """Raise CommandOnCooldown when ``user_id`` asked too often."""
        limited = self.cooldown.hit(user_id)
        if limited is not None:
            raise app_commands.CommandOnCooldown(*limited)

    async def report_error(self, interaction: discord.Interaction, error: BaseException) -> None:
        """Tell the user in one short ephemeral line; log unexpected errors with a traceback."""
        text = explain(error, i18n.for_interaction(interaction), _describe(interaction))
        try:
            if not interaction.response.is_done():
                await interaction.response.send_message(text, ephemeral=True)
                return
            if interaction.extras.get("public_defer") and not interaction.extras.get("followed_up"):
                # The "thinking…" message is public; replace it by a private note.
                try:
                    await interaction.delete_original_response()
                except discord.HTTPException:
                    pass
            await interaction.followup.send(text, ephemeral=True)
        except discord.HTTPException:
            log.warning("could not report an error to the user", exc_info=True)


def _describe(interaction: discord.Interaction) -> str:
    """What failed, for the log: ``/ask by …``, or a button's or a form's id (``citebot:more by …``)."""
    what = (
        f"/{interaction.command.qualified_name}"
        if interaction.command
        else str((interaction.data or {}).get("custom_id", "?"))
    )
    return f"{what} by {interaction.user} ({interaction.user.id})" if interaction.user else what
