"""POST /webhooks/{connector}: verify, store before 202, dedupe, drain through the merge."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crmbridge.service import Bridge
from crmbridge.signatures import hmac_signature
from crmbridge.web import create_app

from .support import NOTIFY, SECRET, SyncClient, hub_counts, signed, wait_for_run


def _event(kind: str, record: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "timestamp": datetime.now(UTC).isoformat(), "data": record}


def test_an_accepted_event_is_stored_then_merged_into_the_hub(
    client: SyncClient, bridge: Bridge
) -> None:
    body, headers = signed(
        _event(
            "stakeholder.created",
            {"id": "p-1", "full_name": "Zoë Müller", "email": "zoe@example.com"},
        ),
        "msg_a1",
    )
    answer = client.post("/webhooks/peer", content=body, headers=headers)
    assert answer.status_code == 202, answer.text
    got = answer.json()
    assert got["webhook_id"] == "msg_a1"
    assert len(got["run_ids"]) == 1
    report = wait_for_run(client, got["run_ids"][0])
    assert report["status"] == "succeeded", report
    assert report["counts"]["created"] == 1
    assert bridge.store.count_records("stakeholders") == 1
    assert bridge.store.list_pending_webhooks("peer") == []

    # an update (events carry the whole record, as a poll would), then a delete, same merge
    record = {"id": "p-1", "full_name": "Zoë Müller", "email": "zoe@example.com", "title": "CTO"}
    body, headers = signed(_event("stakeholder.updated", record), "msg_a2")
    run_id = client.post("/webhooks/peer", content=body, headers=headers).json()["run_ids"][0]
    report = wait_for_run(client, run_id)
    assert report["counts"]["updated"] == 1, json.dumps(report)
    assert bridge.store.list_pending_webhooks("peer") == []
    body, headers = signed(_event("stakeholder.deleted", {"id": "p-1"}), "msg_a3")
    run_id = client.post("/webhooks/peer", content=body, headers=headers).json()["run_ids"][0]
    wait_for_run(client, run_id)
    assert bridge.store.count_records("stakeholders") == 0


def test_a_duplicate_answers_200_and_is_stored_once(client: SyncClient, bridge: Bridge) -> None:
    body, headers = signed(_event("organization.created", {"id": "o-1", "name": "ACME"}), "msg_d")
    first = client.post("/webhooks/peer", content=body, headers=headers)
    second = client.post("/webhooks/peer", content=body, headers=headers)
    assert (first.status_code, second.status_code) == (202, 200)
    assert second.json() == {"status": "duplicate", "webhook_id": "msg_d"}
    assert hub_counts(bridge)["webhook_inbox"] == 1


@pytest.mark.parametrize(
    "tamper",
    ["body", "stale", "future", "unsigned", "wrong-secret", "garbage-signature", "no-comma"],
)
def test_bad_signatures_are_401_and_change_nothing(
    client: SyncClient, bridge: Bridge, tamper: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    body, headers = signed(_event("stakeholder.created", {"id": "x"}), "msg_bad")
    if tamper == "body":
        body += b" "
    elif tamper in ("stale", "future"):
        # well past the five minutes allowed: a second's rounding and a slow request
        # must not bring the stamp back inside them
        shift = timedelta(seconds=360 if tamper == "future" else -360)
        body, headers = signed(
            _event("stakeholder.created", {"id": "x"}), "msg_bad", datetime.now(UTC) + shift
        )
    elif tamper == "unsigned":
        headers = {"content-type": "application/json"}
    elif tamper == "wrong-secret":
        from standardwebhooks import Webhook

        other = "whsec_" + "QUFB" * 8
        headers["webhook-signature"] = Webhook(other).sign(
            "msg_bad", datetime.now(UTC), body.decode()
        )
    elif tamper == "garbage-signature":
        headers["webhook-signature"] = "v1,@@@ v2 v1a,xx"
    else:
        headers["webhook-signature"] = "v1" + headers["webhook-signature"][3:]
    before = hub_counts(bridge)
    answer = client.post("/webhooks/peer", content=body, headers=headers)
    assert answer.status_code == 401
    assert set(answer.json()) == {"error", "message"}
    assert hub_counts(bridge) == before
    signature = headers.get("webhook-signature", "v1,none").split(",")[-1]
    for secret in (SECRET, SECRET.removeprefix("whsec_"), signature):
        assert secret not in answer.text
        assert secret not in caplog.text


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (b"{not json", 400, "malformed"),
        (b"\xff\xfe", 400, "malformed"),
        (
            json.dumps({"type": "planet.created", "data": {"id": "1"}}).encode(),
            422,
            "does_not_fit_mapping",
        ),
        (
            json.dumps({"type": "stakeholder.created", "data": {"name": "no id"}}).encode(),
            422,
            "does_not_fit_mapping",
        ),
        (
            json.dumps(
                {"type": "stakeholder.created", "data": {"id": "1", "email": "nope"}}
            ).encode(),
            422,
            "does_not_fit_mapping",
        ),
        (json.dumps({"type": 5, "data": {"id": "1"}}).encode(), 422, "does_not_fit_mapping"),
    ],
)
def test_payloads_that_do_not_fit(
    client: SyncClient, bridge: Bridge, body: bytes, status: int, error: str
) -> None:
    from standardwebhooks import Webhook

    now = datetime.now(UTC)
    headers = {
        "webhook-id": "msg_p",
        "webhook-timestamp": str(int(now.timestamp())),
        # sign the raw bytes (the reference library wants text, so sign by hand for non-UTF-8)
        "webhook-signature": _sign_bytes(body, "msg_p", now),
    }
    before = hub_counts(bridge)
    answer = client.post("/webhooks/peer", content=body, headers=headers)
    assert (answer.status_code, answer.json()["error"]) == (status, error), answer.text
    assert hub_counts(bridge) == before
    del Webhook


def _sign_bytes(body: bytes, msg_id: str, now: datetime) -> str:
    from crmbridge.signatures import sign_standard

    return sign_standard(SECRET, msg_id, int(now.timestamp()), body)


def test_body_limit_is_413_with_or_without_content_length(
    client: SyncClient, bridge: Bridge
) -> None:
    big = b'{"type": "stakeholder.created", "data": {"id": "1", "notes": "' + b"x" * 5000 + b'"}}'
    body, headers = signed(big, "msg_big")
    before = hub_counts(bridge)
    answer = client.post("/webhooks/peer", content=body, headers=headers)
    assert answer.status_code == 413
    assert answer.json()["error"] == "payload_too_large"

    async def chunks() -> Any:  # streamed, no Content-Length
        for start in range(0, len(body), 1000):
            yield body[start : start + 1000]

    answer = client.post("/webhooks/peer", content=chunks(), headers=headers)
    assert answer.status_code == 413
    assert hub_counts(bridge) == before


def test_other_schemes_and_explicit_none(client: SyncClient, bridge: Bridge) -> None:
    body = json.dumps(_event("organization.created", {"id": "g-1", "name": "Git"})).encode()
    value = "sha256=" + hmac_signature("gh-secret", body)
    ok = client.post(
        "/webhooks/gh",
        content=body,
        headers={"X-Hub-Signature-256": value, "X-GitHub-Delivery": "d1"},
    )
    assert ok.status_code == 202
    bad = client.post("/webhooks/gh", content=body, headers={"X-Hub-Signature-256": "sha256=00"})
    assert bad.status_code == 401
    assert client.post("/webhooks/open", content=body).status_code == 202
    assert client.post("/webhooks/open", content=body).status_code == 200  # body-hash dedupe


def test_unknown_and_non_receiving_connectors_are_404(client: SyncClient) -> None:
    assert client.post("/webhooks/nope", content=b"{}").json()["error"] == "unknown_connector"
    assert client.post("/webhooks/mem", content=b"{}").status_code == 404


def test_zoho_notifications_are_token_checked_hints_that_trigger_a_sync(
    client: SyncClient, bridge: Bridge, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    note = {
        "channel_id": "1105",
        "server_time": 1,
        "operation": "update",
        "ids": ["1"],
        "module": "Contacts",
        "token": NOTIFY,
    }
    answer = client.post("/webhooks/zc", json=note)
    assert answer.status_code == 202, answer.text
    (run_id,) = answer.json()["run_ids"]
    assert wait_for_run(client, run_id)["job"] == "zc-sync"
    assert client.post("/webhooks/zc", json=note).status_code == 200
    assert bridge.store.list_pending_webhooks("zc") == []
    forged = client.post("/webhooks/zc", json={**note, "token": "guess"})
    assert forged.status_code == 401
    assert NOTIFY not in forged.text
    assert NOTIFY not in caplog.text
    assert "guess" not in forged.text


def test_metrics_count_webhooks_and_runs(client: SyncClient) -> None:
    body, headers = signed(_event("organization.created", {"id": "o-m", "name": "M"}), "msg_m")
    run_id = client.post("/webhooks/peer", content=body, headers=headers).json()["run_ids"][0]
    client.post("/webhooks/peer", content=b"{}", headers={"webhook-id": "x"})
    wait_for_run(client, run_id)
    text = client.get("/metrics").text
    assert 'crmbridge_webhooks_total{connector="peer",outcome="accepted"} 1.0' in text
    assert 'crmbridge_webhooks_total{connector="peer",outcome="unauthorized"} 1.0' in text
    assert 'crmbridge_runs_total{job="peer-in",status="succeeded"}' in text
    assert (
        'crmbridge_http_requests_total{method="POST",route="/webhooks/{connector}",status="202"}'
        in text
    )


def test_an_event_taken_while_its_job_runs_elsewhere_is_merged_once_that_run_ends(
    bridge: Bridge,
) -> None:
    client = SyncClient(create_app(bridge, lease_jobs=True))  # as `crmbridge serve` makes it
    try:
        # `crmbridge sync peer-in` runs in another terminal, past reading the inbox
        assert bridge.store.try_acquire_lease("job:peer-in", "ops-1:4242", timedelta(minutes=5))
        record = {"id": "p-1", "full_name": "Zoë Müller", "email": "zoe@example.com"}
        body, headers = signed(_event("stakeholder.created", record), "msg_w1")
        answer = client.post("/webhooks/peer", content=body, headers=headers)
        assert answer.status_code == 202, answer.text
        (run_id,) = answer.json()["run_ids"]
        assert client.get(f"/runs/{run_id}").json()["status"] == "running"  # waiting its turn
        assert bridge.store.count_records("stakeholders") == 0
        assert bridge.store.release_lease("job:peer-in", "ops-1:4242")
        report = wait_for_run(client, run_id)
        assert (report["status"], report["counts"]["created"]) == ("succeeded", 1)
        assert bridge.store.list_pending_webhooks("peer") == []
    finally:
        client.close()


def test_an_event_about_an_entity_no_job_pulls_is_refused_not_left_waiting(
    client: SyncClient, bridge: Bridge
) -> None:
    call = {
        "id": "i-1",
        "channel": "call",
        "subject": "Kick-off",
        "occurred_at": "2026-07-21T11:22:00Z",
    }
    body, headers = signed(_event("interaction.created", call), "msg_n1")
    answer = client.post("/webhooks/peer", content=body, headers=headers)
    assert answer.status_code == 422, answer.text
    message = answer.json()["message"]
    assert "about interactions, which no job pulls from peer" in message
    assert "(peer-in pulls organizations, stakeholders)" in message
    assert "add interactions to the entities of a job of peer" in message
    assert bridge.store.list_pending_webhooks("peer") == []  # nothing stored to wait for good


def test_stopping_the_server_gives_up_a_run_still_waiting_for_its_job(bridge: Bridge) -> None:
    app = create_app(bridge, lease_jobs=True)
    client = SyncClient(app)
    try:
        assert bridge.store.try_acquire_lease("job:peer-in", "ops-1:4242", timedelta(minutes=30))
        record = {"id": "p-1", "full_name": "Ann", "email": "ann@example.com"}
        body, headers = signed(_event("stakeholder.created", record), "msg_s1")
        assert client.post("/webhooks/peer", content=body, headers=headers).status_code == 202
        assert app.state.runs.running("peer-in") is not None  # waiting for the lease

        async def stop() -> None:  # what uvicorn does on Ctrl-C or SIGTERM: the lifespan ends
            async with app.router.lifespan_context(app):
                pass

        # well inside server.shutdown_grace_s (30 s): a run that never started is not waited for
        client.portal.call(asyncio.wait_for, stop(), 15.0)
        assert app.state.runs.running("peer-in") is None
        assert len(bridge.store.list_pending_webhooks("peer")) == 1  # for the next run
    finally:
        bridge.store.release_lease("job:peer-in", "ops-1:4242")
        client.close()
