"""Automatic pick-up: watch the articles folder and reindex when files come, change or go.

``watchfiles.awatch`` batches the events of a burst (a folder copied in, an editor's
save dance) until the folder has been quiet for the debounce time (or ten times that
has passed while files keep changing); each batch becomes
one incremental reindex through the service, whose lock also serialises it with
/reindex and /add. Questions keep being answered meanwhile (searches do not wait).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from watchfiles import Change, awatch

from bot.service import AnswerService

log = logging.getLogger(__name__)


def _relevant(change: Change, path: str) -> bool:
    # Dot files are /add's temporary files (and editors' swap files): only the final
    # rename into place matters.
    name = Path(path).name
    return not name.startswith(".") and not name.endswith("~")


class ArticlesWatcher:
    """Reindexes ``folder`` through ``service`` once it has been quiet for ``debounce`` seconds."""

    def __init__(self, service: AnswerService, folder: Path, debounce: float) -> None:
        self.service = service
        self.folder = folder
        self.debounce = debounce
        self._stop = asyncio.Event()
        self.ready = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Watch until :meth:`stop`; a failed reindex is logged and the watch goes on."""
        if not self.folder.is_dir():
            log.warning("not watching %s: it is not a folder", self.folder)
            return
        log.info("watching %s for new, changed and removed articles", self.folder)
        self.ready.set()
        async for changes in awatch(
            self.folder,
            watch_filter=_relevant,
            # `step`: the quiet time that closes a batch; `debounce`: the longest a batch may
            # grow while files keep changing (a long copy still gets indexed as it goes).
            step=int(self.debounce * 1000),
            debounce=max(int(self.debounce * 10_000), 1600),
            stop_event=self._stop,
            recursive=False,
        ):
            names = sorted({Path(path).name for _, path in changes})
            log.info(
                "articles folder changed (%s); reindexing",
                ", ".join(names[:5]) + ("…" if len(names) > 5 else ""),
            )
            try:
                await self.service.reindex("watch")
            except Exception:
                log.exception("reindex after a folder change failed")
