"""Fixtures shared by the whole test suite.

Store tests run against SQLite and, when ``CRMBRIDGE_TEST_POSTGRES_URL`` is set
(e.g. ``postgresql+psycopg://postgres@127.0.0.1:5432/test``), PostgreSQL too: a
throwaway database is created for the session and every test gets an empty
schema in it.
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import settings
from sqlalchemy.engine import make_url

from crmbridge.config import load_config
from crmbridge.registry import discover, settings_models
from crmbridge.service import Bridge
from crmbridge.store import Store, open_store, upgrade
from crmbridge.testing import FakeClock

POSTGRES_ENV = "CRMBRIDGE_TEST_POSTGRES_URL"

# no test measures time: on a loaded CI machine a per-example deadline only makes flakes
settings.register_profile("crmbridge", deadline=None)
settings.load_profile("crmbridge")


Unit = Callable[[Callable[[], None]], None]
"""A unit of work run beside another: it calls the rendezvous it is handed where it should meet it."""


@pytest.fixture
def side_by_side() -> Callable[..., list[BaseException]]:
    """Run units of work in threads at once, each meeting the others at its rendezvous.

    Returns what they raised. A unit that waits on a lock another holds never
    reaches the rendezvous, so it gives up after a second and the others go on:
    a lock order that lets only one through passes, a deadlock raises.
    """

    def run(*units: Unit) -> list[BaseException]:
        meeting = threading.Barrier(len(units), timeout=1)
        failures: list[BaseException] = []

        def rendezvous() -> None:
            with contextlib.suppress(threading.BrokenBarrierError):
                meeting.wait()

        def guarded(unit: Unit) -> None:
            try:
                unit(rendezvous)
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=guarded, args=(unit,)) for unit in units]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return failures

    return run


@pytest.fixture
def clock() -> FakeClock:
    """A frozen, advanceable UTC clock."""
    return FakeClock()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str | None]:
    """A fresh PostgreSQL database for this session (dropped afterwards), or None if unset."""
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        yield None
        return
    admin_url = make_url(base).set(drivername="postgresql+psycopg")
    name = f"crmbridge_t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield admin_url.set(database=name).render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


def _empty_postgres_schema(url: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
    finally:
        engine.dispose()


@pytest.fixture
def postgres_url(postgres_database: str | None) -> str:
    """The URL of an empty PostgreSQL schema; skips when ``CRMBRIDGE_TEST_POSTGRES_URL`` is unset.

    Mark tests using it ``@pytest.mark.postgres``.
    """
    if postgres_database is None:
        pytest.skip(f"{POSTGRES_ENV} is not set")
    _empty_postgres_schema(postgres_database)
    return postgres_database


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Store]:
    """A SQLite hub file in the test's folder (``hub.db``), for tests run on SQLite only."""
    store = open_store(f"sqlite:///{tmp_path / 'hub.db'}")
    yield store
    store.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty, not yet upgraded hub database: a SQLite file, or PostgreSQL.

    The postgres case is skipped only when ``CRMBRIDGE_TEST_POSTGRES_URL`` is unset.
    """
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hub.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def store(store_url: str, clock: FakeClock) -> Iterator[Store]:
    """An upgraded hub :class:`Store` on ``store_url`` whose clock is ``clock``."""
    upgrade(store_url)
    opened = open_store(store_url, now=clock)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def clocked_bridge(
    tmp_path: Path, store_url: str, clock: FakeClock
) -> Iterator[Callable[[str], Bridge]]:
    """Build a :class:`Bridge` from a config text (``{store}`` stands for ``store_url``) on an
    upgraded hub whose clock, like the bridge's, is ``clock``; its store is closed after."""
    built: list[Bridge] = []

    def build(config: str) -> Bridge:
        path = tmp_path / "crmbridge.yaml"
        path.write_text(config.format(store=store_url), encoding="utf-8")
        types = discover()
        upgrade(store_url)
        bridge = Bridge(
            load_config(path, {}, settings_models(types)),
            store=open_store(store_url, now=clock),
            now=clock,
            types=types,
        )
        built.append(bridge)
        return bridge

    try:
        yield build
    finally:
        for bridge in built:
            bridge.store.close()
