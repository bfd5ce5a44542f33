"""News that arrives by itself: the writer bot polls every library's feeds on a timer.

Each round polls the feeds that are due, in every library that has some, indexes what
they brought (through the service, whose lock serialises it with the other reindexes)
and posts one short line per new article in the channel a server chose for its feeds
(``/feeds announce``) and in ``CITEBOT_ANNOUNCE_CHANNEL_ID`` when it is set. A round runs
every ``CITEBOT_FEED_POLL_MINUTES``, sooner when a feed falls due before that (a feed is
due one interval after its last poll, which ends after the round began) or when ``/feeds
add`` wakes the poller for a new feed's first poll.

An announcement never crosses libraries the way a question would not: the operator's
channel's server sees the base library's articles and its own library's, never another
server's, and a server's chosen channel hears of its own feeds' articles only.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import discord

from bot import i18n
from bot.replies import announcement
from retrieval.layout import BASE_LIBRARY
from retrieval.models import SourceInfo

if TYPE_CHECKING:
    from bot.app import CitebotBot

log = logging.getLogger(__name__)

#: The shortest wait between two rounds, whatever falls due (a clock that jumps, a feed
#: whose next poll is in the past), unless the interval itself is shorter (tests).
MIN_WAIT_SECONDS = 5.0


class FeedPoller:
    """Polls the feeds of every library every ``interval`` seconds, in the writer bot.

    Args:
        bot: the bot (its service, settings and channels).
        interval: seconds between rounds (``CITEBOT_FEED_POLL_MINUTES`` × 60; tests
            pass a fraction of a second).
    """

    def __init__(self, bot: CitebotBot, interval: float) -> None:
        self.bot = bot
        self.interval = interval
        self.rounds = 0
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    def wake(self) -> None:
        """Poll now (a feed was just added: its first items should not wait for the timer)."""
        self._wake.set()

    async def run(self) -> None:
        """Poll in rounds until :meth:`stop`; a failed round is logged and the next one comes."""
        log.info("polling news feeds every %.0f s", self.interval)
        while not self._stop.is_set():
            self._wake.clear()
            try:
                await self.poll_once()
            except Exception:
                log.exception("a round of feed polls failed")
            self.rounds += 1
            await self._pause()

    async def poll_once(self) -> list[SourceInfo]:
        """One round: every library's due feeds polled, indexed and announced; the new articles."""
        service = self.bot.service
        brought: list[SourceInfo] = []
        for library in await asyncio.to_thread(service.feeds.libraries):
            if self._stop.is_set():
                break
            try:
                report, indexed = await service.poll_feeds(library)
            except Exception:
                log.exception("polling the feeds of %s failed", library)
                continue
            for problem in report.errors:
                log.warning("feeds of %s: %s", library, problem)
            if report.feeds:
                log.info(
                    "feeds of %s: %d polled, %d new articles indexed",
                    library,
                    len(report.feeds),
                    len(indexed),
                )
            await self.announce(library, indexed)
            brought.extend(indexed)
        return brought

    async def announce(self, library: str, articles: list[SourceInfo]) -> None:
        """Post one line per article in the channels that announce the library's feeds: the
        one a server chose with ``/feeds announce`` for its own feeds, and the operator's
        ``CITEBOT_ANNOUNCE_CHANNEL_ID`` when its server may see the library."""
        if not articles:
            return
        channels: list[int] = []
        operator = self.bot.settings.announce_channel_id
        if operator is not None:
            guild = self._guild_of(operator)
            readers = {BASE_LIBRARY, *([] if guild is None else [self.bot.service.library_for(guild.id)])}
            if library in readers:
                channels.append(operator)
            else:
                log.info(
                    "not announcing %d articles of %s in another server's channel", len(articles), library
                )
        try:
            chosen = await self.bot.service.announce_channel(library)
        except Exception:  # the store may be down: the operator's channel still hears of them
            log.warning("could not read where %s announces its articles", library, exc_info=True)
            chosen = None
        if chosen is not None and chosen not in channels:
            channels.append(chosen)
        for channel_id in channels:
            await self._post(channel_id, articles)

    async def _post(self, channel_id: int, articles: list[SourceInfo]) -> None:
        guild = self._guild_of(channel_id)
        language = i18n.language_of(guild.preferred_locale if guild is not None else None)
        channel = self.bot.get_partial_messageable(channel_id)
        for info in articles:
            try:
                await channel.send(
                    announcement(info, language), allowed_mentions=discord.AllowedMentions.none()
                )
            except discord.HTTPException:
                log.warning("could not announce %s in channel %s", info.source_id, channel_id, exc_info=True)
                return

    def _guild_of(self, channel_id: int) -> discord.Guild | None:
        channel = self.bot.get_channel(channel_id)
        return getattr(channel, "guild", None)

    async def _pause(self) -> None:
        """Wait for the next round: the interval, or less when a feed falls due sooner."""
        delay = self.interval
        try:
            due = await asyncio.to_thread(self.bot.service.feeds.next_poll_at)
        except Exception:  # the store may be down: wait the interval and retry
            log.warning("could not read when the next feed is due", exc_info=True)
            due = None
        if due is not None:
            until = (due - datetime.now(UTC)).total_seconds() + 1.0
            delay = min(self.interval, max(until, min(MIN_WAIT_SECONDS, self.interval)))
        waits = [asyncio.create_task(self._stop.wait()), asyncio.create_task(self._wake.wait())]
        try:
            await asyncio.wait(waits, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
