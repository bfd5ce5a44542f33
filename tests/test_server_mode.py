"""Server mode: index and ask through a real ``chroma run`` on 127.0.0.1, restarted mid-way."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from config import load_settings
from retrieval.embedding import Embedder
from retrieval.errors import StoreUnavailableError
from retrieval.service import Retriever

CHROMA = Path(sys.executable).with_name("chroma")
START_SECONDS = 60

pytestmark = pytest.mark.skipif(
    not CHROMA.exists() and not shutil.which("chroma"), reason="the chroma CLI is not installed"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ChromaServer:
    """One ``chroma run`` subprocess that can be stopped and started again on the same path and port."""

    def __init__(self, path: Path, port: int) -> None:
        self.path, self.port = path, port
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = path.parent / "chroma-server.log"

    def start(self) -> None:
        exe = str(CHROMA) if CHROMA.exists() else str(shutil.which("chroma"))
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [exe, "run", "--path", str(self.path), "--host", "127.0.0.1", "--port", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/v2/heartbeat", timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        pytest.fail(f"chroma run did not answer within {START_SECONDS} s:\n{self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(15)
        self.proc = None


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ChromaServer]:
    chroma = ChromaServer(tmp_path / "server-data", _free_port())
    chroma.start()
    try:
        yield chroma
    finally:
        chroma.stop()


def test_index_ask_reindex_and_restart_through_a_chroma_server(
    server: ChromaServer, articles: Path, tmp_path: Path, embedder: Embedder
) -> None:
    settings = load_settings(
        articles_dir=articles, data_dir=tmp_path / "data", chroma_host="127.0.0.1", chroma_port=server.port
    )
    retriever = Retriever(settings, embedder=embedder)
    report = retriever.index()
    assert len(report.added) == 4
    stored = retriever.store.count()
    assert stored == report.chunks_embedded > 4
    assert not (settings.data_dir / "chroma").exists()  # the vectors live on the server

    answer = retriever.search("What did No Music for ICE demand?")
    assert answer.answered
    assert any("Terminate existing contracts" in p.text for p in answer.passages[:3])

    (articles / "new.md").write_text("# Festival\n\nIntersect Festival moved to Reno this year.", encoding="utf-8")
    report = retriever.index()
    assert report.added == ["new.md"] and retriever.store.count() == stored + 1
    assert not retriever.index().modified

    # The server goes away: a clear error naming it, not a traceback.
    server.stop()
    with pytest.raises(StoreUnavailableError, match=rf"cannot reach Chroma server 127\.0\.0\.1:{server.port}"):
        retriever.search("Where did Intersect Festival move?")
    (articles / "new.md").unlink()
    with pytest.raises(StoreUnavailableError, match="cannot reach Chroma server"):
        retriever.index()
    with pytest.raises(StoreUnavailableError, match="cannot reach Chroma server"):
        Retriever(settings, embedder=embedder).search("Palantir")

    # Back on the same path and port: the data is still there, and the interrupted run finishes.
    server.start()
    answer = retriever.search("Where did Intersect Festival move?")
    assert answer.passages
    report = retriever.index()
    assert report.removed == ["new.md"]
    fresh = Retriever(settings, embedder=embedder)
    assert fresh.store.count() == stored
    assert any("Palantir" in p.text for p in fresh.search("Which company works with ICE on data analytics?").passages)
