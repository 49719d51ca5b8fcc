"""A hub database outage under ``crmbridge run``: said once per event, plainly, no traceback."""

from __future__ import annotations

import contextlib
import logging
import signal
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from outage import Relay
from sqlalchemy.engine import make_url
from test_daemon import start, stop_all, wait_for, write_config

from crmbridge.errors import StoreError
from crmbridge.job_lease import holding_job
from crmbridge.store import open_store, upgrade

__all__ = ["stop_all"]


@pytest.fixture
def relay(postgres_url: str) -> Iterator[tuple[Relay, str]]:
    """A relay to the test database and the store URL through it."""
    url = make_url(postgres_url)
    outage = Relay((url.host or "127.0.0.1", url.port or 5432))
    try:
        yield (
            outage,
            url.set(host="127.0.0.1", port=outage.port).render_as_string(hide_password=False),
        )
    finally:
        outage.down()


def _errors(log: str) -> list[str]:
    return [line for line in log.splitlines() if " ERROR " in line]


@pytest.mark.postgres
def test_scheduled_runs_during_an_outage_log_one_error_line_each(
    tmp_path: Path, relay: tuple[Relay, str], stop_all: list[subprocess.Popen[str]]
) -> None:
    outage, url = relay
    upgrade(url)
    config = write_config(tmp_path, url, every="1s", ttl=3)
    daemon = start(config)
    stop_all.append(daemon)
    store = open_store(url)
    wait_for(lambda: any(r.status == "succeeded" for r in store.list_runs("files-sync")))
    store.close()
    log = tmp_path / "run.log"
    outage.down()
    wait_for(lambda: len(_errors(log.read_text(encoding="utf-8"))) >= 3)
    port = int(config.read_text(encoding="utf-8").split("port: ", 1)[1].split(",", 1)[0])
    answer = httpx.get(f"http://127.0.0.1:{port}/jobs", timeout=30)
    assert answer.status_code == 503
    assert answer.json()["error"] == "store_unavailable"
    # runs that failed before they could report (the lease could not be read) count as failed
    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
    assert 'crmbridge_runs_total{job="files-sync",status="failed"}' in metrics
    outage.up()
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(timeout=60)
    text = log.read_text(encoding="utf-8")
    assert daemon.returncode == 0, text
    assert "Traceback" not in text
    errors = _errors(text)
    assert all("hub database" in line for line in errors), errors
    (request,) = [line for line in errors if "/jobs" in line]
    assert "GET /jobs" in request
    runs = [line for line in errors if line is not request]
    assert len(runs) >= 3
    assert all("files-sync" in line for line in runs), runs


@pytest.mark.postgres
def test_a_lease_heartbeat_the_database_refuses_is_one_error_line(
    relay: tuple[Relay, str], caplog: pytest.LogCaptureFixture
) -> None:
    outage, url = relay
    upgrade(url)
    store = open_store(url)
    caplog.set_level(logging.INFO)
    try:
        # giving the lease up may meet a connection the outage cut; the heartbeat is tested
        with (
            contextlib.suppress(StoreError),
            holding_job(store, "files-sync", timedelta(seconds=0.3), "ops-1:4242"),
        ):
            outage.down()
            wait_for(lambda: any(r.name == "crmbridge.job_lease" for r in caplog.records))
            outage.up()
    finally:
        store.close()
    beats = [r for r in caplog.records if r.name == "crmbridge.job_lease"]
    assert beats
    for record in beats:
        assert record.levelno == logging.ERROR, record.getMessage()
        assert record.exc_info is None
        assert "files-sync" in record.getMessage()
        assert "hub database" in record.getMessage()
    assert not [r for r in caplog.records if r.exc_info]
