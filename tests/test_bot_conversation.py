"""End to end: votes, and buttons that outlive a restart.

The real discord.py client against the local fake Discord, real retrieval, one bot for
the module (restarted once, against the same data folder, by the restart test). Each
scenario asks its own questions, so the order of the tests does not matter.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import citebot
from bot.app import CitebotBot
from config import load_settings
from retrieval.feedback import DOWN, UP, FeedbackStore
from retrieval.service import Retriever

from data_paths import SEEDS
from fake_discord import BotHarness, FakeDiscord, FakeUser, Message

EPHEMERAL = 64


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory, embedder: Any):
    root = tmp_path_factory.mktemp("conversation")
    articles = root / "articles"
    shutil.copytree(SEEDS, articles)
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("CITEBOT_")]:
            mp.delenv(name)
        mp.chdir(root)
        settings = load_settings(
            articles_dir=articles, data_dir=root / "data", cooldown_seconds=0, watch_articles=False
        )

    def make_bot() -> CitebotBot:
        configured = settings.model_copy(update={"sync_guild_id": int(harness.fake.guild_id)})
        return CitebotBot(configured, Retriever(configured, embedder=embedder), guild_ready_timeout=0.1)

    harness = BotHarness(make_bot)
    harness.start()
    yield harness
    harness.stop()


def store_of(bot: CitebotBot) -> FeedbackStore:
    return bot.conversations.store


async def ask(fake: FakeDiscord, question: str, user: FakeUser, **kw: Any) -> Message:
    interaction = await fake.slash("ask", user=user, question=question, **kw)
    return await fake.followup(interaction)


def first_field(message: Message) -> dict[str, Any]:
    return message.json["embeds"][0]["fields"][0]


def test_votes_are_one_per_member_changeable_and_exported(
    harness: BotHarness, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    async def scenario(fake: FakeDiscord, bot: CitebotBot) -> dict[str, Any]:
        alice, bob = fake.member("alice"), fake.member("bob")
        reply = await ask(fake, "What are the four demands of the No Music for ICE letter?", alice)
        up = await fake.callback(await fake.click(reply, emoji="👍", user=alice))
        down = await fake.callback(await fake.click(reply, emoji="👎", user=alice))
        picker = fake.message_of(down)
        picked = await fake.callback(await fake.select(picker, ["2"], user=alice))
        await fake.callback(await fake.click(reply, emoji="👍", user=bob))
        return {
            "reply": reply,
            "up": up.json,
            "down": down.json,
            "picked": picked.json,
            "ids": (alice.id, bob.id),
        }

    out = harness.run(scenario)
    assert out["up"]["type"] == 4 and out["up"]["data"]["flags"] == EPHEMERAL
    assert out["up"]["data"]["content"].startswith("Thanks, your 👍 is recorded.")
    down = out["down"]["data"]
    assert down["content"].endswith("Was the answer in another passage?") and down["flags"] == EPHEMERAL
    [menu] = [c for row in down["components"] for c in row["components"]]
    assert menu["type"] == 3 and [o["value"] for o in menu["options"]] == ["1", "2", "3", "4", "5", "0"]
    assert out["picked"]["type"] == 7  # the question is replaced by the answer, in place
    assert out["picked"]["data"]["content"] == "Recorded: passage [2] answers it. Thank you!"

    monkeypatch.setenv("CITEBOT_DATA_DIR", str(harness.bot.settings.data_dir))
    assert citebot.main(["feedback", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    mine = [r for r in rows if r["answer"] == out["reply"].id]
    assert [r["vote"] for r in mine] == ["down", "up"]  # alice changed hers; bob voted once
    assert mine[0]["gold"]["rank"] == 2 and mine[1]["gold"] is None
    assert mine[0]["question"] == "What are the four demands of the No Music for ICE letter?"
    assert mine[0]["server"] == harness.fake.guild_id and len(mine[0]["passages"]) == 5
    text = json.dumps(rows)
    assert not any(user_id in text for user_id in out["ids"])  # hashed, never the raw ids
    regression = tmp_path / "feedback.jsonl"
    assert citebot.main(["feedback", "--as-eval", str(regression)]) == 0
    lines = [json.loads(line) for line in regression.read_text(encoding="utf-8").splitlines()]
    [line] = [x for x in lines if x["q"] == "What are the four demands of the No Music for ICE letter?"]
    assert len(line["answer"]) == 2  # bob's 👍 confirms [1], alice's pick [2]


def test_a_removed_passage_answers_with_a_clear_line(harness: BotHarness) -> None:
    article = (
        "Salt harvesters of Guérande fear a wet summer\n\n"
        "The paludiers of Guérande said that three weeks of rain in June had cut the fleur de sel "
        "harvest by half, and asked the region for help."
    )

    async def scenario(fake: FakeDiscord, bot: CitebotBot) -> Any:
        admin = fake.member("admin", manage_guild=True)
        path = Path(bot.settings.articles_dir) / "guerande-salt.txt"
        path.write_text(article, encoding="utf-8")
        await fake.followup(await fake.slash("reindex", user=admin))
        reply = await ask(fake, "How much of the Guérande fleur de sel harvest did the rain cost?", admin)
        assert "guerande-salt.txt" in first_field(reply)["name"]
        path.unlink()
        await fake.followup(await fake.slash("reindex", user=admin))
        return await fake.callback(await fake.click(reply, label="[1] in full", user=admin))

    gone = harness.run(scenario)
    assert gone.json["data"]["flags"] == EPHEMERAL
    assert gone.json["data"]["content"] == (
        "That passage has since been removed from the articles; ask again for new ones."
    )


def test_an_unknown_answer_s_buttons_say_so(harness: BotHarness) -> None:
    async def scenario(fake: FakeDiscord, bot: CitebotBot) -> Any:
        user = fake.member("archaeologist")
        reply = await ask(fake, "Who is Andy Jassy?", user)
        await bot.conversations.answer(int(reply.id))  # remembered...
        with sqlite3.connect(store_of(bot).path) as db:  # ...then lost (a database restored from a backup)
            db.execute("DELETE FROM answers WHERE key = ?", (reply.id,))
        return await fake.callback(await fake.click(reply, emoji="👍", user=user))

    unknown = harness.run(scenario)
    assert unknown.json["data"]["content"] == "I no longer have this answer’s details; ask again with /ask."


def test_every_button_outlives_a_restart(harness: BotHarness) -> None:
    async def before(fake: FakeDiscord, bot: CitebotBot) -> tuple[Message, FakeUser, Any]:
        user = fake.member("patient")
        reply = await ask(fake, "What did No Music for ICE demand?", user)
        return reply, user, bot

    reply, user, old_bot = harness.run(before)
    harness.restart()
    assert harness.bot is not old_bot

    async def after(fake: FakeDiscord, bot: CitebotBot) -> dict[str, Any]:
        full = await fake.callback(await fake.click(reply, label="[1] in full", user=user))
        more_click = await fake.click(reply, label="More passages", user=user)
        more = await fake.followup(more_click)
        up = await fake.callback(await fake.click(reply, emoji="👍", user=user))
        return {"full": full.json, "more": more.json, "up": up.json, "bot": bot}

    out = harness.run(after)
    embed = out["full"]["data"]["embeds"][0]
    assert out["full"]["data"]["flags"] == EPHEMERAL
    assert embed["title"] == reply.json["embeds"][0]["fields"][0]["name"].split(" — ")[0]
    assert "**" in embed["description"]
    ranks = [int(re.match(r"\[(\d+)\]", f["name"]).group(1)) for f in out["more"]["embeds"][0]["fields"]]
    assert ranks and ranks[0] == 6
    assert out["up"]["data"]["content"].startswith("Thanks, your 👍 is recorded.")
    [vote] = [v for v in store_of(out["bot"]).votes() if v.answer.key == reply.id]
    assert vote.vote == UP and vote.vote != DOWN


def test_no_request_went_unanswered(harness: BotHarness) -> None:
    assert harness.fake.unhandled == []
