"""Turning a store URL into a configured SQLAlchemy engine, and database errors into ours.

SQLite connections get WAL, foreign keys and a busy timeout, and crmbridge
issues ``BEGIN`` itself (the ``sqlite3`` module's implicit transactions
would let a read-then-write unit of work interleave with another writer).
They checkpoint the log themselves only past :data:`~crmbridge.store.checkpoint.BACKSTOP_PAGES`:
the store does it beside them (see :mod:`crmbridge.store.checkpoint`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.pool import StaticPool

from crmbridge.errors import ConfigError, StoreError
from crmbridge.store.checkpoint import BACKSTOP_PAGES

__all__ = [
    "DEFAULT_URL",
    "IMMEDIATE",
    "create_store_engine",
    "describe",
    "normalize_url",
    "translate_errors",
]

#: Used when the config names no store.
DEFAULT_URL = "sqlite:///crmbridge.db"

#: Execution option asking for ``BEGIN IMMEDIATE`` on SQLite (take the write lock up front).
IMMEDIATE = "crmbridge_sqlite_immediate"

SQLITE_BUSY_TIMEOUT_MS = 30_000

_URL_HELP = "expected sqlite:///path/to/file.db or postgresql://user@host:5432/dbname"


def normalize_url(url: str | URL) -> URL:
    """Parse a store URL, mapping bare ``postgresql://`` (and ``postgres://``) to psycopg 3.

    Raises :class:`ConfigError` for anything that is not a SQLite or PostgreSQL URL.
    """
    try:
        parsed = make_url(url)
    except exc.ArgumentError:
        raise ConfigError(
            f"the store URL is not a database URL; {_URL_HELP}", key="store.url"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "postgres" or (backend == "postgresql" and "+" not in parsed.drivername):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"the store must be SQLite or PostgreSQL, not {parsed.get_backend_name()!r}; "
            f"{_URL_HELP}",
            key="store.url",
        )
    if parsed.get_backend_name() == "sqlite":
        _check_sqlite(parsed)
    return parsed


def is_in_memory(url: URL) -> bool:
    """Whether ``url`` is a SQLite database that lives in memory (gone when closed)."""
    return url.get_backend_name() == "sqlite" and (
        url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"
    )


def _check_sqlite(url: URL) -> None:
    """Refuse a SQLite URL with a host part: two slashes where a path needs three."""
    if url.host:
        raise ConfigError(
            f"{url.render_as_string()} names no file: a SQLite URL has three slashes before a "
            f"relative path (sqlite:///{url.host}/{url.database or ''}, from the config's "
            "folder) and four before an absolute one",
            key="store.url",
        )


def describe(url: URL) -> str:
    """The URL for messages, with any password hidden."""
    return url.render_as_string(hide_password=True)


# One encoder for every value: json.dumps with options builds a new encoder per call.
def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _json_loads(value: Any) -> Any:
    # SQLite's numeric affinity hands a bare JSON number back as a number
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def create_store_engine(url: str | URL) -> Engine:
    """Create an engine for ``url`` with crmbridge's connection settings.

    No connection is made yet; the first statement that fails to connect
    raises :class:`StoreError` through :func:`translate_errors`.
    """
    parsed = normalize_url(url)
    kwargs: dict[str, Any] = {"json_serializer": _json_dumps}
    if parsed.get_backend_name() == "sqlite":
        # psycopg hands JSONB over already parsed; SQLite gives text to parse
        kwargs["json_deserializer"] = _json_loads
        if parsed.database in (None, "", ":memory:"):
            kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
        else:
            kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
            if not parsed.database.startswith("file:"):  # a URI filename is SQLite's to read
                _make_folder(Path(parsed.database).expanduser().absolute().parent)
    else:
        kwargs.update(pool_pre_ping=True, connect_args={"connect_timeout": 10})
    try:
        engine = sa.create_engine(parsed, **kwargs)
    except (exc.ArgumentError, ImportError) as error:
        raise ConfigError(f"cannot use the store URL {describe(parsed)}: {error}") from None
    if parsed.get_backend_name() == "sqlite":
        _configure_sqlite(engine)
    return engine


def _make_folder(folder: Path) -> None:
    """A new hub file may live in a folder that does not exist yet."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(
            f"cannot create the folder {folder} for the hub's SQLite file: {error.strerror}"
        ) from None


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            # 32 MB of pages per connection: a 100,000-row import runs no faster with 64, and a
            # 1,000,000-row migration's peak RSS is 207 MB with 32 against 242 MB with 64
            cursor.execute("PRAGMA cache_size=-32768")
            # the store checkpoints in a thread of its own; this is the backstop
            cursor.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@contextmanager
def translate_errors(engine: Engine) -> Iterator[None]:
    """Turn driver errors raised inside the block into a one-line :class:`StoreError`."""
    try:
        yield
    except exc.OperationalError as error:
        if error.connection_invalidated or _is_connect_error(error):
            raise StoreError(
                f"cannot reach the hub database at {describe(engine.url)}: {_first_line(error)}"
                + _hint(error)
            ) from error
        raise StoreError(_failed(engine, error)) from error
    except exc.IntegrityError as error:
        raise StoreError(f"the hub database refused a write: {_first_line(error)}") from error
    except exc.DBAPIError as error:
        raise StoreError(_failed(engine, error)) from error


def _failed(engine: Engine, error: BaseException) -> str:
    return f"the hub database at {describe(engine.url)} failed: {_first_line(error)}" + _hint(error)


_HINTS = {
    "readonly database": "crmbridge needs to write the file and its folder (for the journal); "
    "give it write access, or point store.url elsewhere",
    "file is not a database": "store.url names a file that is not a SQLite database; point it "
    "at a hub file, or at a new one",
    "unable to open database file": "check that the file's folder exists and crmbridge may "
    "write there, or point store.url elsewhere",
    "disk i/o error": "check the disk and the file's folder (a network or read-only file system?)",
    "database or disk is full": "free some space on the disk that holds the hub",
}


def _hint(error: BaseException) -> str:
    """How to fix a SQLite error a person can fix, after "; " (else nothing)."""
    text = _first_line(error).lower()
    return next((f"; {hint}" for needle, hint in _HINTS.items() if needle in text), "")


def _is_connect_error(error: exc.OperationalError) -> bool:
    text = str(error.orig).lower()
    return any(
        hint in text
        for hint in ("connection", "could not connect", "unable to open", "timeout expired")
    )
