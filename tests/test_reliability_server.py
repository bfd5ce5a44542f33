"""Chroma server faults: down at start, then going down and up while the bot runs.

The bot starts although its Chroma server is down, tells members in one private,
translated line that the index cannot be reached (no host, no port, no traceback),
and answers again as soon as the server is back, without a restart. The retriever
alone: a server that was never there is one clear ``StoreUnavailableError``.
"""

from __future__ import annotations

import http.server
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from bot.app import CitebotBot
from bot.i18n import t
from config import load_settings
from retrieval.embedding import Embedder
from retrieval.errors import StoreUnavailableError
from retrieval.layout import DataFolder
from retrieval.service import Retriever

from chroma_server import ChromaServer, free_port, requires_chroma
from data_paths import SEEDS
from fake_discord import BotHarness, FakeDiscord, Message

EPHEMERAL = 64


def test_a_server_that_is_not_there_is_one_clear_error(
    tmp_path: Path, articles: Path, embedder: Embedder
) -> None:
    port = free_port()
    settings = load_settings(
        articles_dir=articles, data_dir=tmp_path / "data", chroma_host="127.0.0.1", chroma_port=port
    )
    retriever = Retriever(settings, embedder=embedder)
    for call in (lambda: retriever.search("Who is Andy Jassy?"), retriever.index, retriever.sources):
        try:
            call()
        except StoreUnavailableError as error:
            message = str(error)
            assert "\n" not in message and message.startswith(f"cannot reach Chroma server 127.0.0.1:{port}")
    with pytest.raises(StoreUnavailableError):
        retriever.search("Who is Andy Jassy?")
    assert not DataFolder(settings.data_dir).manifest.exists()  # nothing half-written


def test_a_server_that_stops_answering_fails_a_call_in_bounded_time(
    tmp_path: Path, articles: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Something holds the port and never answers (a paused server, a partition): a call
    fails with one line after the time limit, instead of blocking for ever."""
    import retrieval.chroma_http

    monkeypatch.setattr(retrieval.chroma_http, "ANSWER_SECONDS", 1.0)
    silent = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    accepting = threading.Thread(
        target=lambda: [held.append(silent.accept()[0]) for _ in range(20)], daemon=True
    )
    accepting.start()
    port = silent.getsockname()[1]
    settings = load_settings(
        articles_dir=articles, data_dir=tmp_path / "data", chroma_host="127.0.0.1", chroma_port=port
    )
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError) as caught:
            Retriever(settings, embedder=embedder).sources()
        assert time.monotonic() - started < 20
        assert (
            str(caught.value) == f"cannot reach Chroma server 127.0.0.1:{port}: it did not answer within 1 s"
        )
    finally:
        silent.close()
        for connection in held:
            connection.close()


def test_a_web_server_on_the_port_is_told_from_a_chroma_server(
    tmp_path: Path, articles: Path, embedder: Embedder
) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    settings = load_settings(
        articles_dir=articles, data_dir=tmp_path / "data", chroma_host="127.0.0.1", chroma_port=port
    )
    try:
        with pytest.raises(StoreUnavailableError) as caught:
            Retriever(settings, embedder=embedder).sources()
    finally:
        server.shutdown()
        server.server_close()
    assert str(caught.value) == (
        f"cannot reach Chroma server 127.0.0.1:{port}: it answers, but not as a Chroma server "
        "(is CITEBOT_CHROMA_PORT right?)"
    )


async def _ask(fake: FakeDiscord, question: str, locale: str = "en-US") -> Message:
    interaction = await fake.slash("ask", user=fake.member("asker"), question=question, locale=locale)
    return await fake.followup(interaction)


@pytest.mark.slow
@requires_chroma
def test_the_bot_survives_its_chroma_server_going_down_and_up(tmp_path: Path, embedder: Embedder) -> None:
    server = ChromaServer(tmp_path / "server-data", free_port())
    articles = tmp_path / "articles"
    shutil.copytree(SEEDS, articles)
    settings = load_settings(
        articles_dir=articles,
        data_dir=tmp_path / "data",
        chroma_host="127.0.0.1",
        chroma_port=server.port,
        watch_articles=False,
        cooldown_seconds=0,
    )
    server.start()
    try:
        Retriever(settings, embedder=embedder).index()
    finally:
        server.stop()

    # Down at start: the bot still starts and connects.
    def make_bot() -> CitebotBot:
        configured = settings.model_copy(update={"sync_guild_id": int(harness.fake.guild_id)})
        return CitebotBot(configured, Retriever(configured, embedder=embedder), guild_ready_timeout=0.1)

    harness = BotHarness(make_bot)
    harness.start()
    try:

        def ask(question: str, locale: str = "en-US") -> Message:
            async def scenario(fake: FakeDiscord, bot: Any) -> Message:
                return await _ask(fake, question, locale)

            return harness.run(scenario)

        def assert_unreachable(reply: Message, language: str = "en") -> None:
            assert reply.json["flags"] == EPHEMERAL and not reply.json.get("embeds")
            assert reply.json["content"] == t(language, "error_store")
            assert str(server.port) not in reply.json["content"]

        assert_unreachable(ask("What did No Music for ICE demand?"))
        assert_unreachable(ask("Qu'a demandé No Music for ICE ?", locale="fr"), "fr")

        for cycle in range(2):
            server.start()  # back on the same path and port: the same bot answers
            answer = ask("What did No Music for ICE demand?")
            assert answer.json["embeds"] and answer.json["allowed_mentions"] == {"parse": []}
            assert any("001_4b0b25bb2bafa5d9.txt" in f["name"] for f in answer.json["embeds"][0]["fields"])
            server.stop()
            assert_unreachable(ask(f"Who is Andy Jassy? ({cycle})"))
        server.start()
        assert ask("Which company works with ICE on data analytics?").json["embeds"]
        assert harness.fake.unhandled == []
    finally:
        harness.stop()
        server.stop()
