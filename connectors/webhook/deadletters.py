"""Outbound messages that could not be delivered, kept in the connector's own SQLite file.

A message the in-process retries could not deliver waits here as
``retrying`` with a next attempt time (later runs try the due ones); when its
schedule is used up it is ``dead`` until an operator redelivers it. The same file
remembers, for each record, the id of the last message that carried it, so a
batch the engine sends again (an outbox replay) goes out under the id it had.
The hub's schema is not touched: the file sits beside the config (by default
``.crmbridge/webhook-<connector>.sqlite``).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

__all__ = ["DeadLetter", "DeadLetters", "LetterStatus"]

LetterStatus = Literal["retrying", "dead", "delivered", "superseded"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY,
    webhook_id TEXT NOT NULL UNIQUE,
    entity TEXT NOT NULL,
    url TEXT NOT NULL,
    body BLOB NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    last_status INTEGER,
    reason TEXT NOT NULL,
    status TEXT NOT NULL,
    next_attempt_at TEXT
)
"""

_SENT = """
CREATE TABLE IF NOT EXISTS sent (
    entity TEXT NOT NULL,
    key TEXT NOT NULL,
    digest TEXT NOT NULL,
    webhook_id TEXT NOT NULL,
    sent_at TEXT NOT NULL,
    PRIMARY KEY (entity, key)
)
"""

_CHUNK = 500
"""Keys per query (under SQLite's limit on bound parameters)."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One undelivered message: its id, payload, and why the last attempt failed."""

    id: int
    webhook_id: str
    entity: str
    url: str
    body: bytes
    created_at: datetime
    updated_at: datetime
    attempts: int
    last_status: int | None
    reason: str
    status: LetterStatus
    next_attempt_at: datetime | None

    def summary(self) -> dict[str, object]:
        """JSON-ready, without the body (it holds personal data)."""
        return {
            "id": self.id,
            "webhook_id": self.webhook_id,
            "entity": self.entity,
            "url": self.url,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "attempts": self.attempts,
            "last_status": self.last_status,
            "reason": self.reason,
            "status": self.status,
            "next_attempt_at": self.next_attempt_at.isoformat() if self.next_attempt_at else None,
            "bytes": len(self.body),
        }


def _letter(row: sqlite3.Row) -> DeadLetter:
    return DeadLetter(
        id=row["id"],
        webhook_id=row["webhook_id"],
        entity=row["entity"],
        url=row["url"],
        body=bytes(row["body"]),
        created_at=datetime.fromisoformat(row["created_at"]),
        updated_at=datetime.fromisoformat(row["updated_at"]),
        attempts=row["attempts"],
        last_status=row["last_status"],
        reason=row["reason"],
        status=row["status"],
        next_attempt_at=datetime.fromisoformat(row["next_attempt_at"])
        if row["next_attempt_at"]
        else None,
    )


class DeadLetters:
    """The dead-letter file of one webhook connector (created on first write)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    @contextmanager
    def _db(self, *, create: bool = False) -> Iterator[sqlite3.Connection | None]:
        if not create and not self.path.exists():
            yield None
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            conn = sqlite3.connect(self.path, timeout=30)
            conn.row_factory = sqlite3.Row
            try:
                conn.execute(_SCHEMA)
                conn.execute(_SENT)
                with conn:
                    yield conn
            finally:
                conn.close()

    def put(
        self,
        *,
        webhook_id: str,
        entity: str,
        url: str,
        body: bytes,
        now: datetime,
        attempts: int,
        last_status: int | None,
        reason: str,
        status: LetterStatus,
        next_attempt_at: datetime | None,
    ) -> None:
        """Keep (or update) the message ``webhook_id``."""
        with self._db(create=True) as conn:
            assert conn is not None
            conn.execute(
                """INSERT INTO dead_letters (webhook_id, entity, url, body, created_at, updated_at,
                       attempts, last_status, reason, status, next_attempt_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (webhook_id) DO UPDATE SET updated_at = excluded.updated_at,
                       attempts = dead_letters.attempts + excluded.attempts,
                       last_status = excluded.last_status, reason = excluded.reason,
                       status = excluded.status, next_attempt_at = excluded.next_attempt_at""",
                (
                    webhook_id,
                    entity,
                    url,
                    body,
                    now.isoformat(),
                    now.isoformat(),
                    attempts,
                    last_status,
                    reason,
                    status,
                    next_attempt_at.isoformat() if next_attempt_at else None,
                ),
            )

    def entries(self, *, include_delivered: bool = False) -> list[DeadLetter]:
        """Every kept message, oldest first (delivered ones only when asked)."""
        with self._db() as conn:
            if conn is None:
                return []
            rows = conn.execute(
                "SELECT * FROM dead_letters "
                "WHERE ? OR status NOT IN ('delivered', 'superseded') ORDER BY id",
                (include_delivered,),
            ).fetchall()
        return [_letter(r) for r in rows]

    def get(self, ids: Sequence[int]) -> list[DeadLetter]:
        """The messages with these ids (unknown ids are left out)."""
        wanted = set(ids)
        return [d for d in self.entries(include_delivered=True) if d.id in wanted]

    def due(self, now: datetime) -> list[DeadLetter]:
        """``retrying`` messages whose next attempt time has come."""
        return [
            d
            for d in self.entries()
            if d.status == "retrying" and d.next_attempt_at is not None and d.next_attempt_at <= now
        ]

    def delivered(self, letter_id: int, now: datetime) -> None:
        """Mark a message delivered."""
        self._settle(letter_id, now, "delivered")

    def superseded(self, letter_id: int, now: datetime) -> None:
        """Mark a message never to send: newer messages carried every one of its records."""
        self._settle(letter_id, now, "superseded")

    def _settle(self, letter_id: int, now: datetime, status: LetterStatus) -> None:
        with self._db() as conn:
            if conn is not None:
                conn.execute(
                    "UPDATE dead_letters SET status = ?, updated_at = ?, "
                    "next_attempt_at = NULL WHERE id = ?",
                    (status, now.isoformat(), letter_id),
                )

    def remember(
        self, entity: str, keys: Sequence[str], digest: str, webhook_id: str, now: datetime
    ) -> None:
        """Note that message ``webhook_id`` (a batch with ``digest``) carries these records."""
        with self._db(create=True) as conn:
            assert conn is not None
            conn.executemany(
                """INSERT INTO sent (entity, key, digest, webhook_id, sent_at)
                   VALUES (?, ?, ?, ?, ?)
                   ON CONFLICT (entity, key) DO UPDATE SET digest = excluded.digest,
                       webhook_id = excluded.webhook_id, sent_at = excluded.sent_at""",
                [(entity, key, digest, webhook_id, now.isoformat()) for key in keys],
            )

    def last_messages(self, entity: str, keys: Sequence[str]) -> dict[str, str]:
        """The id of the last message that carried each of ``keys`` (those ever sent)."""
        found: dict[str, str] = {}
        with self._db() as conn:
            if conn is None:
                return found
            unique = list(dict.fromkeys(keys))
            for start in range(0, len(unique), _CHUNK):
                chunk = unique[start : start + _CHUNK]
                rows = conn.execute(
                    "SELECT key, webhook_id FROM sent WHERE entity = ? "
                    f"AND key IN ({', '.join('?' * len(chunk))})",
                    (entity, *chunk),
                ).fetchall()
                found.update((row["key"], row["webhook_id"]) for row in rows)
        return found

    def sent_as(self, entity: str, keys: Sequence[str], digest: str) -> str | None:
        """The id of the last message of these records, if it was this very batch; else ``None``.

        Every record's last message must be one message whose batch had
        ``digest``: a record sent since in another message (a change in
        between) makes the batch a new message.
        """
        if not keys:
            return None
        found: set[tuple[str, str]] = set()
        seen = 0
        with self._db() as conn:
            if conn is None:
                return None
            unique = list(dict.fromkeys(keys))
            for start in range(0, len(unique), _CHUNK):
                chunk = unique[start : start + _CHUNK]
                rows = conn.execute(
                    "SELECT digest, webhook_id FROM sent WHERE entity = ? "
                    f"AND key IN ({', '.join('?' * len(chunk))})",
                    (entity, *chunk),
                ).fetchall()
                seen += len(rows)
                found.update((row["digest"], row["webhook_id"]) for row in rows)
        if seen != len(unique) or len(found) != 1:
            return None
        ((last_digest, webhook_id),) = found
        return webhook_id if last_digest == digest else None
