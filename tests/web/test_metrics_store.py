"""The daemon's gauges read from the hub store, as ``GET /metrics`` serves them."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
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
        self.gate: threading.Event | None = None
        self.entered = threading.Event()

    def __getattr__(self, name: str) -> Any:
        real = getattr(self.store, name)
        if not callable(real):
            return real

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.gate is not None and not self.entered.is_set():
                self.entered.set()  # the first call waits: the store is slow to answer
                self.gate.wait(30)
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


def test_counts_by_job_as_the_store_holds_them(served: tuple[Bridge, Outage, SyncClient]) -> None:
    bridge, _, client = served
    store = bridge.store
    for job, n in (("peer-in", 3), ("mem-sync", 2)):
        for i in range(n):
            store.add_inbox_item(NewInboxItem("conflict", job, "mem", "stakeholders", f"r{i}"))
            store.add_outbox(job, "mem", "stakeholders", f"{job}-{i}", {"n": i})
    (settled, *_) = store.list_open_inbox("mem-sync")
    assert store.resolve_inbox_item(settled.id, {"take": "hub"})
    (sent, *_) = store.list_pending_outbox(job="peer-in")
    assert store.mark_outbox_sent(sent.id)

    values = samples(client.get("/metrics").text)
    assert values["crmbridge_inbox_open", "peer-in"] == 3
    assert values["crmbridge_inbox_open", "mem-sync"] == 1
    assert values["crmbridge_inbox_open", "zc-sync"] == 0
    assert values["crmbridge_outbox_depth", "peer-in"] == 2
    assert values["crmbridge_outbox_depth", "mem-sync"] == 2
    assert values["crmbridge_outbox_depth", "zc-sync"] == 0
    rows = {row["job"]: row for row in client.get("/jobs").json()["jobs"]}
    assert (rows["peer-in"]["open_conflicts"], rows["peer-in"]["outbox_depth"]) == (3, 2)
    assert (rows["mem-sync"]["open_conflicts"], rows["mem-sync"]["outbox_depth"]) == (1, 2)


def test_a_scrape_waiting_on_the_store_does_not_hold_other_requests_up(
    served: tuple[Bridge, Outage, SyncClient],
) -> None:
    # the store is read in a worker thread: webhooks keep their 202s while it counts
    _, outage, client = served
    outage.gate = threading.Event()
    with ThreadPoolExecutor(2) as requests:
        try:
            scrape = requests.submit(client.get, "/metrics")
            assert outage.entered.wait(30)
            health = requests.submit(client.get, "/healthz")
            assert health.result(timeout=20).status_code == 200
            assert not scrape.done()
        finally:
            outage.gate.set()
        assert scrape.result(timeout=30).status_code == 200
