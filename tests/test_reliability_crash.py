"""Crash consistency: ``citebot index`` killed with SIGKILL at random points, many times.

A real ``python -m citebot index`` subprocess indexes a folder of articles
and is killed after a random delay; between runs articles are edited, removed and
added. After the last, complete run the index must agree with its catalog and
with a clean build: the catalog's passages are exactly the Chroma passages and
the BM25 rows, every passage has its sentences and no sentence lacks its passage,
and asking still cites the right articles (see ``index_checks.assert_consistent``).
Half-written local files (a legacy manifest, a lexical cache cut short) are never
read as valid, and the next run or search repairs what they described.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from config import Settings, load_settings
from retrieval.articles import read_article, scan_folder
from retrieval.chunking import chunk_article
from retrieval.embedding import Embedder
from retrieval.lexical import LexicalIndex
from retrieval.manifest import read_manifest
from retrieval.service import Retriever

from index_checks import assert_consistent
from legacy import make_legacy

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SQUAD = ROOT / "benchmarks" / "data" / "squad_dev" / "articles"
#: How many times a run is killed, each at a random delay up to about how long a run takes.
KILLS = int(os.environ.get("CITEBOT_TEST_KILLS", "8"))
FIRST_RUN_SECONDS = 20.0  # a guess, replaced by how long the last finished run took
MAX_ATTEMPTS = 3 * KILLS  # runs that finish before their kill do not count as kills
RUN_TIMEOUT = 300


def _write_articles(folder: Path) -> None:
    """The seeds plus one SQuAD article cut into five files: long enough to be killed mid-way."""
    shutil.copytree(SEEDS, folder)
    paragraphs = [p for p in (SQUAD / "Normans.txt").read_text(encoding="utf-8").split("\n\n") if p.strip()]
    size = -(-len(paragraphs) // 5)
    for part in range(5):
        chunk = paragraphs[part * size : (part + 1) * size]
        (folder / f"normans_{part}.txt").write_text(
            f"Normans, part {part}\n\n" + "\n\n".join(chunk), encoding="utf-8"
        )


def _env(articles: Path, data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITEBOT_")}
    env.update(
        CITEBOT_ARTICLES_DIR=str(articles),
        CITEBOT_DATA_DIR=str(data),
        OMP_NUM_THREADS="1",
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
    )
    return env


def _start(articles: Path, data: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "citebot", "-v", "index"],
            env=_env(articles, data),
            cwd=articles.parent,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _edit(rng: random.Random, articles: Path, removed: dict[str, str]) -> str:
    """One random change to the folder between runs; what it was, for the failure message."""
    names = sorted(p.name for p in articles.iterdir() if p.suffix == ".txt")
    choice = rng.choice(["edit", "edit", "remove", "restore", "add"])
    if choice == "edit":
        target = articles / rng.choice(names)
        target.write_text(
            target.read_text(encoding="utf-8") + f"\n\nA late correction, number {rng.randrange(10**6)}.",
            encoding="utf-8",
        )
        return f"edited {target.name}"
    if choice == "remove" and len(names) > 4:
        target = articles / rng.choice([n for n in names if n.startswith("normans_")] or names)
        removed[target.name] = target.read_text(encoding="utf-8")
        target.unlink()
        return f"removed {target.name}"
    if choice == "restore" and removed:
        name = rng.choice(sorted(removed))
        (articles / name).write_text(removed.pop(name), encoding="utf-8")
        return f"restored {name}"
    if choice == "add":
        name = f"extra_{rng.randrange(10**6)}.txt"
        (articles / name).write_text(
            f"Extra report {name}\n\nThe harbour of Saint-Malo reopened after the storm, officials said.",
            encoding="utf-8",
        )
        return f"added {name}"
    return "no change"


def _expected_chunks(settings: Settings, embedder: Embedder) -> dict[str, set[str]]:
    """``{source id: chunk ids}`` of a clean build of the folder, computed without embedding."""
    files, _ = scan_folder(settings.articles_dir, settings.max_article_bytes)
    return {
        f.source_id: {
            c.id
            for c in chunk_article(
                read_article(f, settings.max_article_bytes),
                embedder.count_tokens,
                settings.chunk_tokens,
                settings.chunk_overlap_tokens,
            )
        }
        for f in files
    }


@pytest.mark.slow
def test_index_survives_sigkill_at_random_points(tmp_path: Path, embedder: Embedder) -> None:
    articles, data, log = tmp_path / "articles", tmp_path / "data", tmp_path / "index.log"
    _write_articles(articles)
    seed = int(os.environ.get("CITEBOT_TEST_SEED", str(random.randrange(10**6))))
    rng = random.Random(seed)
    removed: dict[str, str] = {}
    history: list[str] = []
    kills = finished = 0
    run_seconds = FIRST_RUN_SECONDS
    for _ in range(MAX_ATTEMPTS):
        if kills >= KILLS:
            break
        history.append(_edit(rng, articles, removed))
        delay = rng.uniform(0.3, 0.9 * run_seconds)
        started = time.monotonic()
        proc = _start(articles, data, log)
        try:
            proc.wait(delay)
            # A slowly fading maximum: one quick run (a removal) does not pull every later
            # kill into start-up, before the first write.
            run_seconds = max(time.monotonic() - started, 0.7 * run_seconds, 2.0)
            assert proc.returncode == 0, f"index failed (seed {seed}, {history}):\n{log.read_text()[-3000:]}"
            finished += 1
            history.append(f"finished within {delay:.1f} s")
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
            kills += 1
            history.append(f"killed at {delay:.1f} s")
    reused = log.read_text(encoding="utf-8", errors="replace").count("left by an interrupted run")
    print(
        f"crash test: seed {seed}, {kills} kills survived, {finished} runs finished, "
        f"{reused} runs found passages a killed run left; {history}"
    )
    assert kills >= KILLS, f"only {kills} runs could be killed (seed {seed}): {history}"

    # A complete run after the last kill converges to a clean build.
    proc = _start(articles, data, log)
    assert proc.wait(RUN_TIMEOUT) == 0, f"seed {seed}, {history}:\n{log.read_text()[-3000:]}"
    settings = load_settings(articles_dir=articles, data_dir=data)
    retriever = Retriever(settings, embedder=embedder)
    assert_consistent(retriever, _expected_chunks(settings, embedder))
    report = retriever.index()
    assert not report.modified and report.chunks_embedded == 0, "a re-run after convergence changed something"

    answer = retriever.search("Who was the duke of the Normans that conquered England?")
    present = {p.name for p in articles.iterdir() if p.suffix == ".txt"}
    assert answer.passages and answer.passages[0].source_id in present
    if any(name.startswith("normans_") for name in present):  # the edits may have removed all five
        assert answer.passages[0].source_id.startswith("normans_")
    answer = retriever.search("What did No Music for ICE demand?")
    assert any("Terminate existing contracts" in p.text for p in answer.passages[:3])


@pytest.fixture
def small(tmp_path: Path, embedder: Embedder) -> Retriever:
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "bees.txt").write_text(
        "Bees in decline\n\nWild bee numbers fell by a third in Europe, a survey found.", encoding="utf-8"
    )
    (folder / "port.txt").write_text(
        "Port news\n\nThe harbour of Saint-Malo reopened after the storm.", encoding="utf-8"
    )
    retriever = Retriever(load_settings(articles_dir=folder, data_dir=tmp_path / "data"), embedder=embedder)
    retriever.index()
    return retriever


def _cut(path: Path, cut: float) -> None:
    whole = path.read_bytes()
    end = int(len(whole) * cut) if isinstance(cut, float) else (cut if cut >= 0 else len(whole) - 1)
    path.write_bytes(whole[:end])


@pytest.mark.parametrize("cut", [0, 1, 10, 0.5, -1])
def test_a_half_written_legacy_manifest_is_never_migrated_as_valid(small: Retriever, cut: float) -> None:
    """An index of the layout before the catalog moved into Chroma, whose manifest was cut
    short: nothing is read from it, and the next run adopts the stored passages anyway."""
    folder = small.folder
    make_legacy(small)
    _cut(folder.manifest, cut)
    assert read_manifest(folder.manifest) is None
    fresh = Retriever(small.settings, embedder=small.embedder)
    assert fresh.has_index() and fresh.sources() == []  # not a partial list read from half a file
    report = fresh.index()  # the next run repairs it, reusing the stored vectors
    assert report.chunks_embedded == 0 and sorted(report.added) == ["bees.txt", "port.txt"]
    assert_consistent(fresh)
    assert {s.source_id for s in fresh.sources()} == {"bees.txt", "port.txt"}
    assert fresh.search("Where did the harbour reopen?").passages[0].source_id == "port.txt"


@pytest.mark.parametrize("part", ["npz", "json"])
@pytest.mark.parametrize("cut", [0, 1, 0.5, -1])
def test_a_half_written_lexical_cache_is_never_read_as_valid(small: Retriever, cut: float, part: str) -> None:
    path = small.folder.lexical_cache("base")
    _cut(path if part == "npz" else path.with_name(path.name + ".json"), cut)
    assert LexicalIndex.load(path) is None
    fresh = Retriever(small.settings, embedder=small.embedder)  # a restart: BM25 rebuilt from Chroma
    assert fresh.search("Where did the harbour reopen?").passages[0].source_id == "port.txt"
    assert LexicalIndex.load(path) is not None, "the cache is written anew"
    assert fresh.index().chunks_embedded == 0
    assert_consistent(fresh)


def test_a_half_written_temporary_file_is_ignored_and_cleaned(small: Retriever) -> None:
    data = small.settings.data_dir
    (data / ".manifest.json-crash.tmp").write_text('{"version": 1, "model": "x", "artic', encoding="utf-8")
    (data / "cache" / ".lexical-base.npz-crash.tmp").write_bytes(b"PK\x03")
    (small.settings.articles_dir / "bees.txt").write_text("Bees\n\nBee numbers recovered.", encoding="utf-8")
    fresh = Retriever(small.settings, embedder=small.embedder)
    assert fresh.index().changed == ["bees.txt"]
    assert_consistent(fresh)


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing on the way catches it."""


#: Where a run writes: every Chroma write (through ``Chroma.call``, so a crash can fall
#: between any two collections: sentences, passages, catalog, words, the library record,
#: the lease) and the local BM25 cache.
WRITES = [
    ("retrieval.chroma.Chroma", "call"),
    ("retrieval.lexical.LexicalIndex", "save"),
]
CHROMA_WRITES = {"upsert", "update", "delete", "delete_collection", "get_or_create_collection"}


@pytest.mark.slow
def test_a_crash_at_every_write_is_repaired_by_the_next_run(
    tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deterministic complement to the SIGKILL test: the run dies just before its n-th
    write (Chroma, the BM25 cache), for every n; a fresh retriever, as after
    a restart, brings the index back in line with the folder."""
    import importlib

    folder = tmp_path / "articles"
    folder.mkdir()
    settings = load_settings(
        articles_dir=folder, data_dir=tmp_path / "data", chunk_tokens=48, chunk_overlap_tokens=8
    )
    sentences = [
        f"Sentence {i} says the harbour of port {i} reopened after storm number {i}." for i in range(16)
    ]
    versions = [
        {"a.txt": " ".join(sentences[:8]), "b.txt": " ".join(sentences[8:])},
        {
            "a.txt": " ".join(sentences[:4] + sentences[12:]),
            "c.txt": "Bees\n\nWild bee numbers fell by a third.",
        },
        {"b.txt": " ".join(sentences[2:10]), "c.txt": "Bees\n\nWild bee numbers rose again this spring."},
    ]

    def write_folder(version: dict[str, str]) -> None:
        for path in folder.iterdir():
            if path.name not in version:
                path.unlink()
        for name, text in version.items():
            (folder / name).write_text(text, encoding="utf-8")

    crashes = 0
    for before, after in zip([{}, *versions], versions):
        for n in range(1, 100):
            write_folder(before)
            Retriever(settings, embedder=embedder).index(prune=True)  # back to "before", however far
            write_folder(after)
            calls = 0

            def counted(original):  # type: ignore[no-untyped-def]
                def write(*args, **kwargs):  # type: ignore[no-untyped-def]
                    nonlocal calls
                    if original.__name__ == "call" and getattr(args[1], "__name__", "") not in CHROMA_WRITES:
                        return original(*args, **kwargs)  # a read
                    calls += 1
                    if calls == n:  # noqa: B023 - called within this iteration only
                        raise Crash
                    return original(*args, **kwargs)

                return write

            with monkeypatch.context() as patch:
                for owner, method in WRITES:
                    module, cls = owner.rsplit(".", 1)
                    target = getattr(importlib.import_module(module), cls)
                    patch.setattr(target, method, counted(getattr(target, method)))
                try:
                    Retriever(settings, embedder=embedder).index()
                except Crash:
                    crashes += 1
            restarted = Retriever(settings, embedder=embedder)
            restarted.index()
            assert_consistent(restarted, _expected_chunks(settings, embedder))
            if calls < n:
                break  # the run finished before its n-th write: every write point was tried
    print(f"crash test: runs died at each of their writes, {crashes} times, and were repaired every time")
    assert crashes >= 3 * 4
