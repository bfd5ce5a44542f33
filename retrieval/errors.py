"""Exceptions with messages meant for the user, not tracebacks."""

from __future__ import annotations


class CitebotError(Exception):
    """Base class: the message is one clear line that can be shown as is."""


class QuestionError(CitebotError):
    """The question is empty, too long or otherwise unusable.

    ``reason`` names the message and ``values`` its parts, so that the bot can say it in
    the member's language (``bot.i18n``); the message itself is English.
    """

    def __init__(self, message: str, reason: str = "", **values: object) -> None:
        super().__init__(message)
        self.reason = reason
        self.values = values


class ArticlesDirError(CitebotError):
    """The articles folder is missing or not a folder."""


class IndexBusyError(CitebotError):
    """Another process holds the data folder's write lock."""


class IndexMismatchError(CitebotError):
    """The stored index was built with another embedding model."""


class StoreUnavailableError(CitebotError):
    """The Chroma server cannot be reached."""


class NoIndexError(StoreUnavailableError):
    """The store holds no index yet: nothing has been indexed, or the first run is under way."""


class EmbedderError(CitebotError):
    """The embedding backend or model cannot be loaded."""


class FeedError(CitebotError):
    """A feed cannot be added, removed or read: not a feed, unreachable, unknown, already there."""


class MassRemovalError(CitebotError):
    """An index run would remove most of a library's articles; ``--prune`` allows it."""


class ReadOnlyError(CitebotError):
    """This process is a read-only replica (``CITEBOT_READ_ONLY``): it never writes the index."""


class LibraryError(CitebotError):
    """A library name that cannot be used, or a library that does not exist."""
