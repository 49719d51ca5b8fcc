"""Fixtures of the HTTP tests: a bridge over SQLite and PostgreSQL, and a client of its app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crmbridge.service import Bridge
from crmbridge.web import create_app

from .support import SyncClient, make_bridge


@pytest.fixture
def bridge(tmp_path: Path, store_url: str) -> Iterator[Bridge]:
    built = make_bridge(tmp_path, store_url)
    try:
        yield built
    finally:
        built.close()


@pytest.fixture
def client(bridge: Bridge) -> Iterator[SyncClient]:
    test_client = SyncClient(create_app(bridge))
    try:
        yield test_client
    finally:
        test_client.close()
