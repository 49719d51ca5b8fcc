"""``crmbridge status`` and ``GET /jobs``: the next run from the live scheduler, else the config."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from crmbridge.service import Bridge
from crmbridge.testing import FakeClock
from crmbridge.web import create_app

from .support import SyncClient

CONFIG = """
store: {{url: "{store}"}}
server: {{lease_ttl_s: 30}}
connectors:
  mem: {{type: memory}}
jobs:
  hourly: {{connector: mem, entities: [stakeholders], schedule: {{every: 1h}}}}
  nightly: {{connector: mem, entities: [stakeholders], schedule: {{cron: "0 3 * * *"}}}}
  by-hand: {{connector: mem, entities: [stakeholders]}}
"""


@pytest.fixture
def bridge(clocked_bridge: Callable[[str], Bridge]) -> Bridge:
    return clocked_bridge(CONFIG)


def next_runs(rows: list[dict[str, object]]) -> dict[object, tuple[object, object]]:
    return {row["job"]: (row["next_run"], row["next_run_source"]) for row in rows}


def test_the_next_run_comes_from_the_config_while_no_scheduler_runs(
    bridge: Bridge, clock: FakeClock
) -> None:
    assert next_runs(bridge.status()) == {
        "hourly": (clock().isoformat(), "config"),  # never ran: due now
        "nightly": ("2026-01-06T03:00:00+00:00", "config"),
        "by-hand": (None, "config"),
    }


def test_a_live_scheduler_s_next_run_wins_and_the_earliest_replica_s_is_shown(
    bridge: Bridge, clock: FakeClock
) -> None:
    at = clock()
    bridge.store.publish_schedules(
        "replica-a:101", {"hourly": at + timedelta(minutes=17), "nightly": _at("2026-01-06T03:00")}
    )
    bridge.store.publish_schedules("replica-b:202", {"hourly": at + timedelta(minutes=9)})
    expected = {
        "hourly": ((at + timedelta(minutes=9)).isoformat(), "scheduler"),
        "nightly": ("2026-01-06T03:00:00+00:00", "scheduler"),
        "by-hand": (None, "config"),
    }
    assert next_runs(bridge.status()) == expected

    client = SyncClient(create_app(bridge))
    try:
        assert next_runs(client.get("/jobs").json()["jobs"]) == expected
    finally:
        client.close()


def test_a_replica_that_stopped_refreshing_is_ignored(bridge: Bridge, clock: FakeClock) -> None:
    bridge.store.publish_schedules("replica-a:101", {"hourly": clock() + timedelta(minutes=17)})
    clock.advance(29)  # replicas refresh every third of lease_ttl_s: this one is still up
    assert next_runs(bridge.status())["hourly"][1] == "scheduler"
    clock.advance(2)  # not heard of for longer than lease_ttl_s: killed, or cut off
    assert next_runs(bridge.status())["hourly"] == (clock().isoformat(), "config")


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text + "+00:00")
