"""POST /webhooks/{connector} under concurrency: one transaction per group of waiting requests.

Each request still gets its own answer (202 new, 200 duplicate) and a group whose
commit fails answers 503 to every request in it and stores none of its events.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from crmbridge.service import Bridge
from crmbridge.store import NewWebhook
from crmbridge.web import create_app

from .support import hub_counts

# "open" takes unsigned events and dedupes them by a hash of the body; it has no jobs to run
URL = "/webhooks/open"


def _body(i: int) -> bytes:
    data = {"id": f"g-{i}", "name": f"Group {i}"}
    return json.dumps({"type": "organization.created", "data": data}).encode()


class _GatedWrites:
    """Wraps the store's ``add_webhooks``: the first call waits for ``gate``, so the
    requests sent meanwhile queue up and are written as one group by the next call."""

    def __init__(self, write: Callable[[Sequence[NewWebhook]], list[bool]]) -> None:
        self.write = write
        self.gate = threading.Event()
        self.groups: list[list[str]] = []
        self.before_second: Callable[[], None] = lambda: None

    def __call__(self, events: Sequence[NewWebhook]) -> list[bool]:
        self.groups.append([e.webhook_id for e in events])
        if len(self.groups) == 1:
            assert self.gate.wait(60), "the test never opened the gate"
        elif len(self.groups) == 2:
            self.before_second()
        return self.write(events)


async def _post_grouped(
    app: Any, writes: _GatedWrites, first: bytes, bodies: list[bytes]
) -> tuple[httpx.Response, list[httpx.Response]]:
    """POST ``first``, then ``bodies`` while its write is held, so they queue as one group."""
    inbox = app.state.inbox
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        head = asyncio.create_task(http.post(URL, content=first))
        for _ in range(5000):
            if writes.groups:
                break
            await asyncio.sleep(0.001)
        rest = [asyncio.create_task(http.post(URL, content=b)) for b in bodies]
        for _ in range(5000):
            if inbox.queued == len(bodies):
                break
            await asyncio.sleep(0.001)
        assert inbox.queued == len(bodies), "the requests did not queue behind the first write"
        writes.gate.set()
        answers = await asyncio.gather(*rest)
        return await head, answers


def test_concurrent_posts_are_committed_as_one_group_each_with_its_own_answer(
    bridge: Bridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = _GatedWrites(bridge.store.add_webhooks)
    monkeypatch.setattr(bridge.store, "add_webhooks", writes)
    app = create_app(bridge)
    # 0 is already stored by the first request; 1 to 10 are new, and 3 and 7 come twice
    bodies = [_body(i) for i in (0, *range(1, 11), 3, 7)]

    first, answers = asyncio.run(_post_grouped(app, writes, _body(0), bodies))

    assert first.status_code == 202
    assert [len(g) for g in writes.groups] == [1, len(bodies)]  # one transaction for the rest
    statuses = [a.status_code for a in answers]
    assert statuses == [200, *[202] * 10, 200, 200]
    for answer in answers:
        got = answer.json()
        assert got["status"] == ("accepted" if answer.status_code == 202 else "duplicate")
        assert got["webhook_id"].startswith("sha256_")
    assert len({a.json()["webhook_id"] for a in answers}) == 11
    assert hub_counts(bridge)["webhook_inbox"] == 11
    stored = {e.body for e in bridge.store.list_pending_webhooks("open", limit=100)}
    assert stored == {_body(i) for i in range(11)}


def test_a_failed_group_commit_answers_503_to_each_of_its_requests_and_stores_none(
    bridge: Bridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = _GatedWrites(bridge.store.add_webhooks)
    monkeypatch.setattr(bridge.store, "add_webhooks", writes)
    engine = bridge.store.engine

    def fail_after_insert(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        # the rows are inserted, then the database fails before the commit
        if statement.lstrip().upper().startswith("INSERT INTO WEBHOOK_INBOX"):
            raise sa.exc.OperationalError(statement, None, Exception("disk I/O error"))

    def arm() -> None:
        sa.event.listen(engine, "after_cursor_execute", fail_after_insert)

    writes.before_second = arm
    app = create_app(bridge)
    bodies = [_body(i) for i in range(1, 9)]
    try:
        first, answers = asyncio.run(_post_grouped(app, writes, _body(0), bodies))
    finally:
        sa.event.remove(engine, "after_cursor_execute", fail_after_insert)

    assert first.status_code == 202
    assert [len(g) for g in writes.groups] == [1, len(bodies)]
    for answer in answers:
        assert answer.status_code == 503
        assert answer.json()["error"] == "store_unavailable"
        assert answer.headers["retry-after"] == "5"
    assert hub_counts(bridge)["webhook_inbox"] == 1  # only the first request's event

    # nothing of the failed group was kept: sent again, every event is new
    again = [_again(app, b) for b in bodies]
    assert [a.status_code for a in again] == [202] * len(bodies)


def _again(app: Any, body: bytes) -> httpx.Response:
    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            return await http.post(URL, content=body)

    return asyncio.run(post())
