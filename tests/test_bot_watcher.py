"""The folder watcher: a burst of changes becomes one debounced reindex, and it stops cleanly."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bot.watcher import ArticlesWatcher


class CountingService:
    """Stands in for AnswerService: counts reindexes, fails once to show the watch goes on."""

    def __init__(self) -> None:
        self.calls = 0
        self.changed = asyncio.Event()

    async def reindex(self, reason: str) -> Any:
        self.calls += 1
        self.changed.set()
        if self.calls == 1:
            raise RuntimeError("first run fails")


def test_a_burst_of_files_is_one_reindex_and_a_failure_does_not_stop_the_watch(tmp_path: Path) -> None:
    async def scenario() -> int:
        service = CountingService()
        watcher = ArticlesWatcher(service, tmp_path, debounce=0.4)  # type: ignore[arg-type]
        task = asyncio.create_task(watcher.run())
        await asyncio.wait_for(watcher.ready.wait(), 10)
        await asyncio.sleep(0.3)  # let the OS watch be in place
        for i in range(5):
            (tmp_path / f"a{i}.txt").write_text("text")
        (tmp_path / ".a5.txt.part").write_text("temporary")  # ignored
        await asyncio.wait_for(service.changed.wait(), 20)
        await asyncio.sleep(1.0)
        burst = service.calls
        service.changed.clear()
        (tmp_path / "a0.txt").unlink()
        await asyncio.wait_for(service.changed.wait(), 20)
        watcher.stop()
        await asyncio.wait_for(task, 10)
        return burst

    assert asyncio.run(scenario()) == 1


def test_a_missing_folder_is_not_watched(tmp_path: Path) -> None:
    async def scenario() -> None:
        watcher = ArticlesWatcher(CountingService(), tmp_path / "missing", debounce=0.1)  # type: ignore[arg-type]
        await asyncio.wait_for(watcher.run(), 5)
        assert not watcher.ready.is_set()

    asyncio.run(scenario())
