"""News feeds in Discord, end to end: /feeds add|list|remove, the writer's timer, announcements.

The real discord.py client against the local fake Discord; the feeds and their article
pages are served by a local web server on 127.0.0.1, on the harness's event loop. One
bot serves the module, polling every half second; each scenario uses feeds of its own.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterator
from typing import Any

import pytest

from bot.app import CitebotBot
from bot.replies import embed_violations
from config import load_settings
from retrieval.service import Retriever

from fake_discord import BotHarness, Channel, FakeDiscord, Recorded
from local_web import LocalSite, news_page, rss_feed

EPHEMERAL = 64
POLL_SECONDS = 0.5


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> Iterator[BotHarness]:
    root = tmp_path_factory.mktemp("feeds-bot")
    articles = root / "articles"
    articles.mkdir()
    (articles / "ferries.txt").write_text(
        "Ferry strike in Marseille\n\nThe ferry crews of Marseille struck for a second day.\n",
        encoding="utf-8",
    )
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("CITEBOT_")]:
            mp.delenv(name)
        mp.chdir(root)
        settings = load_settings(
            articles_dir=articles, data_dir=root / "data", url_allowlist=["127.0.0.1"], cooldown_seconds=0
        )

    def make_bot() -> CitebotBot:
        configured = settings.model_copy(
            update={
                "sync_guild_id": int(harness.fake.guild_id),
                "announce_channel_id": int(harness.fake.channel_id),
            }
        )
        return CitebotBot(
            configured,
            Retriever(configured, embedder=embedder),
            feed_poll_seconds=POLL_SECONDS,
            guild_ready_timeout=0.1,
        )

    harness = BotHarness(make_bot)
    harness.start()
    harness.site = LocalSite()  # type: ignore[attr-defined]
    harness.run(lambda fake, bot: harness.site.__aenter__())  # type: ignore[attr-defined]
    yield harness
    harness.run(lambda fake, bot: harness.site.__aexit__(None, None, None))  # type: ignore[attr-defined]
    harness.stop()


def serve_feed(site: LocalSite, name: str, stories: list[tuple[str, str, str, str]]) -> str:
    """A feed at /NAME.xml of Gorges Daily articles (slug, title, lede, ISO date); its address."""
    items = []
    for slug, title, lede, day in stories:
        paragraphs = [lede, "The park's rangers publish the census every year in February, with photographs."]
        page = news_page(title, paragraphs, published=day, author="Tom Vidal", site_name="Gorges Daily")
        site.page(f"/{name}/{slug}", page)
        items.append({"title": title, "link": site.url(f"/{name}/{slug}"), "guid": f"{name}-{slug}"})
    site.page(f"/{name}.xml", rss_feed("Gorges Daily", items), "application/rss+xml")
    return site.url(f"/{name}.xml")


def is_announcement(fake: FakeDiscord, channel: str | None = None) -> Any:
    def match(r: Recorded) -> bool:
        return (
            r.method == "POST"
            and r.path == f"/channels/{channel or fake.channel_id}/messages"
            and str((r.json or {}).get("content", "")).startswith("New:")
        )

    return match


async def announcements(
    fake: FakeDiscord, count: int, start: int, channel: str | None = None
) -> list[Recorded]:
    found: list[Recorded] = []
    while len(found) < count:
        request = await fake.wait_for_request(is_announcement(fake, channel), start=start)
        found.append(request)
        start = fake.requests.index(request) + 1
    return found


async def feeds(fake: FakeDiscord, action: str, **options: Any) -> Any:
    """/feeds ACTION as a member with Manage Server; the response (or follow-up) payload."""
    admin = options.pop("user", None) or fake.member("admin", manage_guild=True)
    interaction = await fake.slash("feeds", subcommand=action, user=admin, **options)
    response = await fake.callback(interaction)
    if response.json["type"] == 5:  # deferred: the answer is a follow-up
        return (await fake.followup(interaction)).json
    return response.json["data"]


def test_the_feeds_group_is_for_admins_in_servers(harness: BotHarness) -> None:
    command = harness.fake.commands["feeds"]
    assert int(command["default_member_permissions"]) == 1 << 5 and command["contexts"] == [0]
    assert {o["name"]: o["type"] for o in command["options"]} == {
        "add": 1,
        "list": 1,
        "remove": 1,
        "announce": 1,
    }
    assert command["description_localizations"]["fr"].startswith("Les flux d’actualités")

    async def scenario(fake: FakeDiscord, bot: CitebotBot) -> list[Any]:
        url = serve_feed(harness.site, "refused", [])  # type: ignore[attr-defined]
        member, out = fake.member("member"), []
        for action, options in (
            ("add", {"url": url}),
            ("list", {}),
            ("remove", {"url": url}),
            ("announce", {}),
        ):
            out.append(await feeds(fake, action, user=member, **options))
            out.append(
                await feeds(fake, action, user=fake.member("dm", manage_guild=True), dm=True, **options)
            )
        return out

    responses = harness.run(scenario)
    for refused in responses[0::2]:
        assert refused["flags"] == EPHEMERAL
        assert refused["content"] == "You need the Manage Server permission for this."
    for dm in responses[1::2]:
        assert dm["content"] == "This command works in a server, not in direct messages."
    assert harness.site.count("/refused.xml") == 0  # type: ignore[attr-defined]


def test_a_feed_added_is_polled_indexed_announced_and_cited(harness: BotHarness) -> None:
    stories = [
        (
            "bats-2025",
            "Fewer bats @everyone in the Ardèche caves",
            "Volunteers counted 9,800 bats hibernating in the limestone caves of the Ardèche gorges.",
            "2025-02-10",
        ),
        (
            "bats-2024",
            "Bat census in the Ardèche caves",
            "Volunteers counted 12,400 bats in the Ardèche gorges, the nature park said.",
            "2024-02-12",
        ),
    ]

    async def scenario(fake: FakeDiscord, bot: CitebotBot) -> tuple[Any, ...]:
        url = serve_feed(harness.site, "bats", stories)  # type: ignore[attr-defined]
        start = len(fake.requests)
        added = await feeds(fake, "add", url=url)
        posted = await announcements(fake, 2, start)
        user = fake.member("reader")
        ask = await fake.slash("ask", user=user, question="How many bats did the Ardèche cave census count?")
        await fake.callback(ask)
        answer = await fake.followup(ask)
        listed = await feeds(fake, "list")
        removed = await feeds(fake, "remove", url=url + "?utm_source=discord")
        after = await feeds(fake, "list")
        return url, added, posted, answer, listed, removed, after

    url, added, posted, answer, listed, removed, after = harness.run(scenario, timeout=180)
    assert added["flags"] == EPHEMERAL
    assert added["content"].startswith(f"Subscribed to **Gorges Daily** (<{url}>), which lists 2 items now")
    site = harness.site.base  # type: ignore[attr-defined]
    newest, older = (r.json for r in posted)
    # One short post per article, newest first as the feed lists them, pinging no one.
    assert newest["allowed_mentions"] == {"parse": []} and older["allowed_mentions"] == {"parse": []}
    assert newest["content"] == (
        f"New: **Fewer bats @\u200beveryone in the Ardèche caves** (<{site}/bats/bats-2025>) — "
        "Gorges Daily, <t:1739188800:D>"
    )
    assert older["content"].startswith("New: **Bat census in the Ardèche caves**")
    first = answer.json["embeds"][0]["fields"][0]
    assert re.match(r"\[1\] (Fewer bats|Bat census) .* — Gorges Daily, ¶", first["name"])
    line = first["value"].splitlines()[0]
    assert re.fullmatch(
        rf"<t:\d+:D> · Tom Vidal · \[127\.0\.0\.1\]\({re.escape(site)}/bats/bats-202[45]\)", line
    )
    assert embed_violations(answer.json["embeds"][0]) == []
    assert listed["flags"] == EPHEMERAL and listed["content"].startswith("News feeds of this server (1)")
    assert f"**Gorges Daily** <{url}> · last polled <t:" in listed["content"] and listed["content"].endswith(
        "ok"
    )
    assert (
        removed["content"] == f"Unsubscribed from **Gorges Daily** (<{url}>); the articles it brought stay."
    )
    assert after["content"].startswith("This server follows no news feed yet")


def test_the_timer_polls_the_feeds_of_every_library_without_a_command(harness: BotHarness) -> None:
    """Subscriptions made without /feeds (nothing wakes the poller): the timer finds them;
    another server's new article is indexed in its library but not announced here."""
    here = harness.bot.service.library_for(int(harness.fake.guild_id))
    lede = "The Tarn otter survey found {} families along the river, the water agency said."

    async def scenario(fake: FakeDiscord, bot: CitebotBot) -> tuple[int, list[Recorded], list[str]]:
        site = harness.site  # type: ignore[attr-defined]
        mine = serve_feed(
            site, "otters", [("tarn", "Otters are back on the Tarn", lede.format(31), "2025-06-01")]
        )
        theirs = serve_feed(
            site, "voles", [("lot", "Water voles return to the Lot", lede.format(12), "2025-06-02")]
        )
        rounds, start = bot.feed_poller.rounds, len(fake.requests)
        await bot.service.feeds.add(theirs, "guild-999")
        await bot.service.feeds.add(mine, here)
        await announcements(fake, 1, start)
        for _ in range(200):  # the other server's article: indexed in its library
            if any(s.source_id.endswith("lot.html") for s in await bot.service.sources("guild-999")):
                break
            await asyncio.sleep(0.1)
        seen = bot.feed_poller.rounds
        while bot.feed_poller.rounds < seen + 2:  # and rounds after it was: no post came
            await asyncio.sleep(0.1)
        later = [r for r in fake.requests[start:] if is_announcement(fake)(r)]
        theirs_indexed = [
            s.source_id for s in await bot.service.sources("guild-999") if s.library == "guild-999"
        ]
        return bot.feed_poller.rounds - rounds, later, theirs_indexed

    rounds, posted, theirs_indexed = harness.run(scenario, timeout=180)
    assert rounds >= 2
    assert [r.json["content"].split(" (")[0] for r in posted] == ["New: **Otters are back on the Tarn**"]
    assert theirs_indexed == ["127-0-0-1-lot.html"]
    folder = harness.bot.service.articles_folder(here)
    assert (folder / "127-0-0-1-tarn.html").exists() and (folder / "127-0-0-1-tarn.html.meta.json").exists()


def test_a_server_chooses_the_channel_where_its_feeds_articles_are_posted(harness: BotHarness) -> None:
    """/feeds announce: checked by a first post there, listed, kept apart from another
    server's channel, refused where the bot cannot post, and turned off."""
    fake = harness.fake
    news, general = Channel(fake.news_channel_id, "news"), Channel(fake.channel_id, "general")
    lede = "The Gard beaver survey found {} lodges along the river, the water agency said."

    async def scenario(fake: FakeDiscord, bot: CitebotBot) -> dict[str, Any]:
        site, out = harness.site, {}  # type: ignore[attr-defined]
        start = len(fake.requests)
        out["set"] = await feeds(fake, "announce", channel_=news)
        out["welcome"] = await fake.wait_for_request(
            lambda r: r.method == "POST" and r.path == f"/channels/{fake.news_channel_id}/messages",
            start=start,
        )
        out["listed"] = await feeds(fake, "list")
        fake.closed_channels.add(fake.channel_id)
        try:
            out["refused"] = await feeds(fake, "announce", channel_=general)
        finally:
            fake.closed_channels.discard(fake.channel_id)
        out["kept"] = await bot.service.announce_channel(bot.service.library_for(int(fake.guild_id)))
        # Another server's feed and channel: its article goes there, not here.
        await bot.service.set_announce_channel(int(fake.other_channel_id), "guild-888")
        start = len(fake.requests)
        theirs = serve_feed(
            site, "beavers-lot", [("lot", "Beavers in the Lot", lede.format(7), "2025-07-01")]
        )
        await bot.service.feeds.add(theirs, "guild-888")
        mine = serve_feed(
            site, "beavers-gard", [("gard", "Beavers in the Gard", lede.format(40), "2025-07-02")]
        )
        await feeds(fake, "add", url=mine)
        out["there"] = await announcements(fake, 1, start, fake.other_channel_id)
        out["in_news"] = await announcements(fake, 1, start, fake.news_channel_id)
        out["in_general"] = await announcements(fake, 1, start)
        out["off"] = await feeds(fake, "announce")
        start = len(fake.requests)
        later = serve_feed(
            site, "beavers-cèze", [("ceze", "Beavers in the Cèze", lede.format(3), "2025-07-03")]
        )
        await feeds(fake, "add", url=later)
        out["after_off"] = await announcements(fake, 1, start)  # the operator's channel still hears of it
        seen = bot.feed_poller.rounds
        while bot.feed_poller.rounds < seen + 2:
            await asyncio.sleep(0.1)
        out["news_after_off"] = [
            r for r in fake.requests[start:] if is_announcement(fake, fake.news_channel_id)(r)
        ]
        out["listed_off"] = await feeds(fake, "list")
        return out

    out = harness.run(scenario, timeout=180)
    news_id = fake.news_channel_id
    assert out["set"]["flags"] == EPHEMERAL
    assert out["set"]["content"].startswith(
        f"New articles from this server's news feeds will be posted in <#{news_id}>"
    )
    assert out["welcome"].json["content"] == "New articles from this server's news feeds will be posted here."
    assert out["welcome"].json["allowed_mentions"] == {"parse": []}
    assert f"New articles from these feeds are posted in <#{news_id}>." in out["listed"]["content"]
    assert out["refused"]["content"].startswith(f"I cannot post in <#{fake.channel_id}>")
    assert out["refused"]["content"].endswith("Nothing changed.")
    assert out["kept"] == int(news_id), "the refused channel was not saved"
    [there], [in_news], [in_general] = out["there"], out["in_news"], out["in_general"]
    assert there.json["content"].startswith("New: **Beavers in the Lot**")
    assert in_news.json["content"].startswith("New: **Beavers in the Gard**")
    assert in_general.json["content"] == in_news.json["content"] and in_news.json["allowed_mentions"] == {
        "parse": []
    }
    assert (
        out["off"]["content"]
        == "New articles from this server's news feeds are no longer posted in a channel."
    )
    assert out["after_off"][0].json["content"].startswith("New: **Beavers in the Cèze**")
    assert out["news_after_off"] == []
    assert "are not posted anywhere: `/feeds announce channel:`" in out["listed_off"]["content"]


def test_a_bad_feed_gets_one_line_and_nothing_is_kept(harness: BotHarness) -> None:
    async def scenario(fake: FakeDiscord, bot: CitebotBot) -> tuple[Any, Any]:
        site = harness.site  # type: ignore[attr-defined]
        site.page("/page.html", "<!doctype html><html><body><p>Just a page.</p></body></html>")
        return await feeds(fake, "add", url=site.url("/page.html")), await feeds(
            fake, "remove", url=site.url("/x")
        )

    added, removed = harness.run(scenario)
    assert added["flags"] == EPHEMERAL and added["content"].endswith(
        "is a web page, not a feed (RSS or Atom)"
    )
    assert removed["content"].startswith("no feed http://127.0.0.1:") and removed["content"].endswith(
        "in the list"
    )
    library = harness.bot.service.library_for(int(harness.fake.guild_id))
    assert not any(f.url.endswith("/page.html") for f in harness.bot.service.feeds.list(library))


def test_no_request_went_unanswered(harness: BotHarness) -> None:
    assert harness.fake.unhandled == []
