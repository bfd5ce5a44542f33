"""Fuzzing with hypothesis: hostile questions, article files, settings and reply text.

Each target gets either a clear, expected outcome (an answer; a ``QuestionError``;
a file skipped with a reason; a one-line ``SettingsError``; an embed within
Discord's limits with every mention inert) or the test fails. Example counts are
fixed (``max_examples``) so the run stays bounded; they are the figures reported
for issue 6.
"""

from __future__ import annotations

import codecs
import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.replies import embed_violations, message_text, source_embed, sources_embed
from config import Settings, SettingsError, load_settings
from retrieval.articles import ARTICLE_SUFFIXES, ArticleFile, ArticleSkipped, read_article
from retrieval.embedding import Embedder
from retrieval.errors import QuestionError
from retrieval.models import Answer, SourceInfo
from retrieval.service import Retriever, clean_question

from index_checks import assert_consistent

MENTIONS = ["@everyone", "@here", "<@&123456789012345678>", "<@42>", "<@!42>", "<#42>", "@Everyone"]
RAW_MENTION = re.compile(r"@(everyone|here)|<@[!&]?\d+>|<#\d+>")
MARKDOWN = [
    "```python\nprint('x')\n```",
    "`code`",
    "**bold**",
    "> quote",
    "# Title",
    "||spoiler||",
    "[a](http://x)",
]
SCRIPTS = ["Qui a fondé Paris ?", "東京はどこ", "Москва", "القاهرة", "🙂🔥", "e\u0301te\u0301", "ℌ𝔢𝔩𝔩𝔬"]
CONTROL = st.characters(min_codepoint=0, max_codepoint=0x1F) | st.sampled_from(
    ["\x7f", "\u200b", "\u202e", "\ufeff", "\u2028"]
)
HOSTILE = st.lists(
    st.one_of(st.text(max_size=40), st.sampled_from(MENTIONS + MARKDOWN + SCRIPTS), CONTROL, st.just(" ")),
    max_size=30,
).map("".join)
QUESTIONS = st.one_of(
    HOSTILE,
    st.just(""),
    st.text(alphabet=" \t\n\r\u00a0\u3000", max_size=50),
    st.integers(990, 100_000).map(lambda n: ("a" * 9 + " ") * (n // 10)),
    st.text(alphabet=CONTROL, max_size=30),
)

CLEAN_EXAMPLES = 500
SEARCH_EXAMPLES = 60
ARTICLE_EXAMPLES = 30
BYTES_EXAMPLES = 400
SETTINGS_EXAMPLES = 300
REPLY_EXAMPLES = 200


@settings(max_examples=CLEAN_EXAMPLES, deadline=None)
@given(QUESTIONS, st.integers(10, 2000))
def test_clean_question_returns_clean_text_or_a_clear_error(question: str, limit: int) -> None:
    try:
        text = clean_question(question, limit)
    except QuestionError as error:
        message = str(error)
        assert message and "\n" not in message
        assert message.startswith(("the question is empty", "the question is too long"))
        return
    assert text and len(text) <= limit and text == text.strip()
    assert not re.search(r"[\x00-\x1f\x7f\u200b\u202e\ufeff\u2028]", text)
    assert re.search(r"\w", text)


@settings(
    max_examples=SEARCH_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(question=QUESTIONS)
def test_search_answers_or_refuses_any_question(seeds_retriever: Retriever, question: str) -> None:
    try:
        answer = seeds_retriever.search(question)
    except QuestionError as error:
        assert "\n" not in str(error)
        return
    assert isinstance(answer, Answer)
    assert len(answer.passages) <= seeds_retriever.settings.top_k
    sources = {s.source_id for s in seeds_retriever.sources()}
    for rank, p in enumerate(answer.passages, 1):
        assert p.rank == rank and p.source_id in sources and p.text


# --- Article files ----------------------------------------------------------------------

MAX_ARTICLE_BYTES = 20_000
TEXT = st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=400)


@st.composite
def article_files(draw: st.DrawFn) -> dict[str, bytes]:
    """A folder's worth of hostile files: ``{file name: bytes}``."""
    files: dict[str, bytes] = {}
    for n in range(draw(st.integers(1, 4))):
        kind = draw(
            st.sampled_from(
                [
                    "binary",
                    "invalid-utf8",
                    "utf16",
                    "windows-1252",
                    "empty",
                    "blank",
                    "enormous",
                    "nested-html",
                    "malformed-html",
                    "duplicate",
                    "text",
                    "markdown",
                    "front-matter",
                    "bad-sidecar",
                    "unsupported",
                ]
            )
        )
        suffix = ".txt"
        if kind == "binary":
            data = draw(st.binary(min_size=1, max_size=300)) + b"\x00\x01\x02"
        elif kind == "invalid-utf8":
            data = draw(TEXT).encode() + b"\xff\xfe\xc3\x28" + draw(TEXT).encode()
        elif kind == "utf16":  # a byte order mark, then text or noise
            bom = draw(st.sampled_from([codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE]))
            encoding = "utf-16-le" if bom == codecs.BOM_UTF16_LE else "utf-16-be"
            noise = draw(st.booleans())
            data = bom + (draw(st.binary(max_size=300)) if noise else draw(TEXT).encode(encoding))
        elif kind == "windows-1252":
            data = ("L’été « " + draw(TEXT) + " » à Genève.").encode("cp1252", errors="replace")
        elif kind == "empty":
            data = b""
        elif kind == "blank":
            data = draw(st.text(alphabet=" \n\t\r", max_size=30)).encode()
        elif kind == "enormous":
            data = ("Big news. " * (MAX_ARTICLE_BYTES // 10 + 1)).encode()
        elif kind == "nested-html":
            depth = draw(st.integers(100, 3000))
            data = (
                "<html><body>" + "<div>" * depth + draw(TEXT) + "</div>" * depth + "</body></html>"
            ).encode()
            suffix = ".html"
        elif kind == "malformed-html":
            data = (
                "<html><head><title>"
                + draw(TEXT)
                + "<body><p>"
                + draw(TEXT)
                + "<div><script>"
                + draw(TEXT)
                + "</p></span>"
            ).encode(errors="surrogatepass")
            suffix = ".html"
        elif kind == "duplicate" and files:
            data = next(iter(files.values()))
            suffix = ".txt"
        elif kind == "markdown":
            data = ("# " + draw(HOSTILE) + "\n\n" + draw(HOSTILE) + "\n\n" + draw(TEXT)).encode()
            suffix = ".md"
        elif kind == "front-matter":
            data = ("---\ntitle: [unclosed\nlanguage: " + draw(TEXT) + "\n---\n" + draw(TEXT)).encode()
            suffix = ".md"
        elif kind == "unsupported":
            data = draw(TEXT).encode()
            suffix = ".pdf"
        else:
            data = (draw(HOSTILE) + "\n\n" + draw(TEXT)).encode()
        name = f"f{n}_{kind}{suffix}"
        files[name] = data
        if kind == "bad-sidecar":
            files[name + ".meta.json"] = draw(
                st.sampled_from(
                    [b"{", b"[]", b'{"title": 5, "url": []}', b"\xff", b'{"language": "' + b"x" * 500 + b'"}']
                )
            )
    return files


@st.composite
def file_bytes(draw: st.DrawFn) -> bytes:
    """Any bytes, and the near-text ones each reading path must tell apart: a byte order
    mark before text or noise, UTF-8 with stray bytes, Windows-1252 text."""
    kind = draw(st.sampled_from(["bytes", "bom", "stray", "windows-1252"]))
    if kind == "bytes":
        return draw(st.binary(max_size=400))
    if kind == "bom":
        bom = draw(st.sampled_from([codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE]))
        encoding = {codecs.BOM_UTF8: "utf-8", codecs.BOM_UTF16_LE: "utf-16-le"}.get(bom, "utf-16-be")
        return bom + (draw(st.binary(max_size=300)) if draw(st.booleans()) else draw(TEXT).encode(encoding))
    if kind == "stray":
        return draw(TEXT).encode() + draw(st.binary(min_size=1, max_size=4)) + draw(TEXT).encode()
    return draw(TEXT).encode("cp1252", errors="replace")


@settings(max_examples=BYTES_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(file_bytes(), st.sampled_from(sorted(ARTICLE_SUFFIXES)))
def test_any_file_is_read_as_text_or_skipped_with_a_reason(data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory(prefix="citebot-bytes-") as folder:
        path = Path(folder) / f"article{suffix}"
        path.write_bytes(data)
        try:
            article = read_article(ArticleFile(path, path.name, "0" * 64), MAX_ARTICLE_BYTES)
        except ArticleSkipped as why:
            assert str(why) and "\n" not in str(why)
            return
    assert article.text.strip() and article.title
    for text in (article.text, article.title):
        text.encode("utf-8")  # no lone surrogate: Chroma and Discord take it
        assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", text)


@pytest.mark.slow  # a reindex of many passages, a fresh process loading the model, or fuzzing
def test_hostile_article_files_are_skipped_with_a_reason_or_indexed(embedder: Embedder) -> None:
    root = Path(tempfile.mkdtemp(prefix="citebot-fuzz-"))
    folder = root / "articles"
    folder.mkdir()
    retriever = Retriever(
        load_settings(articles_dir=folder, data_dir=root / "data", max_article_bytes=MAX_ARTICLE_BYTES),
        embedder=embedder,
    )
    tried: list[str] = []

    # One retriever across examples: each example replaces the folder's files, so the
    # incremental index goes through additions, changes and removals of hostile files.
    @settings(max_examples=ARTICLE_EXAMPLES, deadline=None)
    @given(article_files())
    def check(files: dict[str, bytes]) -> None:
        for path in folder.iterdir():
            path.unlink()
        for name, data in files.items():
            (folder / name).write_bytes(data)
        tried.extend(files)
        report = retriever.index(prune=True)  # each example replaces the whole folder
        catalog = retriever.store.catalog().entries
        for name in files:
            if name.endswith(".meta.json"):
                continue
            if Path(name).suffix not in ARTICLE_SUFFIXES:
                assert name not in catalog
                continue
            indexed = name in catalog and catalog[name].sha256
            assert indexed or name in report.skipped, f"{name} neither indexed nor skipped"
            if name in report.skipped:
                assert report.skipped[name] and "\n" not in report.skipped[name]
        assert set(catalog) <= set(files)
        assert_consistent(retriever)
        for info in retriever.sources():
            assert embed_violations(source_embed(info, "en")) == []

    try:
        check()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"fuzz: {len(tried)} hostile files over {ARTICLE_EXAMPLES} indexing runs")


# --- Settings ---------------------------------------------------------------------------

FIELDS = sorted(Settings.model_fields)
ENV_VALUE = st.one_of(
    st.text(st.characters(blacklist_characters="\x00", blacklist_categories=["Cs"]), max_size=30),
    st.sampled_from(
        [
            "-1",
            "0",
            "1e309",
            "nan",
            "inf",
            "-inf",
            "true",
            "yes",
            "[",
            "[1, 2]",
            '["a", 3]',
            "{}",
            "99999999999999999999999",
            "1.5",
            " 7 ",
            "0x10",
            "None",
            "null",
            "~/x",
            "../..",
            "",
        ]
    ),
)


@settings(max_examples=SETTINGS_EXAMPLES, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS), ENV_VALUE, min_size=1, max_size=3))
def test_any_setting_value_loads_or_fails_in_one_line(values: dict[str, str]) -> None:
    names = {f"CITEBOT_{field.upper()}": value for field, value in values.items()}
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(names)
    try:
        load_settings()
    except SettingsError as error:
        message = str(error)
        assert "\n" not in message and message.startswith("invalid setting ")
        assert any(name in message for name in names) or "CITEBOT_" in message
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# --- Replies ------------------------------------------------------------------------------


@st.composite
def source_infos(draw: st.DrawFn) -> SourceInfo:
    return SourceInfo(
        source_id=draw(HOSTILE) or "a.txt",
        title=draw(st.one_of(HOSTILE, st.text(max_size=3000))),
        language=draw(
            st.one_of(st.sampled_from(["en", "fr", "und"]), HOSTILE, st.text(min_size=1000, max_size=3000))
        ),
        chunks=draw(st.integers(0, 10**6)),
        indexed_at=draw(st.one_of(st.just("2026-11-26T09:40:00+00:00"), st.text(max_size=40))),
        url=draw(st.one_of(st.none(), HOSTILE, st.text(min_size=1000, max_size=3000))),
    )


@settings(max_examples=REPLY_EXAMPLES, deadline=None)
@given(st.lists(source_infos(), max_size=20), st.integers(-3, 5), st.sampled_from(["en", "fr"]))
def test_source_replies_fit_discord_and_ping_no_one(
    sources: list[SourceInfo], page: int, language: str
) -> None:
    for embed in [sources_embed(sources, page, language), *(source_embed(s, language) for s in sources)]:
        assert embed_violations(embed) == []
        assert not RAW_MENTION.search(str(embed.to_dict()))


@settings(max_examples=REPLY_EXAMPLES, deadline=None)
@given(st.one_of(HOSTILE, st.text(min_size=1900, max_size=5000)))
def test_plain_messages_fit_and_ping_no_one(text: str) -> None:
    out = message_text(text)
    assert len(out) <= 2000 and not RAW_MENTION.search(out)
