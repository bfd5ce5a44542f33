"""The libraries of one store, and which process may write them.

One small Chroma collection (:func:`retrieval.layout.registry_collection`) holds a
record per library (its generation, the model and chunking it was indexed with,
the folder it was indexed from, whether a run is under way) and the writer's
lease. Readers poll the records, one cheap read, to learn that a library changed;
the lease keeps a second writer out, across machines.

Chroma has no compare-and-swap, so the lease is taken optimistically: write it,
wait a moment, read it back, and hold it only if it is still ours. The holder
renews it every ``heartbeat`` seconds; a lease not renewed for ``ttl`` seconds is
free, and so is one held by a process of this machine that no longer exists.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import asdict, dataclass, fields
from typing import Any

from retrieval.chroma import Chroma
from retrieval.errors import IndexBusyError
from retrieval.layout import registry_collection

log = logging.getLogger(__name__)

LEASE_ID = "__writer__"


@dataclass
class LibraryRecord:
    """What every process needs to know about a library before reading it."""

    name: str
    identity: str
    #: names this incarnation of the library: a rebuild starts a new one, so a process
    #: following the old one reloads rather than applying changes to it.
    epoch: str = ""
    generation: int = 0
    #: the folder it is indexed from ("" when none was recorded).
    source: str = ""
    #: a run is writing it (or died doing so: the next run reconciles).
    dirty: bool = False
    articles: int = 0
    passages: int = 0
    updated_at: float = 0.0

    def to_metadata(self) -> dict[str, Any]:
        data = asdict(self)
        del data["name"]
        return data

    @classmethod
    def from_metadata(cls, name: str, meta: dict[str, Any]) -> LibraryRecord:
        known = {f.name for f in fields(cls)}
        return cls(name=name, **{k: v for k, v in meta.items() if k in known and k != "name"})


@dataclass(frozen=True)
class Lease:
    owner: str
    host: str
    pid: int
    expires_at: float
    acquired_at: float

    def describe(self) -> str:
        return f"process {self.pid} on {self.host}"


class Registry:
    """The library records and the writer lease of one store."""

    def __init__(self, chroma: Chroma, prefix: str) -> None:
        self.chroma = chroma
        self.name = registry_collection(prefix)
        self._collection: Any = None

    def records(self) -> dict[str, LibraryRecord]:
        """Every library's record (one read)."""
        collection = self._existing()
        if collection is None:
            return {}
        result = self.chroma.call(collection.get, include=["metadatas"])
        return {
            name: LibraryRecord.from_metadata(name, dict(meta or {}))
            for name, meta in zip(result["ids"], result["metadatas"])
            if name != LEASE_ID
        }

    def record(self, name: str) -> LibraryRecord | None:
        collection = self._existing()
        if collection is None:
            return None
        result = self.chroma.call(collection.get, ids=[name], include=["metadatas"])
        if not result["ids"]:
            return None
        return LibraryRecord.from_metadata(name, dict(result["metadatas"][0] or {}))

    def save(self, record: LibraryRecord) -> None:
        record.updated_at = time.time()
        self.chroma.upsert(self._open(), [record.name], None, None, [record.to_metadata()])

    def remove(self, name: str) -> None:
        collection = self._existing()
        if collection is not None:
            self.chroma.delete(collection, [name])

    def lease(self) -> Lease | None:
        collection = self._existing()
        if collection is None:
            return None
        result = self.chroma.call(collection.get, ids=[LEASE_ID], include=["metadatas"])
        if not result["ids"]:
            return None
        meta = dict(result["metadatas"][0] or {})
        try:
            return Lease(
                str(meta["owner"]),
                str(meta["host"]),
                int(meta["pid"]),
                float(meta["expires_at"]),
                float(meta.get("acquired_at", 0.0)),
            )
        except (KeyError, TypeError, ValueError):
            return None

    def put_lease(self, lease: Lease) -> None:
        self.chroma.upsert(self._open(), [LEASE_ID], None, None, [asdict(lease)])

    def drop_lease(self) -> None:
        collection = self._existing()
        if collection is not None:
            self.chroma.delete(collection, [LEASE_ID])

    def _existing(self) -> Any:
        if self._collection is None:
            self._collection = self.chroma.existing(self.name)
        return self._collection

    def _open(self) -> Any:
        if self._collection is None:
            self._collection = self.chroma.open(self.name)
        return self._collection


class WriterLease:
    """This process's claim to be the store's one writer.

    Args:
        registry: where the lease record lives.
        ttl: seconds a lease lasts without being renewed.
        heartbeat: seconds between renewals.
        settle: seconds to wait before reading a freshly written lease back.
    """

    def __init__(
        self, registry: Registry, ttl: float = 30.0, heartbeat: float = 10.0, settle: float = 0.3
    ) -> None:
        self.registry = registry
        self.ttl, self.heartbeat, self.settle = ttl, heartbeat, settle
        self.owner = uuid.uuid4().hex
        self.host = socket.gethostname()
        self._holds = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def held(self) -> bool:
        return self._holds > 0

    def acquire(self) -> None:
        """Take the lease (or count one more hold on it).

        Raises:
            IndexBusyError: another live process holds it.
        """
        with self._lock:
            if self._holds:
                self._holds += 1
                return
            current = self.registry.lease()
            if current is not None and current.owner != self.owner and not self._free(current):
                raise IndexBusyError(_busy(current))
            self.registry.put_lease(self._lease(acquired=time.time()))
            time.sleep(self.settle)
            current = self.registry.lease()
            if current is None or current.owner != self.owner:
                raise IndexBusyError(
                    _busy(current) if current else "another citebot writer started at the same time"
                )
            self._holds = 1
            self._stop.clear()
            self._thread = threading.Thread(target=self._renew, name="citebot-lease", daemon=True)
            self._thread.start()

    def release(self) -> None:
        """Drop one hold; the last one gives the lease up."""
        with self._lock:
            if not self._holds:
                return
            self._holds -= 1
            if self._holds:
                return
            self._stop.set()
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=5)
        try:
            current = self.registry.lease()
            if current is not None and current.owner == self.owner:
                self.registry.drop_lease()
        except Exception as error:  # the store down: one line (the traceback only with -v's debug)
            log.warning("could not release the writer lease (%s); it expires in %.0f s", error, self.ttl)
            log.debug("releasing the writer lease", exc_info=True)

    def _lease(self, acquired: float) -> Lease:
        return Lease(self.owner, self.host, os.getpid(), time.time() + self.ttl, acquired)

    def _free(self, lease: Lease) -> bool:
        """Expired, or held by a process of this machine that is gone (killed without
        releasing it: no need to wait for it to expire)."""
        if lease.expires_at < time.time():
            return True
        if lease.host != self.host:
            return False
        try:
            os.kill(lease.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return lease.pid == os.getpid()  # a previous writer object of this very process

    def _renew(self) -> None:
        acquired = time.time()
        while not self._stop.wait(self.heartbeat):
            try:
                current = self.registry.lease()
                if current is not None and current.owner != self.owner:
                    log.error(
                        "the writer lease was taken by %s; this process stops writing", current.describe()
                    )
                    return
                self.registry.put_lease(self._lease(acquired))
            except Exception:
                log.warning("could not renew the writer lease", exc_info=True)


def _busy(lease: Lease) -> str:
    return (
        f"another citebot process is writing to this store ({lease.describe()}); wait for it to finish "
        "(if the bot is running, use /reindex there), or set CITEBOT_READ_ONLY=true to only read"
    )
