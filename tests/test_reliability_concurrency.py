"""Concurrency: questions while a reindex runs, and a second writer refused.

Fifty questions are asked from several threads while another thread reindexes
after an article was rewritten: every question is answered, and no answer shows
passages of both the old and the new version of that article. A second process
running ``citebot index`` on a data folder whose write lock is held is refused
with exit code 1 and a message saying what to do instead.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from filelock import FileLock

from retrieval.layout import DataFolder
from retrieval.models import Answer
from retrieval.service import Retriever

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = 50
EDITED = "003_8dd3d7f5671449ac.txt"
ASKED = [
    "What did No Music for ICE demand?",
    "Which company works with ICE on data analytics?",
    "What did the musicians ask the festival to do?",
    "Who organised the protest against ICE?",
    "Terminate existing contracts",
]


@pytest.mark.slow
def test_fifty_questions_during_a_reindex_are_answered_without_mixing_versions(
    retriever: Retriever, articles: Path
) -> None:
    retriever.index()
    old = set(retriever.store.catalog().entries[EDITED].chunks)
    # Every sentence changes, so every passage of the article gets a new id, and matches
    # the questions by sentences of its own (not deduplicated against the old ones).
    target = articles / EDITED
    target.write_text(
        re.sub(r"([.!?])(\s)", r", as updated\1\2", target.read_text(encoding="utf-8")), encoding="utf-8"
    )
    # A long article embedded after it keeps the run going while the new passages are stored
    # beside the old ones (they are deleted only at the end of the run).
    shutil.copy(
        ROOT / "benchmarks" / "data" / "squad_dev" / "articles" / "Normans.txt", articles / "zz_normans.txt"
    )

    answers: list[tuple[Answer, bool]] = []
    errors: list[BaseException] = []
    indexing = threading.Event()
    indexing.set()

    def reindex() -> None:
        try:
            retriever.index()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            indexing.clear()

    def ask(n: int) -> None:
        during = indexing.is_set()
        try:
            answers.append((retriever.search(ASKED[n % len(ASKED)], k=8), during))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    asked = iter(range(10**6))
    deadline = time.monotonic() + 180

    def keep_asking() -> None:
        # Until the reindex is over (and at least QUESTIONS in all): questions overlap all of it.
        while time.monotonic() < deadline and (indexing.is_set() or len(answers) + len(errors) < QUESTIONS):
            ask(next(asked))
            time.sleep(0.1)

    writer = threading.Thread(target=reindex)
    writer.start()
    with ThreadPoolExecutor(max_workers=8) as pool:
        for future in [pool.submit(keep_asking) for _ in range(8)]:
            future.result()
    writer.join(120)
    assert not writer.is_alive()
    assert errors == []
    new = set(retriever.store.catalog().entries[EDITED].chunks)
    assert old and new and not old & new
    during = sum(1 for _, was_indexing in answers if was_indexing)
    print(f"concurrency: {len(answers)} questions answered, {during} of them while the reindex ran")
    assert len(answers) >= QUESTIONS and during >= QUESTIONS // 2
    for answer, _ in answers:
        assert answer.passages
        shown = {p.chunk_id for p in answer.passages if p.source_id == EDITED}
        assert not (shown & old and shown & new), f"old and new passages of {EDITED} in one answer"
        assert shown <= old | new
    # After the run, only the new version is shown.
    after = retriever.search(ASKED[0], k=8)
    assert {p.chunk_id for p in after.passages if p.source_id == EDITED} <= new


def test_a_second_writer_process_is_refused_with_what_to_do(retriever: Retriever, tmp_path: Path) -> None:
    data = retriever.settings.data_dir
    data.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITEBOT_")}
    env.update(
        CITEBOT_ARTICLES_DIR=str(retriever.settings.articles_dir),
        CITEBOT_DATA_DIR=str(data),
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
    )
    with FileLock(str(DataFolder(data).write_lock)):  # what the bot holds while it reindexes
        done = subprocess.run(  # noqa: PLW1510 - the exit code is asserted below
            [sys.executable, "-m", "citebot", "index"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 1
    err = done.stderr.strip()
    assert "\n" not in err and "Traceback" not in err
    assert err.startswith(f"citebot: error: another citebot process is writing to {data}")
    assert "use /reindex there" in err
    assert not DataFolder(data).chroma.exists()  # refused before opening the store
