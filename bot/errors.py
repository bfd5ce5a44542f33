"""What every part of the bot tells a member when something goes wrong, and what it logs.

Shared by the command tree's error handler, the answer buttons and the mention
listener, so a failure reads the same however the question was asked.
"""

from __future__ import annotations

import logging

from discord import app_commands

from bot.i18n import STRINGS, t
from retrieval.errors import (
    CitebotError,
    IndexBusyError,
    NoIndexError,
    QuestionError,
    StoreUnavailableError,
)

log = logging.getLogger(__name__)


class UserFacingError(Exception):
    """A refusal whose message (already in the user's language) is shown as is."""


def user_message(error: BaseException, language: str) -> tuple[str, bool]:
    """What to tell the user about ``error``, and whether it is the user's doing.

    The user's doing (a refusal, a bad question, a cooldown) is logged in one line;
    anything else with its traceback, for whoever runs the bot.
    """
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, QuestionError) and error.reason in STRINGS["en"]:
        return t(language, error.reason, **error.values), True
    if isinstance(error, (UserFacingError, QuestionError)):
        return str(error), True
    if isinstance(error, IndexBusyError):
        return t(language, "error_busy"), False
    if isinstance(error, NoIndexError):  # a first index run under way, or none yet
        return t(language, "error_no_index"), False
    if isinstance(error, StoreUnavailableError):
        # The detail (which server, why) is for the log, not for the channel.
        return t(language, "error_store"), False
    if isinstance(error, CitebotError):
        return str(error), False
    if isinstance(error, app_commands.NoPrivateMessage):
        return t(language, "error_guild_only"), True
    if isinstance(error, app_commands.MissingPermissions):
        return t(language, "error_permissions"), True
    if isinstance(error, app_commands.CommandOnCooldown):
        return t(language, "error_cooldown", seconds=max(1.0, error.retry_after)), True
    return t(language, "error_generic"), False


def explain(error: BaseException, language: str, what: str) -> str:
    """The line to show for ``error`` during ``what`` (e.g. "/ask by …"), logged on the way:
    a refusal in one line, anything unexpected with its traceback."""
    text, expected = user_message(error, language)
    if expected:
        log.info("%s: refused: %s", what, text)
    else:
        log.error("%s failed", what, exc_info=error)
    return text
