"""The ids a CSV file holds, kept on disk so a create-only batch can append without reading it.

``<directory>/.crmbridge/<connector>-<entity>.ids`` (SQLite) holds every
value of the file's id column and crmbridge-id columns (stripped, as the
file holds them), and the ``(inode, size, mtime)`` of the file it describes.
An append looks its keys up here instead of streaming the file; when the
file is not the one the index describes (a rewrite, a person saving it, a
changed mapping), the next append rebuilds the index with one streaming
pass first. The index is only a cache: deleting it costs one pass.

Before appending, the writer records an *intent* (the file's inode and its
size before and after the append) and commits it to disk; only once the
rows are written and flushed does it add their ids and the file's new stat,
clearing the intent in the same transaction. So a process killed during an
append leaves an intent behind, and :meth:`IdIndex.recover` (run before
every read or write of the file) truncates a file whose size lies strictly
between the two back to its size before: bytes of a half-written row never
reach a reader as a record. A file that merely lacks a final line break (as
some editors save it) holds a complete last row and is never truncated:
only the intent tells a torn append apart from it.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from connectors.csv.columns import Header, IdKind
from connectors.csv.reader import Row
from connectors.csv.sidefile import SideFile

__all__ = ["FileState", "IdIndex"]

log = logging.getLogger("crmbridge.connectors.csv")

_CHUNK: Final = 500
_INSERT_CHUNK: Final = 10_000
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS ids (value TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class FileState:
    """The file an index describes: its identity and the header layout its ids were read with."""

    inode: int
    size: int
    mtime_ns: int
    layout: str
    needs_fill: bool = False
    """a rewrite must run: rows lack an id it would give them, or the file ends inside an
    open quote (which the rewrite refuses to add rows after)"""

    @staticmethod
    def of(stat: os.stat_result, layout: str, needs_fill: bool = False) -> FileState:
        """The state of a file with this ``stat``."""
        return FileState(stat.st_ino, stat.st_size, stat.st_mtime_ns, layout, needs_fill)

    def same_file(self, stat: os.stat_result, layout: str) -> bool:
        """Whether ``stat`` (and the header ``layout``) is still the file described."""
        return (self.inode, self.size, self.mtime_ns, self.layout) == (
            stat.st_ino,
            stat.st_size,
            stat.st_mtime_ns,
            layout,
        )


def layout(header: Header) -> str:
    """Which columns the index holds the values of, as a string to compare."""
    return json.dumps([header.raw, header.id_index, header.key_indices, header.id_kind])


def key_cells(header: Header, cells: Sequence[str]) -> Iterator[str]:
    """The stripped, non-empty values of a row's id and crmbridge-id cells."""
    indices = set(header.key_indices)
    if header.id_index is not None:
        indices.add(header.id_index)
    for index in indices:
        value = cells[index].strip() if index < len(cells) else ""
        if value:
            yield value


class IdIndex:
    """The id index of one connector's entity file; opened on first use."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # FULL: an intent is on disk before the append it announces; the connector's
        # per-entity lock serialises its users, whichever thread they run on
        self._file = SideFile(
            path, _SCHEMA, purpose="the id index", synchronous="FULL", autocommit=True
        )
        self._connect = self._file.connect

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def _get(self, key: str) -> Any:
        row = self._connect().execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def _put(self, db: sqlite3.Connection, key: str, value: Any) -> None:
        db.execute(
            "INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)", (key, json.dumps(value))
        )

    def state(self) -> FileState | None:
        """The file the index describes (``None``: none, rebuild before use)."""
        found = self._get("file")
        return None if found is None else FileState(**found)

    def recover(self, file: Path) -> None:
        """Undo an append that did not finish: truncate its half-written bytes, mark the index stale.

        Cheap when there is nothing to do (no index file, or no intent in it).
        """
        if not self._file.opened and not self.path.exists():
            return
        pending = self._get("pending")
        if pending is None:
            return
        try:
            stat: os.stat_result | None = os.stat(file)
        except FileNotFoundError:
            stat = None
        if (
            stat is not None
            and stat.st_ino == pending["inode"]
            and pending["before"] < stat.st_size < pending["after"]
        ):
            with file.open("r+b") as handle:
                handle.truncate(pending["before"])
                handle.flush()
                os.fsync(handle.fileno())
            log.warning(
                "%s: an append was cut off; removed its %d incomplete bytes at the end",
                file,
                stat.st_size - pending["before"],
            )
        db = self._connect()
        with _transaction(db):
            db.execute("DELETE FROM state WHERE key IN ('pending', 'file')")

    def rebuild(self, stat: os.stat_result, header: Header, rows: Iterable[Row]) -> FileState:
        """Read every row's ids into the index (one pass); the new state."""
        db = self._connect()
        pure = header.id_kind is IdKind.PURE
        id_index = header.id_index
        needs_fill = False
        with _transaction(db):
            db.execute("DELETE FROM ids")
            db.execute("DELETE FROM state WHERE key = 'file'")
            chunk: list[tuple[str]] = []
            for row in rows:
                if row.problem is not None:
                    needs_fill = needs_fill or row.open_end
                    if not row.open_end:  # a damaged row still holds its record: no second one
                        chunk.extend((value,) for value in key_cells(header, row.cells))
                    continue
                chunk.extend((value,) for value in key_cells(header, row.cells))
                if pure and id_index is not None and not row.cells[id_index].strip():
                    needs_fill = True
                if len(chunk) >= _INSERT_CHUNK:
                    db.executemany("INSERT OR IGNORE INTO ids (value) VALUES (?)", chunk)
                    chunk.clear()
            db.executemany("INSERT OR IGNORE INTO ids (value) VALUES (?)", chunk)
            state = FileState.of(stat, layout(header), needs_fill)
            self._put(db, "file", _as_dict(state))
        return state

    def known(self, values: Iterable[str]) -> set[str]:
        """Those of ``values`` the file holds in an id or crmbridge-id cell."""
        db = self._connect()
        wanted = list(dict.fromkeys(values))
        found: set[str] = set()
        for start in range(0, len(wanted), _CHUNK):
            part = wanted[start : start + _CHUNK]
            marks = ",".join("?" * len(part))
            found.update(
                row[0]
                for row in db.execute(f"SELECT value FROM ids WHERE value IN ({marks})", part)
            )
        return found

    def begin_append(self, inode: int, before: int, after: int) -> None:
        """Record (durably) that the file is about to grow from ``before`` to ``after`` bytes."""
        db = self._connect()
        with _transaction(db):
            self._put(db, "pending", {"inode": inode, "before": before, "after": after})

    def finish_append(self, values: Iterable[str], state: FileState) -> None:
        """The append is on disk: add its ids, describe the grown file, clear the intent."""
        db = self._connect()
        with _transaction(db):
            db.executemany("INSERT OR IGNORE INTO ids (value) VALUES (?)", ((v,) for v in values))
            self._put(db, "file", _as_dict(state))
            db.execute("DELETE FROM state WHERE key = 'pending'")


def _as_dict(state: FileState) -> dict[str, Any]:
    return {
        "inode": state.inode,
        "size": state.size,
        "mtime_ns": state.mtime_ns,
        "layout": state.layout,
        "needs_fill": state.needs_fill,
    }


class _transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on an error) on an autocommit connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, kind: object, *_: object) -> None:
        self.db.execute("ROLLBACK" if kind is not None else "COMMIT")
