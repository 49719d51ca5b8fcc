"""What ``crmbridge status`` and the daemon's ``/metrics`` read from the hub about each job."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
from prometheus_client import CollectorRegistry

from crmbridge.daemon_metrics import SyncMetrics
from crmbridge.service import Bridge
from crmbridge.testing import FakeClock

CONFIG = """
store: {{url: "{store}"}}
connectors:
  mem: {{type: memory}}
jobs:
  mem-sync: {{connector: mem, entities: [stakeholders], schedule: {{every: 1m}}}}
"""


@pytest.fixture
def bridge(clocked_bridge: Callable[[str], Bridge]) -> Bridge:
    return clocked_bridge(CONFIG)


def gauge(registry: CollectorRegistry, name: str, job: str) -> float:
    value = registry.get_sample_value(name, {"job": job})
    assert value is not None
    return value


def test_lag_counts_from_the_last_success_however_many_runs_failed_since(
    bridge: Bridge, clock: FakeClock
) -> None:
    # a job failing every minute for an hour is when the lag matters most: it must not read
    # "never succeeded" because the success is older than the last few dozen runs
    store = bridge.store
    good = store.start_run("mem-sync", "sync", host="ops-2", pid=7)
    store.finish_run(good.id, "succeeded")
    for _ in range(60):
        clock.advance(60)
        failed = store.start_run("mem-sync", "sync", host="ops-2", pid=7)
        store.finish_run(failed.id, "failed")
    clock.advance(60)

    (row,) = bridge.status()
    assert row["lag_s"] == 61 * 60
    assert row["last_run"]["status"] == "failed"
    registry = CollectorRegistry()
    SyncMetrics(registry, bridge)
    assert gauge(registry, "crmbridge_seconds_since_last_success", "mem-sync") == 61 * 60


def test_lag_is_absent_before_the_first_success(bridge: Bridge, clock: FakeClock) -> None:
    failed = bridge.store.start_run("mem-sync", "sync", host="ops-2", pid=7)
    bridge.store.finish_run(failed.id, "failed")
    (row,) = bridge.status()
    assert row["lag_s"] is None
    registry = CollectorRegistry()
    SyncMetrics(registry, bridge)
    assert math.isnan(gauge(registry, "crmbridge_seconds_since_last_success", "mem-sync"))
