"""What a file held at the last pull: ``(row id, content hash)`` per row, in a small SQLite file.

A pull compares every row with the *base* generation (the one its cursor
names) while it writes the rows into a new generation; rows it did not see
again are the deletions. The new generation becomes the base only when the
engine commits the cursor of the pull's last page, so a pull that dies
half-way leaves the old base intact and the next one starts from it again.

Each job reading the same connector has its own *lineage* (started by its
first pull, named in its cursor), so two jobs over one file never disturb
each other's base. A lineage keeps its base and the newest generation; the
eight most recently used lineages are kept, older ones are deleted.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Final

from connectors.csv.sidefile import SideFile

__all__ = ["RowState", "Snapshot", "SnapshotRun"]

KEEP_LINEAGES: Final = 8
_CHUNK: Final = 500

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS generations (
    lineage TEXT NOT NULL, gen INTEGER NOT NULL, complete INTEGER NOT NULL DEFAULT 0,
    used_at REAL NOT NULL, PRIMARY KEY (lineage, gen));
CREATE TABLE IF NOT EXISTS rows (
    lineage TEXT NOT NULL, gen INTEGER NOT NULL, id TEXT NOT NULL, hash BLOB NOT NULL,
    line INTEGER NOT NULL, PRIMARY KEY (lineage, gen, id)) WITHOUT ROWID;
"""


class RowState(Enum):
    """A row compared with the base generation."""

    NEW = "new"
    CHANGED = "changed"
    SAME = "same"
    DUPLICATE = "duplicate"


class Snapshot:
    """The snapshot file of one connector's entity; opened on first use."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # one pull at a time uses it, from whichever worker thread runs the page
        self._file = SideFile(path, _SCHEMA, purpose="the change snapshot")
        self._connect = self._file.connect

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def begin(self, lineage: str | None, base: int | None) -> SnapshotRun:
        """Start a new generation after ``base`` of ``lineage`` (``None``: a new lineage).

        A base that is gone or was never completed is no base: the pull then
        reports every row and no deletion.
        """
        db = self._connect()
        now = time.time()
        with db:
            if lineage is None:
                lineage, base = uuid.uuid4().hex[:16], None
            found = db.execute(
                "SELECT 1 FROM generations WHERE lineage = ? AND gen = ? AND complete = 1",
                (lineage, base if base is not None else -1),
            ).fetchone()
            if found is None:
                base = None
            keep = base if base is not None else -1
            db.execute("DELETE FROM rows WHERE lineage = ? AND gen != ?", (lineage, keep))
            db.execute("DELETE FROM generations WHERE lineage = ? AND gen != ?", (lineage, keep))
            gen = (base or 0) + 1
            db.execute(
                "INSERT INTO generations (lineage, gen, complete, used_at) VALUES (?, ?, 0, ?)",
                (lineage, gen, now),
            )
            db.execute("UPDATE generations SET used_at = ? WHERE lineage = ?", (now, lineage))
            stale = [
                row[0]
                for row in db.execute(
                    "SELECT lineage FROM generations GROUP BY lineage ORDER BY max(used_at) DESC"
                ).fetchall()[KEEP_LINEAGES:]
            ]
            for old in stale:
                db.execute("DELETE FROM rows WHERE lineage = ?", (old,))
                db.execute("DELETE FROM generations WHERE lineage = ?", (old,))
        return SnapshotRun(db, lineage, base, gen)


@dataclass(slots=True)
class SnapshotRun:
    """One pull's new generation, compared with its base as rows are added."""

    db: sqlite3.Connection
    lineage: str
    base: int | None
    gen: int

    def add(self, rows: Sequence[tuple[str, bytes, int]]) -> list[tuple[RowState, int]]:
        """Add ``(id, hash, line)`` rows; each one's state, and for a duplicate the first line."""
        first: dict[str, int] = {}
        for start in range(0, len(rows), _CHUNK):
            ids = [r[0] for r in rows[start : start + _CHUNK]]
            first.update(self._lookup(self.gen, ids))
        before: dict[str, bytes] = {}
        if self.base is not None:
            for start in range(0, len(rows), _CHUNK):
                ids = [r[0] for r in rows[start : start + _CHUNK]]
                before.update(
                    (i, h)
                    for i, h in self.db.execute(
                        f"SELECT id, hash FROM rows WHERE lineage = ? AND gen = ? AND id IN ({_marks(ids)})",
                        (self.lineage, self.base, *ids),
                    )
                )
        states: list[tuple[RowState, int]] = []
        fresh: list[tuple[str, int, str, bytes, int]] = []
        for row_id, digest, line in rows:
            if row_id in first:
                states.append((RowState.DUPLICATE, first[row_id]))
                continue
            first[row_id] = line
            fresh.append((self.lineage, self.gen, row_id, digest, line))
            old = before.get(row_id)
            state = (
                RowState.NEW
                if old is None
                else RowState.SAME
                if old == digest
                else RowState.CHANGED
            )
            states.append((state, line))
        with self.db:
            self.db.executemany(
                "INSERT INTO rows (lineage, gen, id, hash, line) VALUES (?, ?, ?, ?, ?)", fresh
            )
        return states

    def _lookup(self, gen: int, ids: Sequence[str]) -> Iterator[tuple[str, int]]:
        if ids:
            yield from self.db.execute(
                f"SELECT id, line FROM rows WHERE lineage = ? AND gen = ? AND id IN ({_marks(ids)})",
                (self.lineage, gen, *ids),
            )

    def keep(self, ids: Sequence[str]) -> bool:
        """Carry the base rows of ``ids`` that this generation lacks into it, as they were.

        A row the pull could not read is neither changed nor removed, so it keeps
        the base's state. When an id is not the base's (the row's id could not
        be read, or a shifted cell stands where it should be), which base row
        the unreadable one was is unknown: every base row is kept, so this pull
        reports no removal at all. Returns whether it kept every row so.
        """
        if self.base is None:
            return False
        wanted = sorted(set(ids))
        known = 0
        for start in range(0, len(wanted), _CHUNK):
            part = wanted[start : start + _CHUNK]
            known += self.db.execute(
                f"SELECT count(*) FROM rows WHERE lineage = ? AND gen = ? AND id IN ({_marks(part)})",
                (self.lineage, self.base, *part),
            ).fetchone()[0]
        every = known < len(wanted)
        self._carry(None if every else wanted)
        return every

    def _carry(self, ids: Sequence[str] | None) -> None:
        assert self.base is not None
        sql = (
            "INSERT OR IGNORE INTO rows (lineage, gen, id, hash, line) "
            "SELECT lineage, ?, id, hash, line FROM rows WHERE lineage = ? AND gen = ?"
        )
        with self.db:
            if ids is None:
                self.db.execute(sql, (self.gen, self.lineage, self.base))
                return
            for start in range(0, len(ids), _CHUNK):
                part = ids[start : start + _CHUNK]
                self.db.execute(
                    f"{sql} AND id IN ({_marks(part)})", (self.gen, self.lineage, self.base, *part)
                )

    def removed(self, size: int) -> Iterator[list[str]]:
        """Ids of the base that this generation lacks, ``size`` at a time."""
        if self.base is None:
            return
        cursor = self.db.execute(
            "SELECT b.id FROM rows b WHERE b.lineage = ? AND b.gen = ? AND NOT EXISTS "
            "(SELECT 1 FROM rows n WHERE n.lineage = b.lineage AND n.gen = ? AND n.id = b.id)",
            (self.lineage, self.base, self.gen),
        )
        while chunk := cursor.fetchmany(size):
            yield [row[0] for row in chunk]

    def finish(self) -> None:
        """Mark the generation complete: a cursor naming it may now serve as a base."""
        with self.db:
            self.db.execute(
                "UPDATE generations SET complete = 1 WHERE lineage = ? AND gen = ?",
                (self.lineage, self.gen),
            )


def _marks(ids: Sequence[str]) -> str:
    return ",".join("?" * len(ids))
