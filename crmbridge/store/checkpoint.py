"""Copying a SQLite hub's write-ahead log into its database file, beside the writers.

In WAL mode every commit appends its pages to the log, and by default the
commit that takes the log past 1,000 pages copies it back into the database
and syncs the file to disk, in the middle of the writer's work: a big import
spent about a tenth of its time there. A :class:`Checkpointer` does that copy
in a thread of its own, on its own connection, after the store's commits, so
the writer goes on meanwhile (SQLite lets a checkpoint and a writer run at
once, and releases the GIL while it copies and syncs). The store's
connections keep SQLite's own checkpoint as a backstop at a larger size
(:data:`BACKSTOP_PAGES`), so the log stays bounded even if this thread falls
behind or is gone. Durability is SQLite's ``synchronous=NORMAL`` either way.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from pathlib import Path
from typing import Final

__all__ = ["BACKSTOP_PAGES", "Checkpointer"]

log = logging.getLogger("crmbridge.store")

BACKSTOP_PAGES: Final = 10_000
"""Log size (pages) at which a committing connection checkpoints by itself."""


class Checkpointer:
    """Checkpoints one SQLite database file in a daemon thread, woken by :meth:`committed`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._pid = 0

    def committed(self) -> None:
        """Say that a transaction committed: the thread copies the log in soon after."""
        if self._stopping:
            return
        self._wake.set()
        if self._thread is None or self._pid != os.getpid():  # not started yet, or forked
            self._start()

    def _start(self) -> None:
        with self._lock:
            if self._stopping or (self._thread is not None and self._pid == os.getpid()):
                return
            self._pid = os.getpid()
            self._thread = threading.Thread(
                target=self._run, name=f"crmbridge-wal-checkpoint {self.path}", daemon=True
            )
            self._thread.start()

    def close(self) -> None:
        """Stop the thread after the checkpoint it may be running."""
        self._stopping = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)

    def _run(self) -> None:
        try:
            # mode=rw: a hub file removed meanwhile is not made again, empty
            db = sqlite3.connect(
                f"{self.path.as_uri()}?mode=rw", uri=True, isolation_level=None, timeout=0
            )
        except sqlite3.Error as error:
            self._stopping = True  # SQLite's own checkpoint (the backstop) does it from now on
            log.warning("the hub at %s is checkpointed by its writers: %s", self.path, error)
            return
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._stopping:
                    return
                try:
                    # PASSIVE: copy what no reader still needs, never wait for anyone
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as error:
                    log.debug("a background checkpoint of %s failed: %s", self.path, error)
        finally:
            db.close()
