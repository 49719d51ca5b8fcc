"""The SQLite hub's log reaches the database file in the background, and stops with the store."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from crmbridge.store import RecordWrite, open_store
from crmbridge.store.checkpoint import BACKSTOP_PAGES, Checkpointer


def _checkpointing(path: Path) -> bool:
    """Whether a checkpoint thread for the hub at ``path`` is alive."""
    return any(t.name == f"crmbridge-wal-checkpoint {path}" for t in threading.enumerate())


def _in_the_file_itself(path: Path) -> set[str]:
    """Record ids the database file holds, its write-ahead log left unread."""
    db = sqlite3.connect(f"{path.as_uri()}?mode=ro&immutable=1", uri=True)
    try:
        return {row[0] for row in db.execute("SELECT id FROM records")}
    except sqlite3.DatabaseError:
        # not even the tables are in the file yet, or the checkpoint is writing the pages
        # read right now (an immutable read does not wait for it): ask again
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


def test_a_file_that_cannot_be_opened_is_not_made_nor_tried_again(tmp_path: Path) -> None:
    path = tmp_path / "gone.db"
    checkpointer = Checkpointer(path)
    checkpointer.committed()
    assert _eventually(lambda: not _checkpointing(path))
    for _ in range(5):  # later commits leave it to SQLite's own checkpoint
        checkpointer.committed()
    assert not _checkpointing(path)
    assert not path.exists()
    checkpointer.close()


def test_a_sqlite_uri_url_is_checkpointed_in_the_file_it_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # nothing may appear in the working folder but the hub
    path = tmp_path / "hub.db"
    with open_store(f"sqlite:///file:{path}?uri=true") as store:
        for name in ("Ada", "Grace", "Katherine"):
            store.upsert_records("stakeholders", [RecordWrite({"name": name}, f"h-{name}")])
        assert _eventually(lambda: len(_in_the_file_itself(path)) == 3)
        threads = [t for t in threading.enumerate() if t.name.startswith("crmbridge-wal")]
        assert [t.name for t in threads if str(path) in t.name] == [
            f"crmbridge-wal-checkpoint {path}"
        ]
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("hub.db")) == []


def test_a_store_nobody_closes_leaves_no_log_behind_at_exit(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    script = (
        "from crmbridge.store import RecordWrite, open_store\n"
        f"store = open_store({f'sqlite:///{path}'!r})\n"
        "for i in range(50):\n"
        "    store.upsert_records('stakeholders', [RecordWrite({'n': i}, f'h{i}')])\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    assert path.exists()
    assert not Path(f"{path}-wal").exists()
    assert len(_in_the_file_itself(path)) == 50
