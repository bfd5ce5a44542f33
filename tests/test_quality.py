"""Quality regression: retrieval must not fall below floors set a little under what it reaches.

Figures reached when the floors were set (``citebot eval``, default settings):
seeds_dev hit@1 0.93, hit@3 1.00; squad_dev hit@1 0.92, hit@5 0.99, MRR@5 0.95;
off-topic declined 0.97 with 0.98 of in-domain questions answered; seeds_check hit@1
0.875, hit@3 0.92, all 24 answered.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from config import load_settings
from retrieval.embedding import Embedder
from retrieval.evaluation import Report, evaluate, load_questions
from retrieval.service import Retriever

from data_paths import DATA, SEEDS

#: Hundreds of questions and several indexes: the full suite only.
pytestmark = pytest.mark.slow


def _run(
    articles: Path, questions: Path, data: Path, embedder: Embedder, offtopic: Path | None = None
) -> Report:
    retriever = Retriever(load_settings(articles_dir=articles, data_dir=data), embedder=embedder)
    retriever.index()
    return evaluate(
        lambda q: retriever.search(q, k=5),
        load_questions(questions),
        load_questions(offtopic) if offtopic else [],
    )


@pytest.fixture(scope="module")
def seeds_report(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Report:
    return _run(
        SEEDS, DATA / "seeds_dev.jsonl", tmp_path_factory.mktemp("q-seeds"), embedder, DATA / "offtopic.jsonl"
    )


@pytest.fixture(scope="module")
def squad_report(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Report:
    squad = DATA / "squad_dev"
    return _run(squad / "articles", squad / "questions.jsonl", tmp_path_factory.mktemp("q-squad"), embedder)


def test_seeds_dev_floor(seeds_report: Report) -> None:
    scores = seeds_report.groups["all"].as_dict()
    assert scores["n"] == 14
    assert scores["hit@3"] >= 0.92, scores
    assert scores["hit@1"] >= 0.85, scores
    assert seeds_report.groups["fr"].as_dict()["hit@3"] >= 0.75


def test_squad_dev_floor(squad_report: Report) -> None:
    scores = squad_report.groups["all"].as_dict()
    assert scores["n"] == 473
    assert scores["hit@1"] >= 0.90, scores
    assert scores["hit@5"] >= 0.985, scores
    assert scores["mrr@5"] >= 0.93, scores


def test_declines_off_topic_and_answers_in_domain(seeds_report: Report, squad_report: Report) -> None:
    assert seeds_report.offtopic_n >= 30
    assert seeds_report.offtopic_declined / seeds_report.offtopic_n >= 0.88
    answered = seeds_report.groups["all"].answered + squad_report.groups["all"].answered
    asked = seeds_report.groups["all"].n + squad_report.groups["all"].n
    assert answered / asked >= 0.96


def test_seeds_check_floor(seeds_retriever: Retriever) -> None:
    """The check set: mostly questions answered only in the other language."""
    report = evaluate(
        lambda q: seeds_retriever.search(q, k=5), load_questions(DATA / "seeds_check.jsonl"), []
    )
    scores = report.groups["all"].as_dict()
    assert scores["n"] == 24
    assert scores["hit@1"] >= 0.83, scores
    assert scores["hit@3"] >= 0.87, scores
    assert scores["answered"] >= 0.95, scores
