"""Triggers, runs, jobs, conflicts, health and metrics."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from crmbridge.job_lease import leased
from crmbridge.service import Bridge
from crmbridge.store import NewInboxItem
from crmbridge.sync.runner import RunReport
from crmbridge.web import RunRegistry, create_app

from .support import TOKEN, SyncClient, auth, make_bridge, wait_for_run


def test_health_ready_openapi(client: SyncClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/webhooks/{connector}", "/jobs/{job}/run", "/runs/{run_id}", "/jobs"} <= set(paths)
    assert client.get("/nowhere").json()["error"] == "not_found"
    assert client.get("/webhooks/peer").status_code == 405


def test_a_trigger_needs_the_bearer_token(
    client: SyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert client.post("/jobs/mem-sync/run").status_code == 401
    wrong = client.post("/jobs/mem-sync/run", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"] == "Bearer"
    assert client.post("/jobs/ghost/run", headers=auth()).json()["error"] == "unknown_job"
    answer = client.post("/jobs/mem-sync/run", headers=auth())
    assert answer.status_code == 202
    run_id = answer.json()["run_id"]
    report = wait_for_run(client, run_id)
    assert report["run_id"] == run_id
    assert report["status"] == "succeeded"
    assert set(report) >= {"counts", "entities", "duration_s", "dry_run"}
    jobs = {row["job"]: row for row in client.get("/jobs").json()["jobs"]}
    assert jobs["mem-sync"]["last_run"]["run_id"] == run_id
    assert TOKEN not in caplog.text


def test_no_token_configured_refuses_triggers(tmp_path: Path, store_url: str) -> None:
    bridge = make_bridge(tmp_path, store_url, token=False)
    client = SyncClient(create_app(bridge))
    try:
        answer = client.post("/jobs/mem-sync/run", headers=auth())
        assert answer.status_code == 403
        assert "trigger_token" in answer.json()["message"]
        assert client.get("/conflicts", headers=auth()).status_code == 403
    finally:
        client.close()
        bridge.close()


def test_a_running_job_answers_409_with_its_run(tmp_path: Path, store_url: str) -> None:
    bridge = make_bridge(tmp_path, store_url)
    gate: dict[str, Any] = {}

    async def slow(job: str, run_id: str) -> RunReport:
        gate.setdefault("event", asyncio.Event())
        await gate["event"].wait()
        return RunReport(run_id, job, "succeeded", {}, {}, None, 0.0)

    registry = RunRegistry(slow)
    client = SyncClient(create_app(bridge, runs=registry))
    try:
        first = client.post("/jobs/mem-sync/run", headers=auth()).json()["run_id"]
        second = client.post("/jobs/mem-sync/run", headers=auth())
        assert second.status_code == 409
        assert second.json()["run_id"] == first
        assert client.get(f"/runs/{first}").json()["status"] == "running"
        client.portal.call(lambda: gate["event"].set())
    finally:
        client.close()
        bridge.close()


def test_unknown_run_is_404(client: SyncClient) -> None:
    assert client.get("/runs/nope").json()["error"] == "unknown_run"


def test_conflicts_list_and_resolve(client: SyncClient, bridge: Bridge) -> None:
    assert client.get("/conflicts").status_code == 401
    item = bridge.store.add_inbox_item(
        NewInboxItem("blocked_delete", "peer-in", "peer", "stakeholders", record_id="r1")
    )
    items = client.get("/conflicts", headers=auth()).json()["items"]
    assert [i["id"] for i in items] == [item.id]
    for body, status in [
        (b"{", 400),
        (b"[]", 422),
        (b'{"take": "both"}', 422),
        (b'{"take": "hub", "link": "x"}', 422),
        (b'{"values": 3}', 422),
    ]:
        answer = client.post(f"/conflicts/{item.id}/resolve", content=body, headers=auth())
        assert answer.status_code == status, (body, answer.text)
    assert client.post("/conflicts/abc/resolve", content=b"{}", headers=auth()).status_code == 422
    missing = client.post("/conflicts/999999/resolve", json={"take": "hub"}, headers=auth())
    assert missing.status_code in (404, 409)
    assert set(missing.json()) == {"error", "message"}
    # an id past 64 bits is no item either, not a 500 from the driver
    huge = client.post(f"/conflicts/{2**64}/resolve", json={"take": "hub"}, headers=auth())
    assert huge.status_code == 404


def test_metrics_are_prometheus_text(client: SyncClient) -> None:
    client.get("/healthz")
    answer = client.get("/metrics")
    assert answer.headers["content-type"].startswith("text/plain")
    assert (
        'crmbridge_http_requests_total{method="GET",route="/healthz",status="200"} 1.0'
        in answer.text
    )
    assert "crmbridge_runs_in_progress 0.0" in answer.text


def test_a_server_does_not_run_a_job_a_daemon_elsewhere_runs(
    tmp_path: Path, store_url: str
) -> None:
    bridge = make_bridge(tmp_path, store_url)
    client = SyncClient(create_app(bridge, lease_jobs=True))
    try:
        assert bridge.store.try_acquire_lease("job:mem-sync", "ops-1:4242", timedelta(minutes=5))
        busy = client.post("/jobs/mem-sync/run", headers=auth())
        assert busy.status_code == 409
        assert busy.json()["error"] == "running_elsewhere"
        assert "job mem-sync is running in ops-1:4242" in busy.json()["message"]
        assert bridge.store.list_runs("mem-sync") == []
        bridge.store.release_lease("job:mem-sync", "ops-1:4242")
        run_id = client.post("/jobs/mem-sync/run", headers=auth()).json()["run_id"]
        assert wait_for_run(client, run_id)["status"] == "succeeded"
        assert bridge.store.get_lease("job:mem-sync") is None  # given up once the run ended
    finally:
        client.close()
        bridge.close()


def test_a_run_that_finds_its_job_taken_elsewhere_waits_for_it(
    tmp_path: Path, store_url: str
) -> None:
    bridge = make_bridge(tmp_path, store_url)
    try:
        ran: list[str] = []

        async def run(job: str, run_id: str) -> RunReport:
            ran.append(run_id)
            return RunReport(run_id, job, "succeeded", {}, {}, None, 0.0)

        run_leased = leased(bridge.store, timedelta(seconds=3), run)

        async def scenario() -> RunReport:
            # taken between the check and the run, by a `crmbridge sync` elsewhere
            assert bridge.store.try_acquire_lease(
                "job:mem-sync", "ops-1:4242", timedelta(minutes=5)
            )
            waiting = asyncio.create_task(run_leased("mem-sync", "r1"))
            await asyncio.sleep(0.2)
            assert ran == []
            bridge.store.release_lease("job:mem-sync", "ops-1:4242")
            return await asyncio.wait_for(waiting, 30)

        report = asyncio.run(scenario())
        assert (report.status, ran) == ("succeeded", ["r1"])
        assert bridge.store.get_lease("job:mem-sync") is None
    finally:
        bridge.close()
