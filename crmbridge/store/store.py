"""The :class:`Store` (the hub's repository), its unit of work and :func:`open_store`."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy.engine import Connection, Engine

from crmbridge.errors import StoreError
from crmbridge.store._base import lock_sequence
from crmbridge.store._coord import CoordMixin
from crmbridge.store._jobs import JobsMixin
from crmbridge.store._links import LinksMixin
from crmbridge.store._records import RecordsMixin
from crmbridge.store.checkpoint import Checkpointer
from crmbridge.store.engine import (
    DEFAULT_URL,
    IMMEDIATE,
    create_store_engine,
    describe,
    translate_errors,
)
from crmbridge.store.schema import current_revision, head_revision, upgrade

__all__ = ["Clock", "Store", "Transaction", "open_store"]

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


class _Methods(RecordsMixin, LinksMixin, JobsMixin, CoordMixin):
    """Every repository method; where they run is up to the subclass."""


class Transaction(_Methods):
    """A unit of work: every method runs in one transaction, committed when the
    ``with store.transaction()`` block ends and rolled back if it raises.

    Not to be used after its block, nor shared between threads.
    """

    def __init__(self, connection: Connection, engine: Engine, now: Clock) -> None:
        self._connection = connection
        self._engine = engine
        self._now = now

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with translate_errors(self._engine):
            yield self._connection

    def _write(self) -> AbstractContextManager[Connection]:
        return self._read()


class Store(_Methods):
    """The hub store: canonical records, change feed, links, cursors, runs, rejects,
    the conflict inbox, the outbox, leases and the webhook inbox.

    Each method runs in its own transaction; use :meth:`transaction` to run
    several in one. Thread-safe: share one store per process. Datetimes go in
    and come out aware, in UTC; ``now`` is the clock every timestamp comes from.
    """

    def __init__(self, engine: Engine, *, now: Clock = utc_now) -> None:
        self._engine = engine
        self._now = now
        # SQLite has one writer. Writers of this process queue on a lock (and are woken the
        # moment it is free) instead of in SQLite's busy handler, which sleeps and retries
        # with back-off of up to 100 ms: that sleeping, not the work, made writes slow under
        # load. Reentrant, so a nested write fails as it did before instead of hanging.
        self._write_lock: AbstractContextManager[Any] = (
            threading.RLock() if engine.dialect.name == "sqlite" else nullcontext()
        )
        # a SQLite file gets a checkpoint thread, started at the first write (see checkpoint.py)
        self._checkpointer: Checkpointer | None = None
        self._checkpoints = engine.dialect.name == "sqlite"

    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        return describe(self._engine.url)

    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._engine.dialect.name

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, for the store's own tools (migrations, tests)."""
        return self._engine

    @contextmanager
    def transaction(self, *, queue: bool = True) -> Iterator[Transaction]:
        """A unit of work: ``with store.transaction() as tx:`` runs ``tx``'s methods in one
        transaction, committed at the end of the block or rolled back if it raises.

        Units queue for the hub's writer lock before they do anything (on SQLite
        ``BEGIN IMMEDIATE``; on PostgreSQL the change-feed counter's row, which
        every record write takes anyway), so two units that touch the same rows in
        different orders (a link then the job's state, the state then the link)
        wait for each other instead of deadlocking. ``queue=False`` takes it on
        PostgreSQL only at the first record write: for a long unit that should
        not hold every writer up while it reads (a dry run, rolled back anyway).
        """
        with self._write() as connection:
            if queue and connection.dialect.name == "postgresql":
                lock_sequence(connection)
            yield Transaction(connection, self._engine, self._now)

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with (
            translate_errors(self._engine),
            self._engine.connect() as connection,
            connection.begin(),
        ):
            yield connection

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._write_lock, translate_errors(self._engine), self._engine.connect() as connection:
            connection.execution_options(**{IMMEDIATE: True})
            with connection.begin():
                if self._checkpoints:
                    self._checkpoints = False  # asked once, under the write lock
                    self._checkpointer = self._checkpointer_for(connection)
                yield connection
        if self._checkpointer is not None:
            self._checkpointer.committed()

    def _checkpointer_for(self, connection: Connection) -> Checkpointer | None:
        """A checkpoint thread for the SQLite file ``connection`` writes (none in memory)."""
        found = connection.exec_driver_sql("PRAGMA database_list").fetchall()
        path = next((str(row[2]) for row in found if row[1] == "main"), "")
        if not path:
            return None
        checkpointer = Checkpointer(Path(path))
        # a store nobody closes stops it when it is collected, or at exit: its connection
        # closes, so SQLite folds the log in and removes it as it did before
        weakref.finalize(self, checkpointer.close)
        return checkpointer

    def current_revision(self) -> str | None:
        """The schema revision the database is at."""
        return current_revision(self._engine)

    def is_current(self) -> bool:
        """Whether the schema is the one this crmbridge needs (for readiness checks)."""
        return self.current_revision() == head_revision()

    def close(self) -> None:
        """Stop the background checkpoints and close every pooled connection."""
        self._checkpoints = False
        if self._checkpointer is not None:
            self._checkpointer.close()
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_store(url: str | None = None, *, now: Clock = utc_now) -> Store:
    """Open the hub store at ``url`` (default ``sqlite:///crmbridge.db``).

    A SQLite database is created or upgraded on the spot. A PostgreSQL one must
    already be current: otherwise :class:`StoreError` says to run
    ``crmbridge db upgrade``. A bad URL raises :class:`ConfigError`; an
    unreachable database, :class:`StoreError`.
    """
    engine = create_store_engine(url or DEFAULT_URL)
    try:
        if engine.dialect.name == "sqlite":
            upgrade(engine)
        else:
            _check_current(engine)
    except BaseException:
        engine.dispose()
        raise
    return Store(engine, now=now)


def _check_current(engine: Engine) -> None:
    found, needed = current_revision(engine), head_revision()
    if found == needed:
        return
    state = "has no crmbridge schema" if found is None else f"is at schema revision {found}"
    raise StoreError(
        f"the hub database at {describe(engine.url)} {state}, this crmbridge needs {needed}: "
        "run `crmbridge db upgrade`"
    )
