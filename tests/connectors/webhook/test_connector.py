"""The webhook connector: contract, inbound parsing, inbox draining, outbound delivery."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.webhook import WebhookConnector, WebhookSettings
from crmbridge.connector import WriteOp, WriteOutcome, WriteRequest
from crmbridge.errors import AuthError, RecordRejected
from crmbridge.testing import ConnectorContract, FakeClock

from .support import SECRET, MemoryInbox, Peer, make_connector, signed


class TestWebhookContract(ConnectorContract):
    """Written messages come back through a loopback peer into the inbox."""

    entity = "stakeholders"

    def new_connector(self) -> Any:
        return make_connector(tmp=str(Path.cwd() / ".pytest-webhook"))

    def sample(self, i: int) -> dict[str, Any]:
        return {"full_name": f"Person {i}", "email": f"p{i}@example.com"}


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# -- inbound --------------------------------------------------------------------------------


def _receive(connector: WebhookConnector, body: Any, **headers: str) -> Any:
    from datetime import UTC, datetime

    raw, signed_headers = signed(body)
    return connector.receive_webhook(raw, {**signed_headers, **headers}, datetime.now(UTC))


def test_receives_a_standard_webhook_and_names_its_entity() -> None:
    connector = make_connector()
    got = _receive(
        connector, {"type": "stakeholder.updated", "data": {"id": "s1", "email": "a@b.co"}}
    )
    assert got.webhook_id == "msg_1"
    assert got.entities == ("stakeholders",)


def test_refuses_a_bad_signature_without_echoing_it() -> None:
    from datetime import UTC, datetime

    connector = make_connector()
    raw, headers = signed({"type": "stakeholder.updated", "data": {"id": "s1"}})
    with pytest.raises(AuthError) as info:
        connector.receive_webhook(raw + b" ", headers, datetime.now(UTC))
    assert headers["webhook-signature"].split(",")[1] not in info.value.message
    assert SECRET not in info.value.message


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"type": "planet.updated", "data": {"id": "1"}}, "UNKNOWN_TYPE"),
        ({"type": "stakeholder.updated"}, "NO_RECORDS"),
        ({"type": "stakeholder.updated", "data": [{"email": "x@y.co"}]}, "NO_ID"),
        (
            {"type": "stakeholder.updated", "data": {"id": "1", "email": "not an email"}},
            "INVALID_VALUE",
        ),
        ([1, 2], "NOT_AN_OBJECT"),
        (b"{not json", "MALFORMED"),
    ],
)
def test_a_payload_that_does_not_fit_is_rejected(body: Any, code: str) -> None:
    with pytest.raises(RecordRejected) as info:
        _receive(make_connector(), body)
    assert info.value.code == code


def test_github_style_hmac_and_explicit_none() -> None:
    from datetime import UTC, datetime

    from crmbridge.signatures import hmac_signature

    body = json.dumps({"type": "stakeholder.created", "data": {"id": "g1"}}).encode()
    github = make_connector(
        signature="hmac",
        secret="gh-secret",
        url=None,
        header="X-Hub-Signature-256",
        prefix="sha256=",
        id_header="X-GitHub-Delivery",
    )
    value = "sha256=" + hmac_signature("gh-secret", body)
    got = github.receive_webhook(
        body, {"x-hub-signature-256": value, "x-github-delivery": "d-1"}, datetime.now(UTC)
    )
    assert got.webhook_id == "d-1"
    with pytest.raises(AuthError):
        github.receive_webhook(body, {}, datetime.now(UTC))
    unsigned = make_connector(signature="none", secret=None, url=None)
    got = unsigned.receive_webhook(body, {}, datetime.now(UTC))
    assert got.webhook_id.startswith("sha256_")


def test_unsigned_must_be_explicit() -> None:
    with pytest.raises(ValueError, match="signature: none"):
        WebhookSettings.model_validate({"signature": "hmac"})
    with pytest.raises(ValueError, match="https"):
        WebhookSettings.model_validate({"secret": SECRET, "url": "http://example.com/x"})
    with pytest.raises(ValueError, match="http"):
        WebhookSettings.model_validate({"secret": SECRET, "url": "ftp://example.com/x"})
    assert "whsec" not in repr(WebhookSettings.model_validate({"secret": SECRET}))


def test_nested_records_deleted_flags_and_delete_events() -> None:
    inbox = MemoryInbox()
    connector = make_connector(inbox=inbox, records_path="payload.items", url=None)
    inbox.add(
        "a",
        json.dumps(
            {
                "type": "stakeholder.updated",
                "payload": {
                    "items": [{"id": "1", "full_name": "One"}, {"id": "2", "deleted": True}]
                },
            }
        ).encode(),
    )
    inbox.add(
        "b", json.dumps({"type": "stakeholder.deleted", "payload": {"items": {"id": "3"}}}).encode()
    )
    inbox.add(
        "c",
        json.dumps({"type": "organization.created", "payload": {"items": {"id": "o"}}}).encode(),
    )

    async def read() -> list[Any]:
        return [p async for p in connector.read_changes("stakeholders", None)]

    (page,) = run(read())
    assert [r.external_id for r in page.records] == ["1"]
    assert [d.external_id for d in page.deletions] == ["2", "3"]
    assert page.cursor == {"event_ids": [1, 2]}
    assert inbox.status == {1: "processed", 2: "processed", 3: "pending"}


def test_events_are_marked_only_after_their_page_is_committed() -> None:
    inbox = MemoryInbox()
    connector = make_connector(inbox=inbox, batch_size=2, url=None)
    for i in range(5):
        inbox.add(
            f"m{i}", json.dumps({"type": "stakeholder.created", "data": {"id": str(i)}}).encode()
        )

    async def first_page_then_crash() -> Any:
        pages = connector.read_changes("stakeholders", None)
        page = await pages.__anext__()
        await pages.aclose()  # the engine died before committing / asking for more
        return page

    page = run(first_page_then_crash())
    assert page.cursor == {"event_ids": [1, 2]}
    assert set(inbox.status.values()) == {"pending"}

    async def all_pages(cursor: Any) -> list[Any]:
        return [p async for p in connector.read_changes("stakeholders", cursor)]

    # the page was committed with its cursor after all: the next read marks it first
    pages = run(all_pages(page.cursor))
    assert [p.cursor for p in pages] == [{"event_ids": [3, 4]}, {"event_ids": [5]}]
    assert set(inbox.status.values()) == {"processed"}


def test_an_event_that_no_longer_fits_is_marked_failed() -> None:
    inbox = MemoryInbox()
    connector = make_connector(inbox=inbox, url=None)
    inbox.add("bad", b'{"type": "planet.created", "data": {"id": "1"}}')

    async def read() -> list[Any]:
        return [p async for p in connector.read_changes("stakeholders", None)]

    assert run(read()) == []
    assert inbox.status == {1: "failed"}


# -- outbound -------------------------------------------------------------------------------


def _create(i: int = 1) -> WriteRequest:
    return WriteRequest(f"key-{i}", WriteOp.CREATE, {"full_name": f"P {i}"})


async def _write(connector: WebhookConnector, requests: list[WriteRequest]) -> Any:
    await connector.open()
    try:
        return await connector.write("stakeholders", requests)
    finally:
        await connector.close()


def test_retries_5xx_and_429_honouring_retry_after_then_delivers() -> None:
    inbox = MemoryInbox()
    peer = Peer(inbox)
    peer.script = [
        httpx.Response(503),
        httpx.Response(429, headers={"Retry-After": "7"}),
        httpx.ConnectError("refused"),
    ]
    sleeps: list[float] = []
    connector = make_connector(peer, sleeps=sleeps)
    (result,) = run(_write(connector, [_create()]))
    assert result.outcome is WriteOutcome.CREATED
    assert len(peer.received) == 4
    assert len(sleeps) == 3
    assert 0.5 <= sleeps[0] <= 1.0
    assert sleeps[1] >= 7
    ids = {r.headers["webhook-id"] for r in peer.received}
    assert len(ids) == 1  # the same message id on every attempt
    assert connector.dead_letters.entries() == []


def test_redirects_are_not_followed() -> None:
    peer = Peer(MemoryInbox())
    peer.script = [httpx.Response(302, headers={"Location": "http://169.254.169.254/"})] * 4
    connector = make_connector(peer)
    run(_write(connector, [_create()]))
    assert {str(r.url) for r in peer.received} == {"https://peer.example/hooks"}
    (letter,) = connector.dead_letters.entries()
    assert letter.last_status == 302


def test_undeliverable_goes_to_dead_letters_then_is_redelivered_with_the_same_id() -> None:
    clock = FakeClock(datetime.now(UTC))
    peer = Peer(MemoryInbox())
    peer.script = [httpx.Response(500)] * 4
    connector = make_connector(peer, clock=clock)
    (result,) = run(_write(connector, [_create()]))
    assert result.outcome is WriteOutcome.CREATED
    (letter,) = connector.dead_letters.entries()
    assert (letter.status, letter.last_status, letter.attempts) == ("retrying", 500, 4)
    assert letter.reason == "HTTP 500"
    first_id = peer.received[0].headers["webhook-id"]
    assert letter.webhook_id == first_id

    # not due yet: a later write does not resend it; once due it goes first
    run(_write(connector, [_create(2)]))
    assert connector.dead_letters.entries()[0].status == "retrying"
    clock.advance(61)
    run(_write(connector, [_create(3)]))
    assert connector.dead_letters.entries() == []
    assert first_id in [r.headers["webhook-id"] for r in peer.received[-2:]]


def test_redeliver_by_hand_and_dead_after_the_schedule() -> None:
    clock = FakeClock(datetime.now(UTC))
    peer = Peer(MemoryInbox())
    peer.script = [httpx.Response(502)] * 3
    connector = make_connector(peer, clock=clock, retry={"attempts": 2, "later": [10]})
    run(_write(connector, [_create()]))
    clock.advance(11)
    run(_write(connector, [_create(2)]))  # due retry fails: the schedule is used up
    (letter,) = connector.dead_letters.entries()
    assert letter.status == "dead"

    async def again() -> Any:
        await connector.open()
        try:
            return await connector.redeliver([letter.id])
        finally:
            await connector.close()

    assert run(again()) == [{"id": letter.id, "webhook_id": letter.webhook_id, "delivered": True}]
    assert connector.dead_letters.entries() == []


def test_a_refusal_rejects_the_records_and_is_not_retried() -> None:
    peer = Peer(MemoryInbox())
    peer.script = [httpx.Response(400)]
    sleeps: list[float] = []
    connector = make_connector(peer, sleeps=sleeps)
    (result,) = run(_write(connector, [_create()]))
    assert (result.outcome, result.code) == (WriteOutcome.REJECTED, "HTTP_400")
    assert sleeps == []
    assert connector.dead_letters.entries() == []


def _resent(request: WriteRequest) -> WriteRequest:
    return replace(request, resent=True)


def test_batches_one_message_per_operation_with_stable_ids() -> None:
    peer = Peer(MemoryInbox())
    connector = make_connector(peer)
    batch = [_create(1), _create(2)]
    run(_write(connector, batch))
    # a replayed outbox batch, in a later run: same id, the peer drops it
    run(_write(make_connector(peer), [_resent(r) for r in batch]))
    first, second = peer.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    payload = json.loads(first.content)
    assert payload["type"] == "stakeholder.created"
    assert [r["id"] for r in payload["data"]] == ["key-1", "key-2"]
    assert len(peer.inbox.events) == 1


def test_timeouts_are_retried() -> None:
    peer = Peer(MemoryInbox())
    peer.script = [httpx.ReadTimeout("slow")]
    connector = make_connector(peer)
    (result,) = run(_write(connector, [_create()]))
    assert result.outcome is WriteOutcome.CREATED
    assert len(peer.received) == 2


@pytest.mark.parametrize(
    ("later", "says"),
    [
        (
            [60],
            "could not be delivered yet (HTTP 500); they wait in the dead-letter file and are "
            "sent again on later runs",
        ),
        (
            [],
            "could not be delivered (HTTP 500) and will not be retried: `crmbridge webhooks "
            "redeliver --all --connector peer` sends them again",
        ),
    ],
)
def test_undelivered_messages_are_told_as_they_will_be_retried_or_not(
    later: list[int], says: str
) -> None:
    peer = Peer(MemoryInbox())
    peer.script = [httpx.Response(500)] * 2
    connector = make_connector(peer, retry={"attempts": 2, "later": later})
    run(_write(connector, [_create()]))
    (warning,) = connector.warnings
    assert warning.startswith("1 stakeholders message to ")
    assert says in warning
    assert warning.endswith("(`crmbridge webhooks dead-letters --connector peer` lists them)")


def _update(title: str) -> WriteRequest:
    return WriteRequest("key-1", WriteOp.UPDATE, {"title": title}, external_id="key-1")


def test_a_record_changed_back_is_a_new_message_the_peer_keeps() -> None:
    peer = Peer(MemoryInbox())
    connector = make_connector(peer)
    for request in (_create(), _update("Engineer"), _update("Manager"), _update("Engineer")):
        run(_write(connector, [request]))
    ids = [r.headers["webhook-id"] for r in peer.received]
    assert len(set(ids)) == 4  # A -> B -> A: the third change is no duplicate of the first
    titles = [json.loads(e.body)["data"][0].get("title") for e in peer.inbox.events]
    assert titles == [None, "Engineer", "Manager", "Engineer"]


def test_a_replay_keeps_its_id_only_while_it_is_the_records_last_message() -> None:
    peer = Peer(MemoryInbox())
    run(_write(make_connector(peer), [_create(), _update("Engineer")]))
    run(_write(make_connector(peer), [_resent(_update("Engineer"))]))  # the run died unanswered
    first, _, replay = peer.received
    assert first.headers["webhook-id"] != replay.headers["webhook-id"]
    assert peer.received[1].headers["webhook-id"] == replay.headers["webhook-id"]
    run(_write(make_connector(peer), [_update("Manager")]))
    # a replay of the older content is a change of its own now, not the first message again
    run(_write(make_connector(peer), [_resent(_update("Engineer"))]))
    assert len({r.headers["webhook-id"] for r in peer.received}) == 4
    assert [json.loads(e.body)["data"][0].get("title") for e in peer.inbox.events][-1] == (
        "Engineer"
    )


def test_a_due_message_is_retried_by_a_run_with_nothing_to_write() -> None:
    clock = FakeClock(datetime.now(UTC))
    peer = Peer(MemoryInbox())
    peer.script = [httpx.Response(500)] * 4
    connector = make_connector(peer, clock=clock)
    run(_write(connector, [_create()]))
    (letter,) = connector.dead_letters.entries()

    async def nothing_to_write() -> None:
        await connector.open()
        await connector.close()

    run(nothing_to_write())  # not due yet
    assert len(peer.received) == 4
    clock.advance(61)
    run(nothing_to_write())
    assert connector.dead_letters.entries() == []
    assert peer.received[-1].headers["webhook-id"] == letter.webhook_id
    assert len(peer.inbox.events) == 1


def test_a_dry_run_retries_nothing_and_redeliver_does_not_send_twice() -> None:
    clock = FakeClock(datetime.now(UTC))
    peer = Peer(MemoryInbox())
    peer.script = [httpx.Response(500)] * 5
    connector = make_connector(peer, clock=clock)
    run(_write(connector, [_create()]))
    clock.advance(61)
    dry = make_connector(peer, clock=clock)
    dry.context = replace(dry.context, dry_run=True)

    async def redeliver_all(connector: WebhookConnector) -> Any:
        await connector.open()  # tries the due message once more: it fails again
        try:
            return await connector.redeliver()
        finally:
            await connector.close()

    run(dry.open())
    run(dry.close())
    assert len(peer.received) == 4
    (row,) = run(redeliver_all(connector))
    assert row["delivered"] is False
    assert len(peer.received) == 5


@pytest.mark.parametrize("status", [404, 410])
def test_an_endpoint_answering_not_found_rejects_with_its_status_never_not_found(
    status: int,
) -> None:
    peer = Peer(MemoryInbox())
    peer.script = [httpx.Response(status)]
    connector = make_connector(peer)
    (result,) = run(_write(connector, [_update("Manager")]))
    assert (result.outcome, result.code) == (WriteOutcome.REJECTED, f"HTTP_{status}")
    assert result.message == f"HTTP {status}: no such endpoint at the receiver"
