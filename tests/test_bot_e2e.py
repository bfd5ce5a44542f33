"""End to end: the real discord.py client against the local fake Discord, real retrieval.

One bot (and one index build) serves the whole module; scenarios that add articles
use names of their own, so the order of the tests does not matter.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from config import load_settings
from retrieval.service import Retriever

from conftest import SEEDS
from fake_discord import BotHarness, FakeDiscord

DEMANDS = "001_4b0b25bb2bafa5d9.txt"
SXSW_FR = "000_44bf25875507660d.txt"


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory, embedder: Any):
    import os

    from bot.app import CitebotBot

    root = tmp_path_factory.mktemp("bot")
    articles = root / "articles"
    shutil.copytree(SEEDS, articles)
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("CITEBOT_")]:
            mp.delenv(name)
        mp.chdir(root)
        settings = load_settings(
            articles_dir=articles, data_dir=root / "data", url_allowlist=["127.0.0.1"],
            watch_debounce_seconds=0.3, cooldown_rate=100, cooldown_seconds=1,
        )

    def make_bot() -> CitebotBot:
        fake = harness.fake
        configured = settings.model_copy(update={"sync_guild_id": int(fake.guild_id)})
        return CitebotBot(configured, Retriever(configured, embedder=embedder), guild_ready_timeout=0.1)

    harness = BotHarness(make_bot)
    harness.start()
    yield harness
    harness.stop()


def test_ask_in_english_cites_the_demands_list(harness: BotHarness) -> None:
    async def scenario(fake: FakeDiscord, bot: Any) -> Any:
        member = fake.member("mia")
        ask = await fake.slash("ask", user=member, question="What are the four demands of the No Music for ICE letter?")
        deferred = await fake.callback(ask)
        reply = await fake.followup(ask)
        return deferred, reply

    deferred, reply = harness.run(scenario)
    assert deferred.json["type"] == 5
    print(json.dumps(reply.json, indent=1, ensure_ascii=False))
    embed = reply.json["embeds"][0]
    assert DEMANDS in embed["fields"][0]["name"]
