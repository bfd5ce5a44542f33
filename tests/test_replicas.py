"""One Chroma server, one writer, read-only replicas: everything through a real ``chroma run``.

The writer runs in this process; each replica is a real ``citebot ask --batch -``
process with its own empty data folder and no articles folder, asked question after
question through a pipe, so it keeps running while the writer changes the library.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from config import Settings, load_settings
from retrieval.embedding import Embedder
from retrieval.layout import DataFolder
from retrieval.service import Retriever

from chroma_server import ChromaServer, free_port, requires_chroma
from data_paths import ROOT
from index_checks import assert_consistent

pytestmark = [requires_chroma, pytest.mark.slow]

QUESTIONS = [
    "What did No Music for ICE demand?",
    "Quel festival à Las Vegas est alimenté par AWS ?",
    "Who is Andy Jassy?",
    "Which data analytics company uses AWS and works with ICE?",
]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ChromaServer]:
    chroma = ChromaServer(tmp_path / "server-data", free_port())
    chroma.start()
    try:
        yield chroma
    finally:
        chroma.stop()


def _settings(server: ChromaServer, data: Path, articles: Path, **more: Any) -> Settings:
    return load_settings(
        articles_dir=articles, data_dir=data, chroma_host="127.0.0.1", chroma_port=server.port, **more
    )


def _env(server: ChromaServer, data: Path, articles: Path, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITEBOT_")}
    env.update(
        CITEBOT_CHROMA_HOST="127.0.0.1",
        CITEBOT_CHROMA_PORT=str(server.port),
        CITEBOT_DATA_DIR=str(data),
        CITEBOT_ARTICLES_DIR=str(articles),
        PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        **more,
    )
    return env


class Replica:
    """A read-only ``citebot ask --batch -`` process, asked one question at a time."""

    def __init__(self, server: ChromaServer, data: Path) -> None:
        env = _env(
            server, data, data / "no-articles", CITEBOT_READ_ONLY="true", CITEBOT_REFRESH_SECONDS="0.2"
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "citebot", "ask", "--batch", "-", "--json"],
            env=env,
            cwd=data.parent,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def ask(self, question: str) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(question + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(
                f"the replica stopped: {self.proc.stderr.read() if self.proc.stderr else ''}"
            )
        return json.loads(line)

    def close(self) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(60)
        return self.proc.stderr.read() if self.proc.stderr else ""


def _same(replica: dict[str, Any], writer: dict[str, Any]) -> None:
    assert replica["answered"] == writer["answered"], (replica["question"], replica["answered"])
    got = [(p["rank"], p["source"], p["location"], p["score"], p["text"]) for p in replica["passages"]]
    want = [(p["rank"], p["source"], p["location"], p["score"], p["text"]) for p in writer["passages"]]
    assert got == want, replica["question"]


def _eventually(check: Any, seconds: float = 20.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.3)


def test_replicas_rank_as_the_writer_and_follow_its_changes(
    server: ChromaServer, articles: Path, tmp_path: Path, embedder: Embedder
) -> None:
    writer = Retriever(_settings(server, tmp_path / "writer", articles), embedder=embedder)
    writer.index()
    replicas = [Replica(server, tmp_path / f"replica-{n}") for n in (1, 2)]
    try:
        for question in QUESTIONS:
            want = writer.search(question).to_json()
            for replica in replicas:
                _same(replica.ask(question), want)
        # Each replica built its BM25 from the store alone, in its own data folder.
        for n in (1, 2):
            assert DataFolder(tmp_path / f"replica-{n}").lexical_cache("base").exists()
            assert not (tmp_path / f"replica-{n}" / "no-articles").exists()

        # The writer adds, changes and removes articles; the replicas see it within seconds.
        (articles / "reno.md").write_text(
            "# Intersect moves\n\nThe Intersect Festival will be held in Reno next year, organisers said.",
            encoding="utf-8",
        )
        edited = articles / "003_8dd3d7f5671449ac.txt"
        edited.write_text(
            edited.read_text(encoding="utf-8").replace("Andy Jassy", "Andrew Jassy"), encoding="utf-8"
        )
        (articles / "002_5a2e0eb1296bfe3d.txt").unlink()
        report = writer.index()
        assert report.added == ["reno.md"] and report.changed == [edited.name] and len(report.removed) == 1
        started = time.monotonic()
        for replica in replicas:

            def caught_up(replica: Replica = replica) -> bool:
                answer = replica.ask("Where will the Intersect Festival be held next year?")
                return any(p["source"] == "reno.md" for p in answer["passages"][:1])

            assert _eventually(caught_up), "a replica never saw the new article"
        seen_after = time.monotonic() - started
        assert seen_after < 15.0
        for question in [*QUESTIONS, "Who is Andrew Jassy?"]:
            want = writer.search(question).to_json()
            for replica in replicas:
                answer = replica.ask(question)
                _same(answer, want)
                assert not any(p["source"].startswith("002_") for p in answer["passages"]), (
                    "a removed article"
                )
    finally:
        errors = [replica.close() for replica in replicas]
    assert not any("Traceback" in e for e in errors), errors
    assert_consistent(writer)


def test_a_process_with_an_empty_folder_never_wipes_the_shared_index(
    server: ChromaServer, articles: Path, tmp_path: Path, embedder: Embedder
) -> None:
    """What happened before the catalog moved into Chroma: process B, started with an empty
    articles folder, asked a question, indexed its empty folder and removed every article
    from the shared server."""
    writer = Retriever(_settings(server, tmp_path / "a", articles), embedder=embedder)
    writer.index()
    empty = tmp_path / "empty"
    empty.mkdir()
    env = _env(server, tmp_path / "b", empty)
    asked = subprocess.run(  # noqa: PLW1510 - the exit code is asserted below
        [sys.executable, "-m", "citebot", "ask", "What did No Music for ICE demand?", "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert asked.returncode == 0, asked.stderr
    assert "indexing" not in asked.stderr
    assert json.loads(asked.stdout)["passages"], "B answers from A's index"
    indexed = subprocess.run(  # noqa: PLW1510
        [sys.executable, "-m", "citebot", "index"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert indexed.returncode == 1 and "holds none of the 4 indexed articles" in indexed.stderr
    assert len(writer.sources()) == 4 and writer.search("Who is Andy Jassy?").answered
    assert_consistent(writer)


def test_a_second_writer_is_refused_across_processes(
    server: ChromaServer, articles: Path, tmp_path: Path, embedder: Embedder
) -> None:
    writer = Retriever(_settings(server, tmp_path / "first", articles), embedder=embedder)
    writer.index()
    env = _env(server, tmp_path / "second", articles)
    with writer.writing():  # what a running writer bot holds
        refused = subprocess.run(  # noqa: PLW1510
            [sys.executable, "-m", "citebot", "index"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert refused.returncode == 1
    err = refused.stderr.strip()
    assert "\n" not in err and err.startswith(
        "citebot: error: another citebot process is writing to this store"
    )
    assert f"process {os.getpid()}" in err and "CITEBOT_READ_ONLY" in err
    # Once the first writer lets go, the second may write.
    done = subprocess.run(  # noqa: PLW1510
        [sys.executable, "-m", "citebot", "index", "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["unchanged"]) == 4


def test_libraries_on_a_server_stay_apart(
    server: ChromaServer, articles: Path, tmp_path: Path, embedder: Embedder
) -> None:
    writer = Retriever(_settings(server, tmp_path / "writer", articles), embedder=embedder)
    writer.index()
    guild = tmp_path / "guild-a"
    guild.mkdir()
    (guild / "lighthouse.txt").write_text(
        "Lighthouse news\n\nThe harbour authority lit the new lighthouse on the first of May.",
        encoding="utf-8",
    )
    writer.index(guild, library="guild-a")
    reader = Retriever(
        _settings(server, tmp_path / "reader", tmp_path / "none", read_only=True), embedder=embedder
    )
    question = "When was the new lighthouse lit?"
    assert reader.search(question, library="guild-a").passages[0].source_id == "lighthouse.txt"
    assert all(p.source_id != "lighthouse.txt" for p in reader.search(question, library="guild-b").passages)
    assert all(p.source_id != "lighthouse.txt" for p in reader.search(question).passages)


def test_a_following_replica_outlives_a_server_restart(
    server: ChromaServer,
    articles: Path,
    tmp_path: Path,
    embedder: Embedder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The bot's follower against a real ``chroma run`` that stops and starts again: one
    warning, the questions meanwhile get the store's error, and then it answers again."""
    from retrieval.errors import StoreUnavailableError

    Retriever(_settings(server, tmp_path / "writer", articles), embedder=embedder).index()
    replica = Retriever(
        _settings(server, tmp_path / "replica", tmp_path / "none", read_only=True, refresh_seconds=0.2),
        embedder=embedder,
    )
    assert replica.warm() > 0
    replica.follow()
    try:
        with caplog.at_level("INFO", logger="retrieval.library"):
            server.stop()
            assert _eventually(lambda: "could not check the store" in caplog.text)
            time.sleep(0.8)  # past the follower's grace: the search reaches the store itself
            with pytest.raises(StoreUnavailableError, match="cannot reach Chroma server"):
                replica.search("Who is Andy Jassy?")
            server.start()
            assert _eventually(lambda: "the store answers again" in caplog.text)
        assert replica.search("Who is Andy Jassy?").answered
        assert caplog.text.count("could not check the store") == 1
    finally:
        replica.stop_following()
