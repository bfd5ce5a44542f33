"""`citebot run` without the network: a missing token, and the token never logged."""

from __future__ import annotations

import logging

import pytest

from bot.main import TokenFilter
from citebot import main


def test_citebot_run_without_a_token_says_so_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run"]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        "\n" not in err
        and err.startswith("citebot: error: no Discord token")
        and "CITEBOT_DISCORD_TOKEN" in err
    )


def test_the_token_is_masked_in_log_records() -> None:
    token = "MTIz.secret.XYZ"
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "connecting with %s and %d", (token, 3), None)
    assert TokenFilter(token).filter(record)
    assert record.getMessage() == "connecting with [token] and 3"


def test_the_bot_does_not_warn_about_voice_it_never_uses(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    import discord

    from bot.app import CitebotBot
    from config import load_settings
    from retrieval.service import Retriever

    # As in a fresh process, where discord.py warns once about PyNaCl and davey.
    monkeypatch.setattr(discord.VoiceClient, "warn_nacl", True)
    monkeypatch.setattr(discord.VoiceClient, "warn_dave", True)
    settings = load_settings(articles_dir=tmp_path, data_dir=tmp_path / "data")
    with caplog.at_level(logging.WARNING):
        CitebotBot(settings, Retriever(settings))
    assert "voice will NOT be supported" not in caplog.text
