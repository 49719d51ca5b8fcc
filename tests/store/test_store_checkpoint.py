"""The SQLite hub's log reaches the database file in the background, and stops with the store."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from crmbridge.store import RecordWrite, open_store
from crmbridge.store.checkpoint import BACKSTOP_PAGES


def _checkpointing(path: Path) -> bool:
    """Whether a checkpoint thread for the hub at ``path`` is alive."""
    return any(t.name == f"crmbridge-wal-checkpoint {path}" for t in threading.enumerate())


def _in_the_file_itself(path: Path) -> set[str]:
    """Record ids the database file holds, its write-ahead log left unread."""
    db = sqlite3.connect(f"{path.as_uri()}?mode=ro&immutable=1", uri=True)
    try:
        return {row[0] for row in db.execute("SELECT id FROM records")}
    except sqlite3.OperationalError:  # not even the tables are in the file yet
        return set()
    finally:
        db.close()


def _eventually(check: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


def test_a_commit_reaches_the_database_file_without_another_write(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    with open_store(f"sqlite:///{path}") as store:
        (done,) = store.upsert_records("stakeholders", [RecordWrite({"name": "Ada"}, "h-ada")])
        # the commit's own connection only checkpoints past the backstop: the thread did it
        assert _eventually(lambda: done.id in _in_the_file_itself(path))
        with store.engine.connect() as conn:
            backstop = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one()
        assert backstop == BACKSTOP_PAGES


def test_closing_the_store_stops_its_checkpoint_thread(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    store = open_store(f"sqlite:///{path}")
    store.upsert_records("stakeholders", [RecordWrite({"name": "Ada"}, "h-ada")])
    assert _checkpointing(path)
    store.close()
    assert not _checkpointing(path)


def test_a_hub_file_removed_under_the_store_is_not_made_again(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    store = open_store(f"sqlite:///{path}")
    try:
        store.engine.dispose()
        for leftover in tmp_path.glob("hub.db*"):
            leftover.unlink()
        assert store._checkpointer is not None
        store._checkpointer.committed()  # as after a commit: the thread finds no file
        assert _eventually(lambda: not _checkpointing(path))
        assert not path.exists()
    finally:
        store.close()
