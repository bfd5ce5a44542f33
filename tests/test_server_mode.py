"""Server mode: index and ask through a real ``chroma run`` on 127.0.0.1, restarted mid-way."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from config import load_settings
from retrieval.embedding import Embedder
from retrieval.errors import StoreUnavailableError
from retrieval.service import Retriever

from chroma_server import ChromaServer, free_port, requires_chroma

pytestmark = [requires_chroma, pytest.mark.slow]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ChromaServer]:
    chroma = ChromaServer(tmp_path / "server-data", free_port())
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

    (articles / "new.md").write_text(
        "# Festival\n\nIntersect Festival moved to Reno this year.", encoding="utf-8"
    )
    report = retriever.index()
    assert report.added == ["new.md"] and retriever.store.count() == stored + 1
    assert not retriever.index().modified

    # The server goes away: a clear error naming it, not a traceback.
    server.stop()
    with pytest.raises(
        StoreUnavailableError, match=rf"cannot reach Chroma server 127\.0\.0\.1:{server.port}"
    ):
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
    assert any(
        "Palantir" in p.text for p in fresh.search("Which company works with ICE on data analytics?").passages
    )
