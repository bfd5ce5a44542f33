"""End to end: the real discord.py client against the local fake Discord, real retrieval.

One bot (one login, one index build) serves the whole module; scenarios that add
articles use names and topics of their own, so the order of the tests does not matter.
Each scenario is an ``async def scenario(fake, bot)`` run on the harness loop.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.app import CitebotBot, QuestionCooldown
from bot.replies import CONTENT_LIMIT, embed_violations
from config import load_settings
from retrieval.service import Retriever

from data_paths import DATA, SEEDS
from fake_discord import BotHarness, FakeDiscord, FakeUser, Message, snowflake

DEMANDS = "001_4b0b25bb2bafa5d9.txt"
SXSW_FR = "000_44bf25875507660d.txt"
SEED_IDS = sorted(p.name for p in SEEDS.iterdir())
EPHEMERAL = 64


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory, embedder: Any):
    root = tmp_path_factory.mktemp("bot")
    articles = root / "articles"
    shutil.copytree(SEEDS, articles)
    with pytest.MonkeyPatch.context() as mp:
        # Module scope runs before the autouse env isolation: do it here too.
        for name in [n for n in os.environ if n.startswith("CITEBOT_")]:
            mp.delenv(name)
        mp.chdir(root)
        settings = load_settings(
            articles_dir=articles,
            data_dir=root / "data",
            url_allowlist=["127.0.0.1"],
            watch_debounce_seconds=0.3,
            cooldown_seconds=0,  # 0: no cooldown (one test sets one)
        )

    def make_bot() -> CitebotBot:
        configured = settings.model_copy(update={"sync_guild_id": int(harness.fake.guild_id)})
        return CitebotBot(configured, Retriever(configured, embedder=embedder), guild_ready_timeout=0.1)

    harness = BotHarness(make_bot)
    harness.start()
    yield harness
    harness.stop()


def fields(message: Message) -> list[dict[str, Any]]:
    return message.json["embeds"][0]["fields"]


def cited_sources(message: Message) -> list[str]:
    return [f["name"] for f in fields(message)]


def saved_anywhere(harness: BotHarness, name: str) -> bool:
    """Whether a file called ``name`` was saved in the base library's folder or the server's."""
    service = harness.bot.service
    folders = (
        service.articles_folder(None),
        service.articles_folder(service.library_for(int(harness.fake.guild_id))),
    )
    return any((folder / name).exists() for folder in folders)


async def ask(fake: FakeDiscord, question: str, **kw: Any) -> Message:
    """/ask as a fresh member; the public answer."""
    user = kw.pop("user", None) or fake.member("asker")
    interaction = await fake.slash("ask", user=user, question=question, **kw)
    deferred = await fake.callback(interaction)
    assert deferred.json == {"type": 5}  # deferred at once, publicly ("thinking…")
    return await fake.followup(interaction)


async def add_file(fake: FakeDiscord, name: str, text: str) -> Message:
    """/add of an attachment by a member with Manage Server; the private reply."""
    admin = fake.member("admin", manage_guild=True)
    return await fake.followup(await fake.slash("add", user=admin, file=fake.attachment(name, text.encode())))


def test_commands_are_synced_with_admin_commands_hidden_from_members(harness: BotHarness) -> None:
    commands = harness.fake.commands
    assert {"ask", "help", "sources", "source", "reindex", "add", "feeds", "delete-library"} <= set(commands)
    for admin in ("reindex", "add", "delete-library"):
        assert int(commands[admin]["default_member_permissions"]) == 1 << 5  # Manage Server
        assert commands[admin]["contexts"] == [0]  # guild only
    assert commands["ask"].get("default_member_permissions") is None


def test_ask_in_english_cites_the_demands_list(harness: BotHarness) -> None:
    async def scenario(fake: FakeDiscord, bot: CitebotBot) -> Message:
        return await ask(fake, "What are the four demands of the No Music for ICE letter?")

    reply = harness.run(scenario)
    embed = reply.json["embeds"][0]
    assert embed["title"] == "What are the four demands of the No Music for ICE letter?"
    first = embed["fields"][0]
    assert first["name"].startswith("[1] Hundreds Of Musicians Pledge To Cut Ties With Amazon")
    assert f"— {DEMANDS}, ¶" in first["name"]
    assert any("Terminate existing contracts" in f["value"] for f in embed["fields"] if DEMANDS in f["name"])
    assert all("**" in f["value"] for f in embed["fields"])  # the best sentence in bold
    assert re.search(r"\d+ articles · \d+ passages · last indexed \d{4}-\d\d-\d\d", embed["footer"]["text"])
    assert reply.json["allowed_mentions"] == {"parse": []}
    assert embed_violations(embed) == []
    labels = [c.get("label") or c["emoji"]["name"] for c in reply.components]
    assert labels == [
        "[1] in full",
        "[2] in full",
        "[3] in full",
        "[4] in full",
        "[5] in full",
        "More passages",
        "Follow up",
        "👍",
        "👎",
    ]
    # What a button does is in its custom id; what it acts on is found by the message's id.
    assert [c["custom_id"] for c in reply.components][-4:] == [
        "citebot:more",
        "citebot:follow",
        "citebot:vote:up",
        "citebot:vote:down",
    ]


def test_english_question_answered_from_the_french_article(harness: BotHarness) -> None:
    question = (
        "Whose immigration policies do people indirectly support by doing business with Amazon, "
        "according to No Music for ICE?"
    )

    async def scenario(fake: FakeDiscord, bot: CitebotBot) -> Message:
        return await ask(fake, question)

    reply = harness.run(scenario)
    french = [f for f in fields(reply)[:2] if SXSW_FR in f["name"]]
    assert french, cited_sources(reply)
    assert "**No Music for ICE estime qu’en faisant des affaires avec Amazon" in french[0]["value"]
    assert "Donald Trump" in french[0]["value"]


def test_buttons_show_a_passage_in_full_and_more_passages(harness: BotHarness) -> None:
    async def scenario(fake: FakeDiscord, bot: CitebotBot) -> tuple[Any, ...]:
        user = fake.member("reader")
        reply = await ask(fake, "What did No Music for ICE demand?", user=user)
        full = await fake.callback(await fake.click(reply, label="[1] in full", user=user))
        more_click = await fake.click(reply, label="More passages", user=user)
        more_defer = await fake.callback(more_click)
        more = await fake.followup(more_click)
        return reply, full, more_defer, more

    _, full, more_defer, more = harness.run(scenario)
    assert full.json["type"] == 4 and full.json["data"]["flags"] == EPHEMERAL
    shown = full.json["data"]["embeds"][0]
    assert shown["title"].startswith("[1] ") and "**" in shown["description"]
    assert more_defer.json == {"type": 5, "data": {"flags": EPHEMERAL}}
    ranks = [int(re.match(r"\[(\d+)\]", f["name"]).group(1)) for f in more.json["embeds"][0]["fields"]]
    assert ranks and ranks[0] == 6  # the passages after the five shown


def test_nothing_relevant_says_so_and_labels_the_closest(harness: BotHarness) -> None:
    async def scenario(fake: FakeDiscord, bot: CitebotBot) -> tuple[Message, Message]:
        user = fake.member("chemist")
        reply = await ask(fake, "What is the boiling point of tungsten?", user=user)
        more = await fake.click(reply, label="More passages", user=user)
        return reply, await fake.followup(more)

    reply, more = harness.run(scenario)
    embed = reply.json["embeds"][0]
    assert embed["description"].startswith("I found nothing in the articles that answers this.")
    assert len(embed["fields"]) <= 3
    assert all(re.match(r"\[\d+, closest\] ", f["name"]) for f in embed["fields"])
    # More passages are no better: labelled the same way.
    extra = more.json["embeds"][0]
    assert extra["description"].startswith("I found nothing in the articles that answers this.")
    assert extra["fields"] and all(re.match(r"\[\d+, closest\] ", f["name"]) for f in extra["fields"])


def test_french_locale_gets_a_french_interface(harness: BotHarness) -> None:
    async def scenario(fake: FakeDiscord, bot: CitebotBot) -> Message:
        return await ask(fake, "Qu'exigeait la lettre No Music for ICE ?", locale="fr")

    reply = harness.run(scenario)
    assert reply.json["embeds"][0]["description"].startswith("Les passages des articles")
    labels = {c.get("label") for c in reply.components}
    assert {"[1] en entier", "Plus de passages", "Poursuivre"} <= labels


def test_sources_lists_the_four_seeds_and_source_autocompletes(harness: BotHarness) -> None:
    async def scenario(fake: FakeDiscord, bot: CitebotBot) -> tuple[Any, ...]:
        user = fake.member("browser")
        listing = await fake.callback(await fake.slash("sources", user=user))
        choices = await fake.callback(await fake.autocomplete("source", "name", "group of amazon", user=user))
        detail = await fake.callback(await fake.slash("source", user=user, name="003_8dd3d7f5671449ac.txt"))
        # Typed on a phone: no accents, a straight apostrophe ("empêcher Amazon", "S'adressant à")
        typed = await fake.callback(await fake.autocomplete("source", "name", "empecher amazon", user=user))
        by_title = await fake.callback(
            await fake.slash("source", user=user, name="s'adressant a", locale="fr")
        )
        return listing, choices, detail, typed, by_title

    listing, choices, detail, typed, by_title = harness.run(scenario)
    assert [c["value"] for c in typed.json["data"]["choices"]] == [SXSW_FR]
    assert by_title.json["data"]["embeds"][0]["fields"][0]["value"] == "`002_5a2e0eb1296bfe3d.txt`"
    embed = listing.json["data"]["embeds"][0]
    listed = [re.search(r"`([^`]+)`", f["value"]).group(1) for f in embed["fields"]]
    assert listed[:4] == SEED_IDS
    assert any("en · " in f["value"] for f in embed["fields"]) and any(
        "fr · " in f["value"] for f in embed["fields"]
    )
    assert "passages" in embed["fields"][0]["value"] and embed["footer"]["text"].startswith("Page 1 of")
    assert [c["label"] for row in listing.json["data"]["components"] for c in row["components"]] == [
        "Previous",
        "Next",
    ]
    assert choices.json["type"] == 8
    assert "003_8dd3d7f5671449ac.txt" in [c["value"] for c in choices.json["data"]["choices"]]
    names = {f["name"]: f["value"] for f in detail.json["data"]["embeds"][0]["fields"]}
    assert names["File"] == "`003_8dd3d7f5671449ac.txt`" and names["Language"] == "en"


def test_an_unknown_source_name_is_quoted_inert(harness: BotHarness) -> None:
    async def scenario(fake: FakeDiscord, bot: CitebotBot) -> list[Any]:
        user = fake.member("prankster")
        return [
            await fake.callback(await fake.slash("source", user=user, name=name))
            for name in ("@everyone", "x` @here `y", "<@&123456789012345678>")
        ]

    for response in harness.run(scenario):
        text = response.json["data"]["content"]
        assert response.json["data"]["flags"] == EPHEMERAL and text.startswith(
            "No indexed article is called `"
        )
        assert text.count("`") == 2, "the name stays inside its code span"
        assert "@everyone" not in text and "@here" not in text and "<@&1" not in text


def test_sources_pages_with_previous_and_next(harness: BotHarness) -> None:
    from retrieval.models import SourceInfo

    many = [
        SourceInfo(f"{i:03}_many.txt", f"Article {i}", "en", 3, "2026-11-26T09:00:00+00:00")
        for i in range(20)
    ]

    async def scenario(fake: FakeDiscord, bot: CitebotBot) -> tuple[Any, Any]:
        async def sources(library: str | None = None) -> list[SourceInfo]:
            return many

        saved, bot.service.sources = bot.service.sources, sources
        try:
            user = fake.member("pager")
            first = fake.message_of(await fake.callback(await fake.slash("sources", user=user)))
            return first, await fake.callback(await fake.click(first, label="Next", user=user))
        finally:
            bot.service.sources = saved

    first, second = harness.run(scenario)
    buttons = {c["label"]: c["disabled"] for c in first.components}
    assert buttons == {"Previous": True, "Next": False}
    assert second.json["type"] == 7  # the same message, updated in place
    embed = second.json["data"]["embeds"][0]
    assert embed["footer"]["text"] == "Page 2 of 3" and embed["fields"][0]["name"] == "Article 8"
    assert {
        c["label"]: c["disabled"] for row in second.json["data"]["components"] for c in row["components"]
    } == {"Previous": False, "Next": False}


def test_admin_commands_refused_without_manage_server_and_in_dms(harness: BotHarness) -> None:
    async def scenario(fake: FakeDiscord, bot: CitebotBot) -> list[Any]:
        member = fake.member("member")
        out = []
        for name, options in (("reindex", {}), ("add", {"url": fake.serve("x.html", b"<p>x</p>")})):
            out.append(await fake.callback(await fake.slash(name, user=member, **options)))
            out.append(
                await fake.callback(
                    await fake.slash(name, user=fake.member("dm", manage_guild=True), dm=True, **options)
                )
            )
        return out

    refused, dm, refused_add, dm_add = harness.run(scenario)
    for response in (refused, refused_add):
        assert response.json["type"] == 4 and response.json["data"]["flags"] == EPHEMERAL
        assert response.json["data"]["content"] == "You need the Manage Server permission for this."
    for response in (dm, dm_add):
        assert response.json["data"]["content"] == "This command works in a server, not in direct messages."
    assert not saved_anywhere(harness, "127-0-0-1-x.html")


def test_reindex_by_an_admin_reports_what_changed(harness: BotHarness) -> None:
    async def scenario(fake: FakeDiscord, bot: CitebotBot) -> tuple[Any, Message]:
        admin = fake.member("admin", manage_guild=True)
        interaction = await fake.slash("reindex", user=admin)
        return await fake.callback(interaction), await fake.followup(interaction)

    deferred, report = harness.run(scenario)
    assert deferred.json == {"type": 5, "data": {"flags": EPHEMERAL}}
    assert re.match(r"Reindexed: \d+ added, \d+ changed, \d+ removed, \d+ unchanged", report.json["content"])
    assert report.json["flags"] == EPHEMERAL


LIGHTHOUSE = (
    "Lighthouse keepers of Finistère strike for longer winter leave\n\n"
    "The union of lighthouse keepers in Finistère demanded three extra weeks of winter leave "
    "and a second keeper on every offshore tower, after a storm cut off the Ar-Men light for nine days.\n\n"
    "The regional maritime authority said it would answer the union before the spring tides."
)


def test_add_attachment_then_answerable(harness: BotHarness) -> None:
    async def scenario(fake: FakeDiscord, bot: CitebotBot) -> tuple[Message, Message]:
        added = await add_file(fake, "lighthouse keepers.txt", LIGHTHOUSE)
        return added, await ask(fake, "What did the lighthouse keepers' union in Finistère demand?")

    added, answer = harness.run(scenario)
    assert added.json["content"].startswith(
        "Added **Lighthouse keepers of Finistère strike for longer winter leave**"
    )
    assert "`lighthouse-keepers.txt`" in added.json["content"] and added.json["flags"] == EPHEMERAL
    assert "— lighthouse-keepers.txt, ¶" in cited_sources(answer)[0]
    assert "three extra weeks of winter leave" in fields(answer)[0]["value"]


def test_add_url_then_answerable_with_the_url_as_source(harness: BotHarness) -> None:
    page = (
        "<html><head><title>Beekeepers of the Vercors count their winter losses</title></head><body>"
        "<nav>Home | News</nav><article><h1>Beekeepers of the Vercors count their winter losses</h1>"
        "<p>The beekeepers' cooperative of the Vercors reported that forty percent of its hives died "
        "during the winter, blaming the varroa mite and a late frost in April.</p>"
        "<p>The cooperative asked the region for an emergency fund to buy new queens.</p></article>"
        "<footer>Copyright</footer></body></html>"
    )

    async def scenario(fake: FakeDiscord, bot: CitebotBot) -> tuple[Message, Message, Any]:
        admin = fake.member("admin", manage_guild=True)
        url = fake.serve("vercors-bees.html", page.encode())
        added = await fake.followup(await fake.slash("add", user=admin, url=url))
        answer = await ask(fake, "How many hives did the Vercors beekeepers lose in winter?")
        private = await fake.followup(await fake.slash("add", user=admin, url="http://10.1.2.3/secret.html"))
        return added, answer, private

    added, answer, private = harness.run(scenario)
    assert added.json["content"].startswith("Added **Beekeepers of the Vercors count their winter losses**")
    assert "/files/vercors-bees.html, ¶" in cited_sources(answer)[0]
    assert "forty percent" in fields(answer)[0]["value"]
    assert saved_anywhere(harness, "127-0-0-1-vercors-bees.html")  # the name the refusals check
    assert "non-public address" in private.json["content"] and private.json["flags"] == EPHEMERAL


def test_add_refuses_what_the_index_would_skip_and_saves_nothing(harness: BotHarness) -> None:
    async def scenario(fake: FakeDiscord, bot: CitebotBot) -> list[Any]:
        admin = fake.member("admin", manage_guild=True)
        binary = fake.serve("leftover.html", b"<html>\x00\x01\x02" * 50)
        menu = fake.serve("menu-only.html", b"<html><body><nav>Menu</nav></body></html>")
        attached = fake.attachment("blank.txt", b"   \n\n  ")
        return [
            await fake.followup(await fake.slash("add", user=admin, **option))
            for option in ({"url": binary}, {"url": menu}, {"file": attached})
        ]

    binary, menu, blank = (m.json for m in harness.run(scenario))
    assert binary["content"].startswith("`127-0-0-1-leftover.html` cannot be indexed: binary file")
    assert menu["content"].startswith(
        "`127-0-0-1-menu-only.html` cannot be indexed: HTML holds no article text"
    )
    assert blank["content"].startswith("`blank.txt` cannot be indexed:")
    for reply in (binary, menu, blank):
        assert reply["content"].endswith("Nothing was saved.") and reply["flags"] == EPHEMERAL
    for name in ("127-0-0-1-leftover.html", "127-0-0-1-menu-only.html", "blank.txt"):
        assert not saved_anywhere(harness, name)


def test_a_news_article_is_cited_with_its_outlet_date_and_link_and_filtered_by_date(
    harness: BotHarness,
) -> None:
    page = (
        "<html><head><title>Salt marsh flamingos return to the Camargue</title>"
        '<meta property="article:published_time" content="2024-04-03">'
        '<meta name="author" content="Inès Roux"><meta property="og:site_name" content="Delta Times">'
        "</head><body><article><h1>Salt marsh flamingos return to the Camargue</h1>"
        "<p>Ornithologists counted 14,000 breeding pairs of greater flamingos in the salt marshes "
        "of the Camargue this spring, the highest count in ten years.</p>"
        "<p>The birds nest on an island in the Fangassier lagoon, which rangers keep closed to visitors.</p>"
        "</article></body></html>"
    )
    question = "How many flamingo pairs bred in the Camargue salt marshes?"

    async def scenario(fake: FakeDiscord, bot: CitebotBot) -> tuple[Message, Message, Message, Any]:
        admin = fake.member("admin", manage_guild=True)
        url = fake.serve("camargue-flamingos.html", page.encode())
        await fake.followup(await fake.slash("add", user=admin, url=url))
        answer = await ask(fake, question)
        recent = await ask(fake, question, since="2024-04-01", until="2024-04-30")
        later = await ask(fake, question, since="2030-01-01")
        shown = await fake.callback(
            await fake.slash("source", user=admin, name="127-0-0-1-camargue-flamingos.html")
        )
        return answer, recent, later, shown

    answer, recent, later, shown = harness.run(scenario)
    first = fields(answer)[0]
    assert first["name"].startswith("[1] Salt marsh flamingos return to the Camargue — Delta Times, ¶")
    line = first["value"].splitlines()[0]
    url = f"{harness.fake.base_url}/files/camargue-flamingos.html"
    # The date as a Discord timestamp (each member's locale), then the byline and the link.
    assert line == f"<t:1712145600:D> · Inès Roux · [127.0.0.1]({url})"
    assert embed_violations(answer.json["embeds"][0]) == []
    assert [f["name"].split(" — ")[1].split(",")[0] for f in fields(recent)] == ["Delta Times"]
    assert later.json["embeds"][0]["description"].startswith("No article published in those dates")
    detail = shown.json["data"]["embeds"][0]
    assert detail["url"] == url
    assert {f["name"]: f["value"] for f in detail["fields"]}.items() >= {
        "Outlet": "Delta Times",
        "Published": "<t:1712145600:D>",
        "Author": "Inès Roux",
    }.items()


def test_article_dropped_in_the_folder_is_picked_up_without_restart(harness: BotHarness) -> None:
    article = (
        "Glassblowers of Murano fight the gas bill\n\n"
        "The glassblowers of Murano asked the Italian government to cap the price of natural gas "
        "for their furnaces, which must burn day and night at 1,400 degrees.\n\n"
        "Several workshops have already let their furnaces go cold for the first time in a century."
    )

    async def scenario(fake: FakeDiscord, bot: CitebotBot) -> tuple[Message, Message]:
        before = bot.service.reindex_count
        (Path(bot.settings.articles_dir) / "murano-glass.md").write_text(article, encoding="utf-8")

        # The watcher debounces, then reindexes: bounded wait, then ask like a member.
        async def picked_up() -> None:
            while not any(s.source_id == "murano-glass.md" for s in await bot.service.sources()):
                await asyncio.sleep(0.1)

        await asyncio.wait_for(picked_up(), 60)
        assert bot.service.reindex_count > before
        answer = await ask(fake, "What did the glassblowers of Murano ask the government?")
        # Removing the file takes it out of the index the same way.
        (Path(bot.settings.articles_dir) / "murano-glass.md").unlink()

        async def dropped() -> None:
            while any(s.source_id == "murano-glass.md" for s in await bot.service.sources()):
                await asyncio.sleep(0.1)

        await asyncio.wait_for(dropped(), 60)
        return answer, await ask(fake, "What did the glassblowers of Murano ask the government?")

    answer, after_removal = harness.run(scenario)
    assert "— murano-glass.md, ¶" in cited_sources(answer)[0]
    assert "cap the price of natural gas" in fields(answer)[0]["value"]
    assert not any("murano-glass.md" in name for name in cited_sources(after_removal))


@pytest.mark.slow  # a reindex of many passages, a fresh process loading the model, or fuzzing
def test_questions_are_answered_while_a_reindex_runs(harness: BotHarness) -> None:
    paragraphs = [
        " ".join(
            f"In {1900 + i} the harbour of Portnahaven{i} counted {i * 7 + j} fishing boats, "
            f"{j * 3 + i} of them rigged for herring and the rest for lobster."
            for j in range(6)
        )
        for i in range(25)
    ]
    article = "Harbour registers of the Inner Hebrides\n\n" + "\n\n".join(paragraphs)

    async def scenario(fake: FakeDiscord, bot: CitebotBot) -> bool:
        (Path(bot.settings.articles_dir) / "harbour-registers.txt").write_text(article, encoding="utf-8")

        async def indexing() -> None:
            while not bot.service.indexing:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(indexing(), 30)
        await ask(fake, "What did No Music for ICE demand?")
        still_indexing = bot.service.indexing  # the answer came back before the reindex ended

        async def done() -> None:
            while not any(s.source_id == "harbour-registers.txt" for s in await bot.service.sources()):
                await asyncio.sleep(0.1)

        await asyncio.wait_for(done(), 120)
        return still_indexing

    assert harness.run(scenario, timeout=180) is True


def test_a_mention_is_answered_in_a_reply(harness: BotHarness) -> None:
    async def scenario(fake: FakeDiscord, bot: CitebotBot) -> tuple[Message, Message]:
        user = fake.member("mentioner")
        message = await fake.say(f"{fake.bot_mention} what did No Music for ICE demand?", user=user)
        return message, await fake.reply_to(message)

    message, reply = harness.run(scenario)
    assert (
        reply.json["message_reference"]["message_id"] == message.id
        or str(reply.json["message_reference"]["message_id"]) == message.id
    )
    assert reply.json["allowed_mentions"] == {"parse": [], "replied_user": False}
    assert reply.json["embeds"][0]["title"] == "what did No Music for ICE demand?"
    assert any(DEMANDS in name for name in cited_sources(reply)[:2])


def test_a_french_mention_in_an_english_server_is_answered_in_french(harness: BotHarness) -> None:
    async def scenario(fake: FakeDiscord, bot: CitebotBot) -> Message:
        # The example /help gives in French: its English names outweigh its French words.
        message = await fake.say(
            f"{fake.bot_mention} qu’exigeait No Music for ICE ?", user=fake.member("franco")
        )
        return await fake.reply_to(message)

    assert harness.fake.guild_locale == "en-US"
    reply = harness.run(scenario)
    assert reply.json["embeds"][0]["description"].startswith("Les passages des articles")
    labels = [c.get("label") for c in reply.components]
    assert "Plus de passages" in labels and "Poursuivre" in labels


def test_mass_mentions_in_articles_and_questions_never_ping(harness: BotHarness) -> None:
    article = (
        "Ferry crews of the Hebrides call a strike @everyone\n\n"
        "@everyone @here <@&123456789012345678> <@123456789012345678> The ferry crews of the Hebrides "
        "walked out over rosters, stranding islanders on Barra and Lewis for two days.\n\n"
        "@here The operator promised new rosters by summer. <@&123456789012345678>"
    )

    async def scenario(fake: FakeDiscord, bot: CitebotBot) -> list[Any]:
        start = len(fake.requests)
        await add_file(fake, "hebrides-ferries.txt", article)
        user = fake.member("pinger")
        reply = await ask(
            fake, "@everyone why did the Hebrides ferry crews strike? <@&123456789012345678>", user=user
        )
        await fake.callback(await fake.click(reply, label="[1] in full", user=user))
        message = await fake.say(
            f"{fake.bot_mention} @here Hebrides ferry strike <@&123456789012345678>?", user=user
        )
        await fake.reply_to(message)
        await fake.callback(await fake.slash("sources", user=user))
        return [r.json for r in fake.requests[start:] if r.json is not None]

    payloads = harness.run(scenario)
    text = json.dumps(payloads, ensure_ascii=False)
    assert "Hebrides" in text  # the article was quoted...
    assert (
        "@everyone" not in text and "@here" not in text and "<@&1" not in text and "<@1" not in text
    )  # ...inert
    messages = [
        p.get("data", p)
        for p in payloads
        if isinstance(p, dict) and ("content" in p.get("data", p) or "embeds" in p.get("data", p))
    ]
    assert messages
    for message in messages:
        assert message["allowed_mentions"]["parse"] == []


def test_over_long_passages_stay_within_every_limit(harness: BotHarness) -> None:
    noisy = " ".join(f"*bold_{i}* ~~x~~ `code` |spoiler| > quote **" for i in range(60))
    article = f"Markdown storm in the archive\n\n{noisy}\n\n" + ("Zanzibar clove harvest figures. " * 60)

    async def scenario(fake: FakeDiscord, bot: CitebotBot) -> list[Any]:
        start = len(fake.requests)
        await add_file(fake, "markdown-storm.txt", article)
        user = fake.member("long")
        reply = await ask(
            fake, "Zanzibar clove harvest markdown storm " + "bold spoiler quote " * 40, user=user, k=10
        )
        for n in (1, 2):
            await fake.callback(await fake.click(reply, label=f"[{n}] in full", user=user))
        click = await fake.click(reply, label="More passages", user=user)
        await fake.followup(click)
        return [r.json for r in fake.requests[start:] if r.json is not None]

    payloads = harness.run(scenario)
    embeds = [e for p in payloads for e in (p.get("data", p) or {}).get("embeds", [])]
    assert len(embeds) >= 4 and any(len(e.get("fields", [])) == 10 for e in embeds)
    for payload in payloads:
        body = payload.get("data", payload) or {}
        assert len(body.get("content") or "") <= CONTENT_LIMIT
        # One embed per message here, so the per-embed 6000 check is the per-message one.
        assert len(body.get("embeds", [])) <= 1
        for embed in body.get("embeds", []):
            assert embed_violations(embed) == [], embed_violations(embed)
    assert any("Zanzibar" in json.dumps(e) for e in embeds)


def test_cooldown_answers_with_a_friendly_message(harness: BotHarness) -> None:
    async def scenario(fake: FakeDiscord, bot: CitebotBot) -> Any:
        saved = bot.cooldown
        bot.cooldown = QuestionCooldown(1, 60)
        try:
            user = fake.member("hasty")
            await ask(fake, "Who is Andy Jassy?", user=user)
            return await fake.callback(await fake.slash("ask", user=user, question="Who is Jeff Bezos?"))
        finally:
            bot.cooldown = saved

    refused = harness.run(scenario)
    assert refused.json["data"]["flags"] == EPHEMERAL
    assert re.fullmatch(r"Easy there: you can ask again in \d+ s\.", refused.json["data"]["content"])


@pytest.mark.parametrize(
    "question",
    [
        "?!",
        "<@123456789012345678> <@&123456789012345678>",  # mentions: ids are no words
        "<:party:123456789012345678> <a:dance:123456789012345679> <#123456789012345670>",
    ],
)
def test_empty_question_is_refused_privately_before_deferring(harness: BotHarness, question: str) -> None:
    async def scenario(fake: FakeDiscord, bot: CitebotBot) -> Any:
        return await fake.callback(await fake.slash("ask", user=fake.member("blank"), question=question))

    refused = harness.run(scenario)
    assert refused.json["type"] == 4 and refused.json["data"]["flags"] == EPHEMERAL
    assert "empty" in refused.json["data"]["content"]


def test_rejected_and_missing_tokens_give_one_clear_line(
    harness: BotHarness, tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    from bot.main import run_bot

    # The harness has pointed discord.py at the fake, which refuses any other token.
    secret = "MTIz.rejected-token.ABCDEF"
    settings = load_settings(articles_dir=tmp_path, data_dir=tmp_path / "data", discord_token=secret)
    assert run_bot(settings) == 1
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "rejected the token" in err
    assert secret not in err and secret not in caplog.text

    assert run_bot(load_settings(articles_dir=tmp_path, data_dir=tmp_path / "data")) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "CITEBOT_DISCORD_TOKEN" in err


def test_an_unexpected_error_after_deferring_is_private_and_logged(
    harness: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario(fake: FakeDiscord, bot: CitebotBot) -> tuple[Any, Message]:
        async def broken(question: str, k: int | None = None, *args: Any, **options: Any) -> Any:
            raise RuntimeError("the disk caught fire")

        saved, bot.service.ask = bot.service.ask, broken
        try:
            interaction = await fake.slash("ask", user=fake.member("unlucky"), question="Who is Andy Jassy?")
            followup = await fake.followup(interaction)
            deleted = await fake.wait_for_request(
                lambda r: r.method == "DELETE" and r.path.endswith(f"/{interaction.token}/messages/@original")
            )
            return deleted, followup
        finally:
            bot.service.ask = saved

    deleted, followup = harness.run(scenario)
    assert deleted.method == "DELETE"  # the public "thinking…" message is withdrawn
    assert followup.json["flags"] == EPHEMERAL
    assert (
        followup.json["content"]
        == "Something went wrong on my side; the error is logged. Try again in a moment."
    )
    assert "RuntimeError: the disk caught fire" in caplog.text and "Traceback" in caplog.text


def test_the_ask_channel_answers_every_message(harness: BotHarness) -> None:
    async def scenario(fake: FakeDiscord, bot: CitebotBot) -> Message:
        saved = bot.settings
        bot.settings = saved.model_copy(update={"ask_channel_id": int(fake.channel_id)})
        try:
            message = await fake.say("What did No Music for ICE demand?", user=fake.member("channel-asker"))
            return await fake.reply_to(message)
        finally:
            bot.settings = saved

    reply = harness.run(scenario)
    assert any(DEMANDS in name for name in cited_sources(reply)[:2])


def test_intents_and_french_command_descriptions(harness: BotHarness) -> None:
    # Mentions and slash commands need no privileged intent; the ask channel does.
    assert not harness.fake.identify["intents"] & (1 << 15)
    assert harness.fake.commands["ask"]["description_localizations"]["fr"].startswith(
        "Répondre à une question"
    )
    options = {o["name"]: o for o in harness.fake.commands["ask"]["options"]}
    assert (
        options["question"]["description_localizations"]["fr"] == "Votre question, en français ou en anglais"
    )


def test_ask_channel_without_the_message_content_intent_gives_one_clear_line(
    harness: BotHarness, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.main import run_bot

    portal = BotHarness(None, allow_message_content=False).start()
    try:
        (tmp_path / "articles").mkdir()
        settings = load_settings(
            articles_dir=tmp_path / "articles",
            data_dir=tmp_path / "data",
            ask_channel_id=1,
            discord_token=portal.token,
            watch_articles=False,
            sync_commands=False,
        )
        assert run_bot(settings) == 1
    finally:
        portal.stop()
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "Message Content intent" in err and portal.token not in err


def test_no_request_went_unanswered(harness: BotHarness) -> None:
    # Every route the bot used is one the fake knows: the tests saw real answers.
    assert harness.fake.unhandled == []


def test_admin_commands_refused_for_every_permission_set_without_manage_server(harness: BotHarness) -> None:
    """Each permission alone, and random mixes, short of Manage Server (or Administrator,
    which includes it): /reindex and /add are refused, and nothing is indexed or written."""
    import random

    from fake_discord import MANAGE_GUILD

    excluded = MANAGE_GUILD | discord.Permissions(administrator=True).value
    every = discord.Permissions.all().value
    flags = [1 << bit for bit in range(every.bit_length()) if (1 << bit) & every & ~excluded]
    rng = random.Random(6)
    mixes = [sum(rng.sample(flags, rng.randint(2, len(flags) - 1))) for _ in range(20)]
    permission_sets = [*flags, *mixes, discord.Permissions.all().value & ~excluded]

    async def scenario(fake: FakeDiscord, bot: CitebotBot) -> tuple[list[Any], int]:
        before = bot.service.reindex_count
        out = []
        url = fake.serve("perm.html", b"<p>should never be saved</p>")
        for n, permissions in enumerate(permission_sets):
            member = fake.member(f"role-{n}")
            member.permissions = permissions
            out.append(await fake.callback(await fake.slash("reindex", user=member)))
            out.append(await fake.callback(await fake.slash("add", user=member, url=url)))
        return out, bot.service.reindex_count - before

    responses, reindexed = harness.run(scenario)
    assert len(responses) == 2 * len(permission_sets) >= 2 * 40
    for response in responses:
        assert response.json["type"] == 4 and response.json["data"]["flags"] == EPHEMERAL
        assert response.json["data"]["content"] == "You need the Manage Server permission for this."
    assert reindexed == 0
    assert not saved_anywhere(harness, "127-0-0-1-perm.html")


def test_each_server_reads_its_own_library_and_the_base_never_another_servers(harness: BotHarness) -> None:
    """/add in one server writes that server's library: its members find the article, other
    servers do not, and every server still reads the base library (the articles folder)."""
    other_guild = snowflake()
    text = (
        "Glassblowers of Murano vote to strike\n\n"
        "The glassblowers' guild of Murano voted to strike over the price of gas for their furnaces."
    )
    question = "Why did the glassblowers of Murano vote to strike?"

    async def scenario(fake: FakeDiscord, bot: CitebotBot) -> tuple[Message, Message, Message, Any, Any]:
        added = await add_file(fake, "murano-strike.txt", text)
        here = await ask(fake, question)
        there = await ask(fake, question, guild_id=other_guild)
        base_there = await ask(fake, "What did No Music for ICE demand?", guild_id=other_guild)
        member = fake.member("lister")
        shown_here = await fake.callback(await fake.slash("source", user=member, name="murano-strike.txt"))
        shown_there = await fake.callback(
            await fake.slash("source", user=member, name="murano-strike.txt", guild_id=other_guild)
        )
        return added, here, there, base_there, (shown_here, shown_there)

    added, here, there, base_there, (shown_here, shown_there) = harness.run(scenario)
    assert added.json["content"].startswith("Added **Glassblowers of Murano vote to strike**")
    assert "murano-strike.txt" in cited_sources(here)[0]
    assert not any("murano-strike.txt" in name for name in cited_sources(there)), "another server's article"
    assert any(DEMANDS in name for name in cited_sources(base_there)[:3]), (
        "the base library is read everywhere"
    )
    assert shown_here.json["data"]["embeds"][0]["title"] == "Glassblowers of Murano vote to strike"
    assert shown_there.json["data"]["content"] == "No indexed article is called `murano-strike.txt`."
    library = harness.bot.service.library_for(int(harness.fake.guild_id))
    assert library == f"guild-{harness.fake.guild_id}"
    assert (harness.bot.service.articles_folder(library) / "murano-strike.txt").exists()
    assert not (harness.bot.settings.articles_dir / "murano-strike.txt").exists(), (
        "the base folder is the operator's"
    )


def test_a_private_answer_is_for_its_asker_only_and_starts_no_thread(harness: BotHarness) -> None:
    async def scenario(fake: FakeDiscord, bot: CitebotBot) -> tuple[Any, ...]:
        user = fake.member("discreet")
        question = "What did No Music for ICE demand?"
        interaction = await fake.slash("ask", user=user, question=question, private=True)
        deferred = await fake.callback(interaction)
        answer = await fake.followup(interaction)
        full = await fake.callback(await fake.click(answer, label="[1] in full", user=user))
        return deferred, answer, full

    deferred, answer, full = harness.run(scenario)
    assert deferred.json == {"type": 5, "data": {"flags": EPHEMERAL}}  # "thinking…", privately
    assert answer.json["flags"] == EPHEMERAL and any(DEMANDS in n for n in cited_sources(answer)[:2])
    labels = [c.get("label") or c["emoji"]["name"] for c in answer.components]
    assert "Follow up" not in labels and {"More passages", "👍", "👎", "[1] in full"} <= set(labels)
    assert full.json["data"]["flags"] == EPHEMERAL


def test_find_sources_on_a_message_looks_its_text_up_in_public(harness: BotHarness) -> None:
    claim = "Amazon's own tech workers compared ICE detention sites to concentration camps"

    async def scenario(fake: FakeDiscord, bot: CitebotBot) -> tuple[Any, ...]:
        poster, reader = fake.member("poster"), fake.member("reader")
        posted = await fake.say(f"<@{poster.id}> {claim}", user=poster)
        interaction = await fake.message_command("Find sources", posted, user=reader)
        deferred = await fake.callback(interaction)
        answer = await fake.followup(interaction)
        bare = await fake.say(fake.bot_mention, user=poster)
        empty = await fake.callback(
            await fake.message_command("Find sources", bare, user=reader, locale="fr")
        )
        return deferred, answer, empty

    deferred, answer, empty = harness.run(scenario)
    menu = harness.fake.commands["Find sources"]
    assert menu["type"] == 3 and menu["name_localizations"]["fr"] == "Trouver des sources"
    assert deferred.json == {"type": 5}  # in public, like /ask
    embed = answer.json["embeds"][0]
    assert embed["title"] == claim, "the message's text, its mention removed, is the question"
    assert "8dd3d7f5671449ac.txt" in cited_sources(answer)[0]
    assert embed_violations(embed) == [] and answer.json["allowed_mentions"] == {"parse": []}
    assert empty.json["data"]["flags"] == EPHEMERAL
    assert empty.json["data"]["content"] == "Ce message n’a pas de texte à chercher."


def test_a_server_deletes_its_own_library_after_confirming_and_the_base_stays(harness: BotHarness) -> None:
    server = snowflake()  # a server of its own: the other tests' articles are not in it
    text = (
        "Beekeepers of the Cevennes protest\n\n"
        "The beekeepers of the Cevennes blocked the prefecture over pesticides."
    )
    question = "Why did the beekeepers of the Cevennes block the prefecture?"

    async def scenario(fake: FakeDiscord, bot: CitebotBot) -> dict[str, Any]:
        admin, member = fake.member("admin", manage_guild=True), fake.member("member")
        seen: dict[str, Any] = {}

        async def delete_library(user: FakeUser) -> Any:
            return await fake.callback(await fake.slash("delete-library", user=user, guild_id=server))

        async def answer() -> Message:
            return await ask(fake, question, guild_id=server)

        await fake.followup(
            await fake.slash(
                "add", user=admin, guild_id=server, file=fake.attachment("bees.txt", text.encode())
            )
        )
        seen["before"] = await answer()
        seen["member"] = await delete_library(member)
        asked = await delete_library(admin)
        seen["asked"] = asked
        seen["cancelled"] = await fake.callback(
            await fake.click(fake.message_of(asked), label="Cancel", user=admin)
        )
        seen["kept"] = await answer()
        asked = await delete_library(admin)
        click = await fake.click(fake.message_of(asked), label="Delete", user=admin)
        seen["deleting"] = await fake.callback(click)
        seen["done"] = await fake.wait_for_request(
            lambda r: r.method == "PATCH" and r.path.endswith(f"/{click.token}/messages/@original")
        )
        seen["after"] = await answer()
        seen["base"] = await ask(fake, "What did No Music for ICE demand?", guild_id=server)
        seen["again"] = await delete_library(admin)
        seen["libraries"] = set(await asyncio.to_thread(bot.service.retriever.libraries))
        admin_server, settings = snowflake(), bot.service.retriever.settings  # its writes go to the base
        bot.service.retriever.settings = settings.model_copy(update={"admin_guild_ids": [int(admin_server)]})
        try:
            seen["admin_server"] = await fake.callback(
                await fake.slash("delete-library", user=admin, guild_id=admin_server)
            )
        finally:
            bot.service.retriever.settings = settings
        return seen

    seen = harness.run(scenario)
    library = f"guild-{server}"
    assert "bees.txt" in cited_sources(seen["before"])[0]
    assert seen["member"].json["data"]["content"] == "You need the Manage Server permission for this."
    asked = seen["asked"].json["data"]
    assert asked["flags"] == EPHEMERAL and asked["content"].startswith(
        "Delete this server's own library: 1 article and 0 feeds, with the saved files?"
    )
    assert seen["cancelled"].json["data"]["content"] == "Nothing was deleted."
    assert "bees.txt" in cited_sources(seen["kept"])[0], "cancelled: nothing changed"
    assert seen["deleting"].json["data"]["components"] == []  # no second click
    assert seen["done"].json["content"] == "Deleted this server's library, its feeds and its saved files."
    assert not any("bees.txt" in name for name in cited_sources(seen["after"]))
    assert any(DEMANDS in name for name in cited_sources(seen["base"])[:3]), "the base stays"
    assert (
        seen["again"].json["data"]["content"] == "This server has no articles or feeds of its own to delete."
    )
    assert library not in seen["libraries"] and "base" in seen["libraries"]
    assert seen["admin_server"].json["data"]["content"].startswith("This server writes the base library")
    assert not harness.bot.service.articles_folder(library).exists()


def test_an_unanswered_delete_library_question_expires_and_deletes_nothing(
    harness: BotHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The module this bot loaded as its extension (another test's bot may have loaded another).
    monkeypatch.setattr(harness.bot.extensions["bot.cogs.admin"], "CONFIRM_SECONDS", 0.5)
    server = snowflake()

    async def scenario(fake: FakeDiscord, bot: CitebotBot) -> tuple[Any, Any, list[str]]:
        admin = fake.member("admin", manage_guild=True)
        await fake.followup(
            await fake.slash(
                "add",
                user=admin,
                guild_id=server,
                file=fake.attachment("wolves.txt", b"Wolves\n\nWolves in the Alps."),
            )
        )
        asked = await fake.slash("delete-library", user=admin, guild_id=server)
        await fake.callback(asked)
        expired = await fake.wait_for_request(
            lambda r: r.method == "PATCH" and r.path.endswith(f"/{asked.token}/messages/@original")
        )
        library = bot.service.library_for(int(server))
        return (
            asked,
            expired,
            [s.source_id for s in await bot.service.sources(library) if s.library == library],
        )

    _, expired, kept = harness.run(scenario)
    assert expired.json["content"].startswith("No answer in time: nothing was deleted.")
    assert expired.json["components"] == []
    assert kept == ["wolves.txt"]


def test_help_says_how_to_ask_and_what_each_server_can_quote(harness: BotHarness) -> None:
    other_guild = snowflake()  # a server that added nothing

    async def scenario(fake: FakeDiscord, bot: CitebotBot) -> tuple[Any, ...]:
        await add_file(
            fake, "lighthouse-keepers.txt", "Lighthouse keepers of Brittany\n\nThe last keepers left."
        )
        member = fake.member("newcomer")
        library = bot.service.library_for(int(fake.guild_id))
        here = await bot.service.sources(library)
        shown = [
            await fake.callback(await fake.slash("help", user=member, **where))
            for where in ({}, {"guild_id": other_guild}, {"locale": "fr"}, {"dm": True})
        ]
        bare = await fake.reply_to(await fake.say(fake.bot_mention, user=member))  # a mention, no question
        return here, sum(1 for s in here if s.library == library), shown, bare

    here, own, (in_server, elsewhere, in_french, in_dm), bare = harness.run(scenario)
    assert (
        bare.json["content"].startswith("Ask me a question after the mention")
        and "`/help`" in bare.json["content"]
    )
    embed = in_server.json["data"]["embeds"][0]
    assert in_server.json["data"]["flags"] == EPHEMERAL and embed_violations(embed) == []
    assert embed["title"] == "How to use citebot" and "never write an answer" in embed["description"]
    field = {f["name"]: f["value"] for f in embed["fields"]}
    assert field["Ask"].startswith("`/ask question:`, or mention me")
    passages = sum(s.chunks for s in here)
    assert field["What I can quote"].startswith(f"{len(here)} articles ({passages} passages): `/sources`")
    assert own >= 1 and field["What I can quote"].endswith(
        f"{own} article{'s were' if own > 1 else ' was'} added by this server, for this server only."
    )
    assert "this server's own library" in field["Moderators (Manage Server)"]
    field = {f["name"]: f["value"] for f in elsewhere.json["data"]["embeds"][0]["fields"]}
    assert field["What I can quote"].endswith("This server has added none of its own.")
    french = in_french.json["data"]["embeds"][0]
    assert french["title"] == "Comment utiliser citebot" and french["fields"][0]["name"] == "Demander"
    field = {f["name"]: f["value"] for f in in_dm.json["data"]["embeds"][0]["fields"]}
    assert "added by this server" not in field["What I can quote"]
    assert field["Moderators (Manage Server)"].endswith("work in a server, not in direct messages.")


def test_admin_servers_write_the_base_library(tmp_path: Path) -> None:
    from bot.service import AnswerService

    settings = load_settings(articles_dir=tmp_path, data_dir=tmp_path / "data", admin_guild_ids="42")
    service = AnswerService(Retriever(settings))
    assert service.library_for(42) is None and service.articles_folder(None) == tmp_path
    assert service.library_for(7) == "guild-7" and service.library_for(None) is None


def test_a_read_only_bot_answers_and_refuses_to_write(tmp_path: Path, embedder: Any) -> None:
    articles = tmp_path / "articles"
    shutil.copytree(SEEDS, articles)
    writer = Retriever(load_settings(articles_dir=articles, data_dir=tmp_path / "data"), embedder=embedder)
    writer.index()
    settings = load_settings(
        articles_dir=tmp_path / "no-articles", data_dir=tmp_path / "data", read_only=True, cooldown_seconds=0
    )
    replica = BotHarness(
        lambda: CitebotBot(
            settings.model_copy(update={"sync_guild_id": int(replica.fake.guild_id)}),
            Retriever(settings, embedder=embedder),
            guild_ready_timeout=0.1,
        )
    )
    replica.start()
    try:

        async def scenario(fake: FakeDiscord, bot: CitebotBot) -> tuple[Any, ...]:
            # Warmed up as it started: the index is loaded before anyone asks.
            assert bot._warm_task is not None
            await asyncio.wait_for(asyncio.shield(bot._warm_task), 30)
            assert bot.service.retriever.views.held("base") is not None
            admin = fake.member("admin", manage_guild=True)
            answer = await ask(fake, "What did No Music for ICE demand?")
            reindex = await fake.callback(await fake.slash("reindex", user=admin))
            add = await fake.callback(
                await fake.slash("add", user=admin, file=fake.attachment("x.txt", b"Some news\n\nText."))
            )
            url = fake.serve("feed.xml", b"<rss version='2.0'><channel><title>x</title></channel></rss>")
            feeds = [
                await fake.callback(await fake.slash("feeds", subcommand=action, user=admin, url=url))
                for action in ("add", "remove")
            ]
            feeds.append(await fake.callback(await fake.slash("feeds", subcommand="announce", user=admin)))
            listed = await fake.callback(await fake.slash("feeds", subcommand="list", user=admin))
            helped = await fake.callback(await fake.slash("help", user=admin))
            assert bot.feed_poller is None, "a replica polls no feed"
            # The writer indexes a new article: the replica's follower brings it in by itself.
            views = bot.service.retriever.views
            assert views.following
            shutil.copy(next((DATA / "distractors").glob("d01_*.md")), articles)
            await asyncio.to_thread(writer.index)
            generation = writer.registry.record("base").generation
            for _ in range(500):  # before any question: the follower, not a search, reads it
                if views.held("base").generation == generation:
                    break
                await asyncio.sleep(0.02)
            else:
                raise AssertionError("the replica's follower did not bring the new article in")
            news = await ask(
                fake, "How many Microsoft employees signed the letter about the Army cloud deal?"
            )
            return answer, [reindex, add, *feeds], listed, news, helped

        answer, refusals, listed, news, helped = replica.run(scenario)
    finally:
        replica.stop()
    assert not replica.bot.service.retriever.views.following, "stopped with the bot"
    assert "Microsoft engineers urge company" in cited_sources(news)[0]
    assert any(DEMANDS in name for name in cited_sources(answer)[:3])
    assert listed.json["data"]["content"].startswith("This server follows no news feed yet")
    for refused in refusals:
        assert refused.json["data"]["flags"] == EPHEMERAL
        assert "read-only replica" in refused.json["data"]["content"]
        assert "where the index is written" in refused.json["data"]["content"]
    moderators = helped.json["data"]["embeds"][0]["fields"][-1]
    assert moderators["name"] == "Moderators (Manage Server)" and "read-only replica" in moderators["value"]
    assert not (tmp_path / "no-articles").exists()
    assert Retriever(settings, embedder=embedder).registry.lease() is None, "a replica never takes the lease"


class SlowEmbedder:
    """The real model, with every batch of passages taking ``seconds`` longer: a start-up
    catch-up that lasts while the test asks."""

    def __init__(self, model: Any, seconds: float) -> None:
        self.model, self.seconds = model, seconds
        self.identity, self.dim, self.max_tokens = model.identity, model.dim, model.max_tokens
        self.count_tokens = model.count_tokens
        self.embed_queries = model.embed_queries

    def embed_passages(self, texts: Any) -> Any:
        import time

        time.sleep(self.seconds)
        return self.model.embed_passages(texts)


def test_the_bot_connects_and_answers_while_it_catches_up(tmp_path: Path, embedder: Any) -> None:
    """The start-up index run goes on while the bot answers: from the last finished version
    meanwhile, and with the new articles once it has ended. A store with nothing indexed
    yet says so, in the member's language."""
    articles = tmp_path / "articles"
    shutil.copytree(SEEDS, articles)
    settings = load_settings(
        articles_dir=articles, data_dir=tmp_path / "data", cooldown_seconds=0, watch_articles=False
    )
    Retriever(settings, embedder=embedder).index()
    shutil.copy(next((DATA / "distractors").glob("d01_*.md")), articles)  # new while the bot was off
    empty = settings.model_copy(update={"articles_dir": articles, "data_dir": tmp_path / "fresh"})
    bots = {"current": settings, "fresh": empty}
    results = {}
    for name, chosen in bots.items():

        def make_bot(chosen: Any = chosen) -> CitebotBot:
            guild = int(harness.fake.guild_id)  # noqa: B023 - called while this harness starts
            return CitebotBot(
                chosen.model_copy(update={"sync_guild_id": guild}),
                Retriever(chosen, embedder=SlowEmbedder(embedder, 3.0)),
                guild_ready_timeout=0.1,
            )

        harness = BotHarness(make_bot, catch_up=False)
        harness.start()
        try:

            async def scenario(fake: FakeDiscord, bot: CitebotBot) -> tuple[bool, Message, Message]:
                catching_up = not bot.caught_up.is_set()
                interaction = await fake.slash(
                    "ask", user=fake.member("early"), locale="fr", question="Qu'exigeait No Music for ICE ?"
                )
                await fake.callback(interaction)
                early = await fake.followup(interaction)
                await asyncio.wait_for(bot.caught_up.wait(), 120)
                later = await ask(fake, "How many Microsoft employees signed the Army cloud letter?")
                return catching_up, early, later

            results[name] = harness.run(scenario, timeout=240)
        finally:
            harness.stop()
    for name, (catching_up, early, later) in results.items():
        assert catching_up, f"{name}: connected before the catch-up ended"
        assert "Microsoft engineers urge company" in cited_sources(later)[0], name
    _, early, _ = results["current"]
    assert any(DEMANDS in source for source in cited_sources(early)[:3])
    _, early, _ = results["fresh"]
    assert early.json["flags"] == EPHEMERAL
    assert early.json["content"].startswith("Rien n’est encore indexé")


def test_a_catch_up_that_cannot_run_stops_the_bot_with_one_line(
    tmp_path: Path, embedder: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot import app
    from bot.main import run_bot

    portal = BotHarness(None).start()
    monkeypatch.setattr(app, "Retriever", lambda s: Retriever(s, embedder=embedder))
    try:
        settings = load_settings(
            articles_dir=tmp_path / "missing",
            data_dir=tmp_path / "data",
            discord_token=portal.token,
            sync_commands=False,
        )
        assert run_bot(settings) == 1
    finally:
        portal.stop()
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0
    assert err.startswith("citebot: error: articles folder not found") and portal.token not in err
