"""How `citebot ask` shows an answer: the highlighted sentence marked ``**…**`` in a terminal and
when piped, a long passage cut around that sentence (``--full``: whole), JSON never cut."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import citebot
from citebot import ELLIPSIS, EXCERPT_CHARS, _excerpt, main
from retrieval.service import Retriever

from data_paths import ROOT

QUESTION = "What did No Music for ICE demand?"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def seeds(monkeypatch: pytest.MonkeyPatch, seeds_retriever: Retriever) -> Retriever:
    """`citebot` commands answer from the seeds indexed once for the session."""
    monkeypatch.setattr(citebot, "_retriever", lambda settings: seeds_retriever)
    return seeds_retriever


def _ask(capsys: pytest.CaptureFixture[str], *options: str) -> str:
    assert main(["ask", QUESTION, *options]) == 0
    return capsys.readouterr().out


def _passages(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    passages = json.loads(_ask(capsys, "--json"))["passages"]
    assert passages and all(p["highlight"] for p in passages)
    return passages  # type: ignore[no-any-return]


def _marked(p: dict[str, object]) -> str:
    text, highlight = str(p["text"]), str(p["highlight"])
    return text.replace(highlight, f"**{highlight}**", 1)


def _shown(out: str, rank: int) -> str:
    """The text printed for passage ``rank``: from the line after its citation to the next citation."""
    start = out.index("\n", out.index(f"\n[{rank}] ") + 1) + 1
    end = out.find(f"\n[{rank + 1}] ", start)
    return out[start : end if end >= 0 else len(out)].strip("\n")


def test_piped_output_marks_each_highlighted_sentence_between_double_stars(
    seeds: Retriever, capsys: pytest.CaptureFixture[str]
) -> None:
    passages = _passages(capsys)
    out = _ask(capsys)
    assert "\x1b[" not in out
    for p in passages:
        assert f"**{p['highlight']}**" in _shown(out, int(p["rank"]))  # type: ignore[call-overload]


def test_a_terminal_shows_the_sentence_in_bold_and_between_markers(
    seeds: Retriever, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    passages = _passages(capsys)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("COLUMNS", "5000")  # no wrapping inside a passage
    out = _ask(capsys)
    plain = ANSI.sub("", out)
    for p in passages:
        assert f"**{p['highlight']}**" in plain
    bold_markers = re.findall(r"\x1b\[(?:\d+;)*1(?:;\d+)*m\*\*", out)
    assert len(bold_markers) == len(passages)


def test_the_closest_passages_of_an_unanswered_question_mark_no_sentence(
    seeds: Retriever, capsys: pytest.CaptureFixture[str]
) -> None:
    question = "Who won the 2022 football world cup?"
    assert main(["ask", question, "--json"]) == 0
    declined = json.loads(capsys.readouterr().out)
    assert not declined["answered"] and declined["passages"][0]["highlight"]
    assert main(["ask", question]) == 0
    out = capsys.readouterr().out
    assert "do not seem to answer" in out and "**" not in out
    assert declined["passages"][0]["highlight"][:40] in _shown(out, 1)  # the text around it is still shown


def test_a_long_passage_is_cut_around_its_sentence_by_default_and_whole_with_full(
    seeds: Retriever, capsys: pytest.CaptureFixture[str]
) -> None:
    passages = _passages(capsys)
    long = [p for p in passages if len(str(p["text"])) > EXCERPT_CHARS * 6 // 5]
    assert long, "the seeds' passages are longer than an excerpt"
    out, full = _ask(capsys), _ask(capsys, "--full")
    for p in passages:
        assert _marked(p) in full
    for p in long:
        text, highlight = str(p["text"]), str(p["highlight"])
        shown = _shown(out, int(p["rank"]))  # type: ignore[call-overload]
        assert _marked(p) not in out and ELLIPSIS in shown
        assert len(shown) <= max(EXCERPT_CHARS, len(highlight)) + 4 + 4  # two "… " and two "**"
        # What is shown is one piece of the passage around the sentence, cut between words.
        kept = shown.replace(f"**{highlight}**", highlight).removeprefix(f"{ELLIPSIS} ")
        kept = kept.removesuffix(f" {ELLIPSIS}")
        at = text.index(kept)
        assert highlight in kept
        assert at == 0 or text[at - 1].isspace()
        assert at + len(kept) == len(text) or text[at + len(kept)].isspace()


def test_json_keeps_each_passage_whole_with_its_highlight_as_written(
    seeds: Retriever, capsys: pytest.CaptureFixture[str]
) -> None:
    passages = _passages(capsys)
    assert json.loads(_ask(capsys, "--json", "--full"))["passages"] == passages
    searched = seeds.search(QUESTION).passages
    assert [p["text"] for p in passages] == [p.text for p in searched]
    assert any(len(str(p["text"])) > EXCERPT_CHARS * 6 // 5 for p in passages)
    for p in passages:
        assert str(p["highlight"]) in str(p["text"])


def test_ask_help_and_the_readme_say_what_is_shown_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["ask", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--full" in help_text and f"about {EXCERPT_CHARS} characters" in help_text
    assert "**like this**" in help_text
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert "[--full]" in readme and f"about {EXCERPT_CHARS} characters" in readme


#: Text with words, sentence ends and paragraphs, or any text at all.
PROSE = st.one_of(st.text(alphabet="ab .!?»\n", max_size=1500), st.text(max_size=1500))


@settings(max_examples=300, deadline=None)
@given(PROSE, st.text(min_size=1, max_size=300), PROSE, st.integers(0, 800))
def test_an_excerpt_is_a_piece_of_the_text_around_the_sentence(
    before: str, highlight: str, after: str, chars: int
) -> None:
    text = before + highlight + after
    shown_before, best, shown_after = _excerpt(text, highlight, chars)
    if not highlight.strip():
        assert (shown_before, best, shown_after) == (text, "", "")
        return
    assert best == highlight.strip()
    at = text.index(best)
    whole_before, whole_after = text[:at], text[at + len(best) :]
    assert (
        shown_before == whole_before
        or (shown_before.startswith(f"{ELLIPSIS} ") and whole_before.endswith(shown_before[2:]))
        or (shown_before == "" and not whole_before.strip())
    )  # blank lines only are left out
    assert (
        shown_after == whole_after
        or (shown_after.endswith(f" {ELLIPSIS}") and whole_after.startswith(shown_after[:-2]))
        or (shown_after == "" and not whole_after.strip())
    )
    if len(text) <= chars * 6 // 5:
        assert shown_before + best + shown_after == text
    else:
        assert len(shown_before) + len(best) + len(shown_after) <= max(chars, len(best)) + 4
    assert _excerpt(text, highlight, None) == (whole_before, best, whole_after)
