"""Opening and upgrading the hub database."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from crmbridge.errors import ConfigError, StoreError
from crmbridge.store import current_revision, head_revision, is_current, open_store, upgrade
from crmbridge.store.engine import create_store_engine, normalize_url
from crmbridge.store.tables import metadata


def test_upgrade_is_idempotent(store_url: str) -> None:
    assert current_revision(store_url) is None
    assert not is_current(store_url)
    upgrade(store_url)
    upgrade(store_url)
    assert current_revision(store_url) == head_revision()
    assert is_current(store_url)


def test_migrations_create_exactly_the_tables_the_code_uses(store_url: str) -> None:
    upgrade(store_url)
    engine = create_store_engine(store_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()


def test_an_empty_sqlite_file_is_upgraded_on_first_open(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    path.touch()
    with open_store(f"sqlite:///{path}") as store:
        assert store.is_current()
        assert store.max_seq() == 0


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'hub.db'}") as store, store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() >= 1000


def test_in_memory_sqlite_works_for_quick_tests() -> None:
    with open_store("sqlite://") as store:
        assert store.is_current()


@pytest.mark.postgres
def test_postgres_without_upgrade_says_to_run_db_upgrade(postgres_url: str) -> None:
    with pytest.raises(StoreError, match=r"has no crmbridge schema.*run `crmbridge db upgrade`"):
        open_store(postgres_url)
    upgrade(postgres_url)
    with open_store(postgres_url) as store:
        assert store.is_current()


def test_unreachable_postgres_is_a_one_line_store_error() -> None:
    with pytest.raises(StoreError) as caught:
        open_store("postgresql://nobody@127.0.0.1:1/nothing")
    message = str(caught.value)
    assert "cannot reach the hub database" in message
    assert "\n" not in message


def test_password_is_not_shown_in_errors() -> None:
    with pytest.raises(StoreError) as caught:
        open_store("postgresql://nobody:s3cret@127.0.0.1:1/nothing")
    assert "s3cret" not in str(caught.value)


def test_sqlite_in_a_missing_directory_gets_its_folder(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'new' / 'folder' / 'hub.db'}")
    assert store.is_current()
    store.close()
    assert (tmp_path / "new" / "folder" / "hub.db").is_file()


def test_sqlite_where_no_folder_can_be_made_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises((StoreError, ConfigError)):
        open_store(f"sqlite:///{blocker / 'hub.db'}")


@pytest.mark.parametrize("url", ["not a url", "mysql://u@h/db", "://"])
def test_bad_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        open_store(url)


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("postgresql://u@h/db", "postgresql+psycopg"),
        ("postgres://u@h/db", "postgresql+psycopg"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg"),
        ("sqlite:///x.db", "sqlite"),
    ],
)
def test_bare_postgresql_urls_use_psycopg_3(given: str, driver: str) -> None:
    assert normalize_url(given).drivername == driver


def test_upgrade_accepts_an_engine(tmp_path: Path) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    try:
        upgrade(engine)
        assert is_current(engine)
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT value FROM hub_sequence")).scalar_one() == 0
    finally:
        engine.dispose()
