"""Shared fixtures: the real default model loaded once, real Chroma in temp folders."""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from config import Settings, load_settings
from retrieval.embedding import Embedder, create_embedder
from retrieval.service import Retriever

from data_paths import SEEDS


class RememberingEmbedder:
    """The real model, remembering the vector of every text it has embedded.

    Many tests index the same seed articles from scratch; each text is encoded by the
    model once per session and its vector reused after that (the model's own output,
    from the first batch it came in). Everything else is the model's.
    """

    def __init__(self, model: Embedder) -> None:
        self.model = model
        self.identity = model.identity
        self.dim = model.dim
        self.max_tokens = model.max_tokens
        self._passages: dict[str, np.ndarray] = {}
        self._queries: dict[str, np.ndarray] = {}

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts, self._passages, self.model.embed_passages)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts, self._queries, self.model.embed_queries)

    def count_tokens(self, text: str) -> int:
        return self.model.count_tokens(text)

    def _embed(self, texts: Sequence[str], known: dict[str, np.ndarray], encode) -> np.ndarray:  # type: ignore[no-untyped-def]
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            known.update(zip(missing, np.asarray(encode(missing), dtype=np.float32)))
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([known[t] for t in texts])


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's CITEBOT_* variables or .env."""
    import os

    for name in list(os.environ):
        if name.startswith("CITEBOT_") and name != "CITEBOT_TEST_SEED":  # a crash test's seed, to replay it
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The real default embedding model, loaded once for the whole run."""
    return RememberingEmbedder(create_embedder(load_settings()))


@pytest.fixture
def articles(tmp_path: Path) -> Path:
    """A writable copy of the seed articles."""
    folder = tmp_path / "articles"
    shutil.copytree(SEEDS, folder)
    return folder


@pytest.fixture
def settings(tmp_path: Path, articles: Path) -> Settings:
    return load_settings(articles_dir=articles, data_dir=tmp_path / "data")


@pytest.fixture
def retriever(settings: Settings, embedder: Embedder) -> Retriever:
    return Retriever(settings, embedder=embedder)


@pytest.fixture(scope="session")
def seeds_retriever(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[Retriever]:
    """A retriever over the seeds, indexed once for read-only tests."""
    data = tmp_path_factory.mktemp("seeds-data")
    retriever = Retriever(load_settings(articles_dir=SEEDS, data_dir=data), embedder=embedder)
    retriever.index()
    yield retriever
