"""Secrets: the Discord token never appears in citebot's output, logs or errors.

Every command runs with a recognisable token set and everything it can write is
captured (stdout, stderr and every log record down to DEBUG, discord.py's and
Chroma's included), then searched for the token.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from pathlib import Path
from typing import Any

import discord
import pytest
import yarl

import citebot as cli
from bot.main import run_bot
from config import load_settings
from retrieval.embedding import Embedder
from retrieval.service import Retriever

from fake_discord import BotHarness, FakeDiscord

SECRET = "MTIzNDU2Nzg5.secret-token-XYZ.never-shown"


def _assert_hidden(output: str) -> None:
    assert SECRET not in output
    assert SECRET.split(".")[1] not in output  # not even a fragment


def test_cli_commands_never_show_the_token(
    monkeypatch: pytest.MonkeyPatch,
    articles: Path,
    tmp_path: Path,
    embedder: Embedder,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("CITEBOT_DISCORD_TOKEN", SECRET)
    monkeypatch.setenv("CITEBOT_ARTICLES_DIR", str(articles))
    monkeypatch.setenv("CITEBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(cli, "_retriever", lambda settings: Retriever(settings, embedder=embedder))
    (articles / "bad.txt").write_bytes(b"\x00\x01\x02")  # a warning on the way
    assert cli.main(["-v", "index"]) == 0
    assert cli.main(["-v", "index", "--json"]) == 0
    assert cli.main(["-v", "ask", "What did No Music for ICE demand?", "--json"]) == 0
    assert cli.main(["-v", "ask", "What did No Music for ICE demand?"]) == 0
    assert cli.main(["-v", "sources", "--json"]) == 0
    assert cli.main(["ask", "   "]) == 2  # a usage error, with its message
    monkeypatch.setenv("CITEBOT_TOP_K", "many")
    assert cli.main(["sources"]) == 2  # a settings error
    monkeypatch.setenv("CITEBOT_DISCORD_TOKEN", "{" + SECRET)  # whatever the value, never echoed
    assert cli.main(["sources"]) == 2
    out = capsys.readouterr()
    assert "Palantir" in out.out or "ICE" in out.out  # the commands did produce output
    _assert_hidden(out.out + out.err + caplog.text)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_run_with_discord_unreachable_gives_one_line_without_the_token(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    port = _closed_port()
    monkeypatch.setattr(discord.http.Route, "BASE", f"http://127.0.0.1:{port}/api/v10")
    monkeypatch.setattr(
        discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(f"ws://127.0.0.1:{port}/")
    )
    (tmp_path / "articles").mkdir()
    settings = load_settings(
        articles_dir=tmp_path / "articles",
        data_dir=tmp_path / "data",
        discord_token=SECRET,
        watch_articles=False,
    )
    assert run_bot(settings) == 1
    out = capsys.readouterr()
    err = out.err.strip()
    assert err.count("\n") == 0 and err.startswith("citebot: error: cannot reach Discord")
    _assert_hidden(out.out + out.err + caplog.text)


def test_a_bot_session_never_logs_the_token(
    tmp_path: Path,
    embedder: Embedder,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``run_bot`` with the token, DEBUG logs on: log in, sync, answer, fail a command, stop."""
    caplog.set_level(logging.DEBUG)
    from bot import app

    portal = BotHarness(None, token=SECRET).start()
    bots: list[Any] = []
    original = app.CitebotBot.setup_hook

    async def setup_hook(self: Any) -> None:
        bots.append(self)
        await original(self)

    monkeypatch.setattr(app.CitebotBot, "setup_hook", setup_hook)
    articles = tmp_path / "articles"
    articles.mkdir()
    (articles / "bees.txt").write_text(
        "Bees in decline\n\nWild bee numbers fell by a third.", encoding="utf-8"
    )
    settings = load_settings(
        articles_dir=articles,
        data_dir=tmp_path / "data",
        discord_token=SECRET,
        watch_articles=False,
        sync_guild_id=int(portal.fake.guild_id),
    )
    monkeypatch.setattr(app, "Retriever", lambda s: Retriever(s, embedder=embedder))
    codes: list[int] = []
    runner = threading.Thread(target=lambda: codes.append(run_bot(settings)))
    runner.start()
    try:

        async def scenario(fake: FakeDiscord, _: Any) -> None:
            await fake.wait_identified(timeout=120)
            while not (bots and bots[0].caught_up.is_set()):  # the start-up index run (another loop)
                await asyncio.sleep(0.05)
            member = fake.member("curious")
            answered = await fake.followup(
                await fake.slash("ask", user=member, question="Why are bees declining?")
            )
            assert answered.json["embeds"]
            refused = await fake.callback(await fake.slash("reindex", user=member))
            assert refused.json["data"]["flags"] == 64

        portal.run(scenario, timeout=180)
    finally:
        if bots:
            asyncio.run_coroutine_threadsafe(bots[0].close(), bots[0].loop).result(30)
        runner.join(60)
        portal.stop()
    assert codes == [0]
    out = capsys.readouterr()
    _assert_hidden(out.out + out.err + caplog.text)
    assert "IDENTIFY" in caplog.text or "gateway" in caplog.text.lower()  # the logs were captured
