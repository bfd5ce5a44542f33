"""End to end: follow-ups in threads, votes, and buttons that outlive a restart.

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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import citebot
from bot.app import CitebotBot
from config import load_settings
from retrieval.feedback import DOWN, UP, FeedbackStore
from retrieval.service import Retriever

from data_paths import SEEDS
from fake_discord import SEND_IN_THREADS, THREAD_PERMISSIONS, BotHarness, FakeDiscord, FakeUser, Message

EPHEMERAL = 64
IBM = "Which company did the Amazon employees compare to IBM in the 1940s?"
THEN = "what did it do then?"


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


def test_follow_up_opens_a_thread_answered_with_the_history(harness: BotHarness) -> None:
    async def scenario(fake: FakeDiscord, bot: CitebotBot) -> dict[str, Any]:
        user = fake.member("curious")
        reply = await ask(fake, IBM, user)
        click = await fake.click(reply, label="Follow up", user=user)
        modal = await fake.callback(click)
        start = len(fake.requests)
        submitted = await fake.submit(click, [THEN], user=user)
        thread = await fake.thread_of(reply)
        answer = await fake.message_in(thread, start=start)
        posted = await fake.followup(submitted)
        # A mention in that thread carries the thread's history too.
        said = await fake.say(f"{fake.bot_mention} and who did it help?", user=user, channel=thread)
        mentioned = await fake.reply_to(said)
        # So does /ask there; and a second follow-up from the first answer lands in the same thread.
        asked = await ask(fake, "Why?", user, channel=thread)
        again = await fake.submit(
            await fake.click(reply, label="Follow up", user=user), ["And then?"], user=user
        )
        await fake.followup(again)
        return {
            "modal": modal.json,
            "thread": thread,
            "answer": answer,
            "posted": posted,
            "mentioned": mentioned,
            "asked": asked,
            "reply": reply,
            "threads": [r for r in fake.requests if r.path.endswith("/threads")],
            "store": store_of(bot),
        }

    out = harness.run(scenario)
    modal = out["modal"]
    assert modal["type"] == 9 and modal["data"]["title"] == "Ask a follow-up question"
    [text_input] = [c for row in modal["data"]["components"] for c in row["components"]]
    assert text_input["type"] == 4 and text_input["label"] == "Your question"
    [started] = out["threads"]  # one thread, however many follow-ups
    assert started.json["name"] == IBM
    answer = out["answer"]
    assert answer.payload["channel_id"] == out["thread"]
    assert answer.json["embeds"][0]["title"] == THEN
    assert "IBM" in first_field(answer)["value"]  # "it" was understood as IBM
    assert answer.json["allowed_mentions"] == {"parse": []}
    assert out["posted"].json["content"] == f"Answered in <#{out['thread']}>."
    assert out["posted"].json["flags"] == EPHEMERAL
    store: FeedbackStore = out["store"]
    assert store.answer(answer.id).previous == (IBM,)  # type: ignore[union-attr]
    assert store.answer(out["mentioned"].id).previous == (IBM, THEN)  # type: ignore[union-attr]
    assert store.answer(out["asked"].id).previous == (IBM, THEN, "and who did it help?")  # type: ignore[union-attr]
    assert store.conversation(out["thread"])[-1] == "And then?"  # type: ignore[index]
    assert store.answer(out["reply"].id).thread == out["thread"]  # type: ignore[union-attr]
    # The answers in the thread have every button too, follow-up included.
    labels = [c.get("label") for c in answer.components]
    assert "Follow up" in labels and "More passages" in labels


def test_a_follow_up_after_its_thread_was_deleted_starts_another(harness: BotHarness) -> None:
    async def scenario(fake: FakeDiscord, bot: CitebotBot) -> dict[str, Any]:
        user = fake.member("returning")
        reply = await ask(fake, "Who founded Palantir?", user)
        first = await fake.submit(await fake.click(reply, label="Follow up", user=user), [THEN], user=user)
        await fake.followup(first)
        thread = await fake.thread_of(reply)
        fake.delete_thread(thread)
        start = len(fake.requests)
        again = await fake.submit(
            await fake.click(reply, label="Follow up", user=user), ["And its ICE contract?"], user=user
        )
        posted = await fake.followup(again)
        answer = await fake.message_in(thread, start=start)
        started = [r for r in fake.requests[start:] if r.path.endswith(f"/messages/{reply.id}/threads")]
        return {
            "posted": posted,
            "answer": answer,
            "started": started,
            "thread": thread,
            "store": store_of(bot),
        }

    out = harness.run(scenario)
    assert len(out["started"]) == 1, "a new thread, started from the answer"
    assert out["posted"].json["content"] == f"Answered in <#{out['thread']}>."
    assert out["answer"].json["embeds"][0]["title"] == "And its ICE contract?"
    # The conversation goes on: the deleted thread's questions are still its history.
    assert out["store"].answer(out["answer"].id).previous == ("Who founded Palantir?", THEN)


def test_plain_messages_in_the_bot_s_threads_are_questions_only_when_set(harness: BotHarness) -> None:
    async def scenario(fake: FakeDiscord, bot: CitebotBot) -> tuple[Any, ...]:
        user = fake.member("chatty")
        reply = await ask(fake, "Who founded Palantir?", user)
        submitted = await fake.submit(
            await fake.click(reply, label="Follow up", user=user),
            ["And how much is its ICE contract?"],
            user=user,
        )
        await fake.followup(submitted)
        thread = await fake.thread_of(reply)
        quiet = await fake.say("and which company does it work with?", user=user, channel=thread)
        try:
            await fake.reply_to(quiet, timeout=3)
            replied_without_setting = True
        except AssertionError:
            replied_without_setting = False
        saved = bot.settings
        bot.settings = saved.model_copy(update={"thread_replies": True})
        try:
            said = await fake.say("and which company does it work with?", user=user, channel=thread)
            answer = await fake.reply_to(said)
            elsewhere = await fake.say("and which company does it work with?", user=user)
            try:
                await fake.reply_to(elsewhere, timeout=3)
                replied_outside = True
            except AssertionError:
                replied_outside = False
        finally:
            bot.settings = saved
        return replied_without_setting, answer, replied_outside, store_of(bot)

    replied_without_setting, answer, replied_outside, store = harness.run(scenario)
    assert not replied_without_setting and not replied_outside
    assert store.answer(answer.id).previous == ("Who founded Palantir?", "And how much is its ICE contract?")


def test_thread_replies_ask_for_the_message_content_intent(tmp_path: Path, embedder: Any) -> None:
    settings = load_settings(articles_dir=tmp_path, data_dir=tmp_path / "data")
    assert not CitebotBot(settings, Retriever(settings, embedder=embedder)).intents.message_content
    replies = settings.model_copy(update={"thread_replies": True})
    assert CitebotBot(replies, Retriever(replies, embedder=embedder)).intents.message_content


def test_without_thread_permissions_a_follow_up_gets_one_clear_line(harness: BotHarness) -> None:
    line = (
        "I can’t answer in a thread here: I need the Create Public Threads and Send Messages in "
        "Threads permissions in this channel."
    )

    async def scenario(fake: FakeDiscord, bot: CitebotBot) -> tuple[Any, ...]:
        user = fake.member("restricted")
        saved = fake.bot_permissions
        try:
            fake.bot_permissions = saved & ~THREAD_PERMISSIONS
            reply = await ask(fake, "Who is Andy Jassy?", user)
            start = len(fake.requests)
            refused = await fake.followup(
                await fake.submit(
                    await fake.click(reply, label="Follow up", user=user), ["And then?"], user=user
                )
            )
            attempted = [r for r in fake.requests[start:] if r.path.endswith("/threads")]
            # The thread exists, but posting in threads was taken away since.
            fake.bot_permissions = saved
            first = await fake.submit(
                await fake.click(reply, label="Follow up", user=user), ["Why?"], user=user
            )
            await fake.followup(first)
            fake.bot_permissions = saved & ~SEND_IN_THREADS
            second = await fake.submit(
                await fake.click(reply, label="Follow up", user=user), ["How?"], user=user
            )
            forbidden = await fake.followup(second)
        finally:
            fake.bot_permissions = saved
        return refused, attempted, forbidden

    refused, attempted, forbidden = harness.run(scenario)
    assert refused.json["content"] == line and refused.json["flags"] == EPHEMERAL
    assert attempted == []  # checked before trying
    assert forbidden.json["content"] == line and forbidden.json["flags"] == EPHEMERAL


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
        # /reindex in a server reindexes that server's own library.
        folder = bot.service.articles_folder(bot.service.library_for(int(fake.guild_id)))
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "guerande-salt.txt"
        path.write_text(article, encoding="utf-8")
        # Another article stays: a run that would empty a library stops (see test_storage.py).
        (folder / "oyster-farmers.txt").write_text(
            "Oyster farmers\n\nThe oyster farmers of Arcachon counted their losses after the storm.",
            encoding="utf-8",
        )
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


@contextmanager
def many_sources(bot: CitebotBot) -> Iterator[None]:
    """The bot's archive lists 20 articles meanwhile: /sources has three pages."""
    from retrieval.models import SourceInfo

    many = [
        SourceInfo(f"{i:03}_many.txt", f"Article {i}", "en", 3, "2026-11-26T09:00:00+00:00")
        for i in range(20)
    ]

    async def sources(library: str | None = None) -> list[SourceInfo]:
        return many

    saved, bot.service.sources = bot.service.sources, sources  # type: ignore[method-assign]
    try:
        yield
    finally:
        bot.service.sources = saved  # type: ignore[method-assign]


def test_every_button_outlives_a_restart(harness: BotHarness) -> None:
    async def before(fake: FakeDiscord, bot: CitebotBot) -> tuple[Message, Message, FakeUser, Any]:
        user = fake.member("patient")
        reply = await ask(fake, "What did No Music for ICE demand?", user)
        with many_sources(bot):
            listing = fake.message_of(await fake.callback(await fake.slash("sources", user=user)))
        return reply, listing, user, bot

    reply, listing, user, old_bot = harness.run(before)
    harness.restart()
    assert harness.bot is not old_bot

    async def after(fake: FakeDiscord, bot: CitebotBot) -> dict[str, Any]:
        full = await fake.callback(await fake.click(reply, label="[1] in full", user=user))
        more_click = await fake.click(reply, label="More passages", user=user)
        more = await fake.followup(more_click)
        up = await fake.callback(await fake.click(reply, emoji="👍", user=user))
        follow = await fake.callback(await fake.click(reply, label="Follow up", user=user))
        with many_sources(bot):
            page = await fake.callback(await fake.click(listing, label="Next", user=fake.member("late")))
        return {
            "full": full.json,
            "more": more.json,
            "up": up.json,
            "follow": follow.json,
            "page": page.json,
            "bot": bot,
        }

    out = harness.run(after)
    assert out["page"]["type"] == 7 and out["page"]["data"]["embeds"][0]["footer"]["text"] == "Page 2 of 3"
    embed = out["full"]["data"]["embeds"][0]
    assert out["full"]["data"]["flags"] == EPHEMERAL
    assert embed["title"] == reply.json["embeds"][0]["fields"][0]["name"].split(" — ")[0]
    assert "**" in embed["description"]
    ranks = [int(re.match(r"\[(\d+)\]", f["name"]).group(1)) for f in out["more"]["embeds"][0]["fields"]]
    assert ranks and ranks[0] == 6
    assert out["up"]["data"]["content"].startswith("Thanks, your 👍 is recorded.")
    assert out["follow"]["type"] == 9
    [vote] = [v for v in store_of(out["bot"]).votes() if v.answer.key == reply.id]
    assert vote.vote == UP and vote.vote != DOWN


def test_no_request_went_unanswered(harness: BotHarness) -> None:
    assert harness.fake.unhandled == []
