"""The daemon's gauges read from the hub store, as ``GET /metrics`` serves them."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from crmbridge.daemon_metrics import SyncMetrics
from crmbridge.errors import StoreError
from crmbridge.service import Bridge
from crmbridge.store import NewInboxItem, Store
from crmbridge.web import Metrics, create_app

from .support import SyncClient, make_bridge


class Outage:
    """A store whose every call fails as a hub database that is down (while ``down``)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.down = False
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        real = getattr(self.store, name)
        if not callable(real):
            return real

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.down:
                raise StoreError("cannot reach the hub database at postgresql://db/hub: refused")
            return real(*args, **kwargs)

        return call


@pytest.fixture
def served(tmp_path: Path, store_url: str) -> Iterator[tuple[Bridge, Outage, SyncClient]]:
    bridge = make_bridge(tmp_path, store_url)
    outage = Outage(bridge.store)
    bridge._store = outage  # type: ignore[assignment]
    metrics = Metrics()
    SyncMetrics(metrics.registry, bridge)
    client = SyncClient(create_app(bridge, metrics=metrics))
    try:
        yield bridge, outage, client
    finally:
        client.close()
        outage.store.close()


def samples(text: str) -> dict[tuple[str, str], float]:
    return {
        (sample.name, sample.labels.get("job", "")): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_gauges_the_store_cannot_answer_are_nan_and_the_rest_is_served(
    served: tuple[Bridge, Outage, SyncClient],
) -> None:
    bridge, outage, client = served
    bridge.store.add_inbox_item(
        NewInboxItem("blocked_delete", "peer-in", "peer", "stakeholders", record_id="r1")
    )
    up = samples(client.get("/metrics").text)
    assert up["crmbridge_inbox_open", "peer-in"] == 1
    assert up["crmbridge_outbox_depth", "peer-in"] == 0

    outage.down = True
    answer = client.get("/metrics")
    assert answer.status_code == 200
    down = samples(answer.text)
    for gauge in (
        "crmbridge_inbox_open",
        "crmbridge_outbox_depth",
        "crmbridge_seconds_since_last_success",
    ):
        assert math.isnan(down[gauge, "peer-in"]), gauge
    assert down["crmbridge_runs_in_progress", ""] == 0
    assert ("crmbridge_http_requests_total", "") in down

    outage.down = False
    assert samples(client.get("/metrics").text)["crmbridge_inbox_open", "peer-in"] == 1
