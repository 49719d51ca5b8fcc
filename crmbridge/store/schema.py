"""Running the Alembic migrations shipped in ``crmbridge/store/migrations``.

No ``alembic.ini`` is involved: the Alembic ``Config`` is built here, points at
the package directory (so it works from an installed wheel) and hands the
connection to ``env.py`` through ``config.attributes``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL, Connection, Engine

from crmbridge.store.engine import create_store_engine, translate_errors

__all__ = ["current_revision", "head_revision", "is_current", "upgrade"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Arbitrary constant: replicas starting together take turns to upgrade.
_UPGRADE_LOCK_KEY = 0x63726D62  # "crmb"


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


@contextmanager
def _engine(target: str | URL | Engine) -> Iterator[Engine]:
    if isinstance(target, Engine):
        yield target
        return
    engine = create_store_engine(target)
    try:
        yield engine
    finally:
        engine.dispose()


def head_revision() -> str:
    """The schema revision this version of crmbridge needs."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, "crmbridge ships at least one migration"
    return head


def upgrade(target: str | URL | Engine, revision: str = "head") -> None:
    """Bring the hub schema at ``target`` (a URL or an engine) up to ``revision``.

    Safe to run again on a current database, and from several replicas at once
    on PostgreSQL (they queue on an advisory lock).
    """
    with _engine(target) as engine, translate_errors(engine), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK_KEY}
            )
        command.upgrade(_config(connection), revision)


def current_revision(target: str | URL | Engine) -> str | None:
    """The schema revision the database at ``target`` is at, or ``None`` if it has none."""
    with _engine(target) as engine, translate_errors(engine), engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def is_current(target: str | URL | Engine) -> bool:
    """Whether the database at ``target`` has exactly the schema this crmbridge needs."""
    return current_revision(target) == head_revision()
