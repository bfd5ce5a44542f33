"""``citebot run``: start the bot; this process owns the index and every resource.

The token comes from the settings (``CITEBOT_DISCORD_TOKEN`` or ``.env``) and never
reaches a log line or the terminal: a filter on every log handler masks it, in case
a library ever prints it.
"""

from __future__ import annotations

import asyncio
import logging
import sys

import aiohttp
import discord

from config import Settings
from retrieval.errors import CitebotError

log = logging.getLogger("citebot")

NO_TOKEN = (
    "citebot: error: no Discord token: set CITEBOT_DISCORD_TOKEN in the environment or in .env "
    "(Developer Portal → your application → Bot → Reset Token)"
)
BAD_TOKEN = (
    "citebot: error: Discord rejected the token in CITEBOT_DISCORD_TOKEN; "
    "copy a new one from the Developer Portal (Bot → Reset Token)"
)
UNREACHABLE = "citebot: error: cannot reach Discord ({reason}); check the network connection and try again"
NO_INTENT = (
    "citebot: error: CITEBOT_ASK_CHANNEL_ID and CITEBOT_THREAD_REPLIES need the Message Content intent: "
    "enable it in the Developer Portal (Bot → Privileged Gateway Intents), or unset them"
)


class TokenFilter(logging.Filter):
    """Replaces the token in every log record, arguments included."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.token in message:
            record.msg = message.replace(self.token, "[token]")
            record.args = None
        return True


def _mask_token_in_logs(token: str) -> TokenFilter:
    token_filter = TokenFilter(token)
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(
            level=logging.WARNING, format="citebot: %(levelname)s: %(message)s", stream=sys.stderr
        )
    for handler in root.handlers:
        handler.addFilter(token_filter)
    return token_filter


def _unmask(token_filter: TokenFilter) -> None:
    for handler in logging.getLogger().handlers:
        handler.removeFilter(token_filter)


async def _serve(settings: Settings, token: str) -> None:
    from bot.app import CitebotBot

    # `async with` closes the gateway, the HTTP session and the watcher however we leave.
    async with CitebotBot(settings) as bot:
        await bot.start(token)
    if bot.fatal is not None:  # the start-up catch-up stopped it
        raise bot.fatal


def run_bot(settings: Settings) -> int:
    """Run the bot until interrupted; the process exit code.

    Returns:
        0 after a clean stop, 1 when Discord refuses the token or an intent,
        2 when no token is configured.
    """
    token = settings.discord_token.get_secret_value().strip() if settings.discord_token else ""
    if not token:
        print(NO_TOKEN, file=sys.stderr)
        return 2
    token_filter = _mask_token_in_logs(token)
    try:
        asyncio.run(_serve(settings, token))
    except discord.LoginFailure:
        print(BAD_TOKEN, file=sys.stderr)
        return 1
    except discord.PrivilegedIntentsRequired:
        print(NO_INTENT, file=sys.stderr)
        return 1
    except CitebotError as error:
        # Another writer holds the store, a library cannot be opened: one line, never the token.
        print(f"citebot: error: {str(error).replace(token, '[token]')}", file=sys.stderr)
        return 1
    except (aiohttp.ClientError, OSError, discord.GatewayNotFound) as error:
        # No network, DNS or Discord down: one line, not a traceback (and never the token).
        reason = (str(error).splitlines() or [type(error).__name__])[0][:200].replace(token, "[token]")
        print(UNREACHABLE.format(reason=reason or type(error).__name__), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        _unmask(token_filter)
    return 0
