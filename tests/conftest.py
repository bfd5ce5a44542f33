"""Shared fixtures: the real default model loaded once, real Chroma in temp folders."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from config import Settings, load_settings
from retrieval.embedding import Embedder, create_embedder
from retrieval.service import Retriever

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
DATA = ROOT / "benchmarks" / "data"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's CITEBOT_* variables or .env."""
    import os

    for name in list(os.environ):
        if name.startswith("CITEBOT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The real default embedding model, loaded once for the whole run."""
    return create_embedder(load_settings())


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
