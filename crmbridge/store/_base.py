"""What every part of the repository shares: how it gets a connection, and small SQL helpers."""

from __future__ import annotations

import functools
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, closing
from dataclasses import fields
from datetime import datetime
from typing import Any, TypeVar

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from crmbridge.encoded import Encoded
from crmbridge.store.tables import hub_sequence

T = TypeVar("T")

# Well under SQLite's bound-parameter limit, and keeps PostgreSQL plans simple.
CHUNK = 500


class Scope(ABC):
    """A place store methods run: the :class:`Store` itself (one transaction per call)
    or a :class:`Transaction` (every call in the caller's transaction)."""

    _now: Callable[[], datetime]

    @abstractmethod
    def _read(self) -> AbstractContextManager[Connection]:
        """A connection in a transaction for reading."""

    @abstractmethod
    def _write(self) -> AbstractContextManager[Connection]:
        """A connection in a transaction that will write (``BEGIN IMMEDIATE`` on SQLite)."""


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """``items`` in consecutive slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def any_of(
    connection: Connection, column: sa.ColumnElement[Any], values: Sequence[Any]
) -> sa.ColumnElement[bool]:
    """``column IN values`` with the values as one bound parameter.

    A plain ``IN`` renders one placeholder per value on every execution,
    which costs more than the lookup itself for the hundreds of ids a page of
    a sync asks about. SQLite reads the values from a JSON array
    (``json_each``), PostgreSQL from an array (``= ANY``); either way the
    statement's text stays the same and its compiled form is cached.
    """
    if connection.dialect.name == "postgresql":
        # an unsized text array: a cast to VARCHAR(n)[] would cut a longer value to n
        # characters, and a value not stored would find the record it is a prefix of
        item = sa.Text() if isinstance(column.type, sa.String) else column.type
        return column == sa.func.any(sa.bindparam(None, list(values), type_=postgresql.ARRAY(item)))
    if not _sqlite_has_json():
        return column.in_(list(values))
    listed = sa.func.json_each(sa.bindparam(None, list(values), type_=_JSON_LIST))
    return column.in_(sa.select(sa.literal_column("value")).select_from(listed))


_JSON_LIST = sa.JSON()


@functools.cache
def _sqlite_has_json() -> bool:
    """Whether this process's SQLite has ``json_each`` (built in since 3.38, optional before)."""
    try:
        with closing(sqlite3.connect(":memory:")) as probe:
            probe.execute("SELECT value FROM json_each('[1]')").fetchall()
    except sqlite3.Error:
        return False
    return True


def upsert_insert(connection: Connection, table: sa.Table) -> Any:
    """An ``INSERT`` for ``table`` that supports ``ON CONFLICT`` on the connection's backend."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def columns_for(table: sa.Table, row_type: type[Any]) -> list[sa.Column[Any]]:
    """``table``'s columns in the order of the dataclass ``row_type``'s fields."""
    return [table.c[f.name] for f in fields(row_type)]


def lock_sequence(connection: Connection) -> int:
    """Lock the change-feed counter for this transaction and return its value.

    On PostgreSQL the row lock makes concurrent writers queue here, so the
    numbers they take are handed out in commit order.
    """
    return int(
        connection.execute(
            sa.select(hub_sequence.c.value).where(hub_sequence.c.id == 1).with_for_update()
        ).scalar_one()
    )


def take_seqs(connection: Connection, count: int) -> int:
    """Reserve ``count`` change-feed numbers and return the last; the first is ``last - count + 1``."""
    return int(
        connection.execute(
            sa.update(hub_sequence)
            .where(hub_sequence.c.id == 1)
            .values(value=hub_sequence.c.value + count)
            .returning(hub_sequence.c.value)
        ).scalar_one()
    )


def as_dict(value: Mapping[str, Any] | None) -> dict[str, Any] | orjson.Fragment | None:
    """``value`` as a JSON column takes it: a dict as it is (it is encoded when the statement
    runs), an :class:`~crmbridge.encoded.Encoded` as its encoding, another mapping as a dict
    copy; ``None`` kept."""
    cell = json_cell(value)
    return orjson.Fragment(cell.raw) if isinstance(cell, Encoded) else cell


def json_cell(value: Mapping[str, Any] | None) -> dict[str, Any] | Encoded | None:
    """``value`` as :func:`insert_rows` takes a JSON cell: a dict or an
    :class:`~crmbridge.encoded.Encoded` as it is, another mapping as a dict copy."""
    if value is None or isinstance(value, dict | Encoded):
        return value
    return dict(value)


def insert_rows(
    connection: Connection, table: sa.Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert many rows given as tuples in ``columns`` order.

    A JSON cell may be an :class:`~crmbridge.encoded.Encoded` (see :func:`json_cell`).
    On SQLite this binds the values with the columns' own type processors and
    hands one ``executemany`` to the driver, skipping SQLAlchemy's per-row
    statement bookkeeping, which is most of the cost of a large first sync.
    Elsewhere it is a plain Core insert.
    """
    if not rows:
        return
    dialect = connection.dialect
    if dialect.name != "sqlite":
        connection.execute(
            sa.insert(table),
            [
                {
                    name: as_dict(v) if type(v) is Encoded else v
                    for name, v in zip(columns, row, strict=True)
                }
                for row in rows
            ],
        )
        return
    sql, processors = _insert_plan(dialect, table, tuple(columns))
    if not processors:
        connection.exec_driver_sql(sql, list(rows))
        return
    # column by column: one comprehension per processed column instead of a loop per cell
    cells: list[Sequence[Any]] = list(zip(*rows, strict=True))
    for index, process in processors:
        column = cells[index]
        first = column[0]
        if all(value is first for value in column):  # a batch's timestamp: converted once
            cells[index] = [None if first is None else process(first)] * len(column)
        else:
            cells[index] = [None if value is None else process(value) for value in column]
    connection.exec_driver_sql(sql, list(zip(*cells, strict=True)))


@functools.lru_cache(maxsize=256)  # by dialect: a process making many engines keeps few
def _insert_plan(
    dialect: sa.Dialect, table: sa.Table, columns: tuple[str, ...]
) -> tuple[str, list[tuple[int, Callable[[Any], Any]]]]:
    """The INSERT statement for ``columns`` and the bind processors of those that have one,
    by position (a JSON column's binds an encoded cell as its text)."""
    processors: list[tuple[int, Callable[[Any], Any]]] = []
    for index, name in enumerate(columns):
        column_type = table.c[name].type
        process = column_type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            json = isinstance(column_type, sa.JSON)
            processors.append((index, _encoded_as_text(process) if json else process))
    marks = ", ".join("?" * len(columns))
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})"
    return sql, processors


def _encoded_as_text(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A JSON column's processor that binds an :class:`~crmbridge.encoded.Encoded` as its text."""

    def bind(value: Any) -> Any:
        return value.raw.decode() if type(value) is Encoded else process(value)

    return bind
