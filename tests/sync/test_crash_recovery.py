"""Kill the run at every step boundary: after a restart nothing is lost and nothing is created twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from crmbridge.connector import Cursor, Page, WriteRequest, WriteResult
from crmbridge.model import content_hash
from crmbridge.store import RecordWrite, Store
from crmbridge.sync.job import SyncJob
from crmbridge.sync.merge import ConflictPolicy, Policy
from crmbridge.sync.runner import run_job
from crmbridge.testing import FakeClock, InMemoryConnector, InMemorySettings, PassThroughMapper


class Crash(BaseException):
    """Stands for kill -9: nothing after it runs, nothing catches it."""


class CrashingCrm(InMemoryConnector):
    """The in-memory CRM, dying once at a chosen step boundary."""

    def __init__(self, crash_at: str, clock: FakeClock) -> None:
        super().__init__("crm", InMemorySettings(page_size=5, batch_size=4), clock=clock)
        self.crash_at = crash_at
        self.armed = False

    def _maybe(self, point: str) -> None:
        if self.armed and self.crash_at == point:
            self.armed = False
            raise Crash(point)

    async def read_changes(self, entity: str, cursor: Cursor | None) -> AsyncIterator[Page]:
        pages = 0
        async for page in super().read_changes(entity, cursor):
            if pages == 1:
                self._maybe(f"pull:{entity}:second-page")
            yield page
            pages += 1
        self._maybe(f"pull:{entity}:end")

    async def write(self, entity: str, requests: Sequence[WriteRequest]) -> list[WriteResult]:
        self._maybe(f"push:{entity}:before-send")
        results = await super().write(entity, requests)
        self._maybe(f"push:{entity}:after-send")
        return results


CRASH_POINTS = [
    "pull:organizations:second-page",
    "pull:organizations:end",
    "pull:stakeholders:second-page",
    "pull:stakeholders:end",
    "push:organizations:before-send",
    "push:organizations:after-send",
    "push:stakeholders:before-send",
    "push:stakeholders:after-send",
]
FIELDS = ["full_name", "email", "organization_id"]


def run(store: Store, crm: InMemoryConnector, clock: FakeClock) -> Any:
    job = SyncJob(
        "j", "crm", ("organizations", "stakeholders"), conflicts=ConflictPolicy(Policy.NEWEST)
    )
    mappers: dict[str, Any] = {
        "organizations": PassThroughMapper("organizations", ["name"], identity=["name"]),
        "stakeholders": PassThroughMapper("stakeholders", FIELDS),
    }
    return asyncio.run(run_job(store, job, crm, mappers, now=clock))


def add(store: Store, entity: str, data: dict[str, Any]) -> str:
    (result,) = store.upsert_records(entity, [RecordWrite(data, content_hash(data))])
    return result.id


@pytest.mark.parametrize("crash_at", CRASH_POINTS)
def test_a_crash_at_any_boundary_loses_nothing_and_duplicates_nothing(
    store: Store, clock: FakeClock, crash_at: str
) -> None:
    crm = CrashingCrm(crash_at, clock)
    remote_orgs = [crm.put("organizations", {"name": f"R-Org{i}"}) for i in range(7)]
    for i in range(12):
        crm.put(
            "stakeholders",
            {"full_name": f"R{i}", "email": f"r{i}@x.cn", "organization_id": remote_orgs[i % 7]},
        )
    hub_orgs = [add(store, "organizations", {"name": f"H-Org{i}"}) for i in range(6)]
    for i in range(11):
        add(
            store,
            "stakeholders",
            {"full_name": f"H{i}", "email": f"h{i}@x.cn", "organization_id": hub_orgs[i % 6]},
        )

    crm.armed = True
    with pytest.raises(Crash):
        run(store, crm, clock)
    assert not crm.armed, "the crash point was reached"
    clock.advance(5)
    after = run(store, crm, clock)
    assert after.status == "succeeded", after.error
    quiet = run(store, crm, clock)
    assert quiet.counts["pushed"] == quiet.counts["created"] == quiet.counts["updated"] == 0

    for entity, expected in (("organizations", 13), ("stakeholders", 23)):
        hub = [r.data for r in store.iter_records(entity)]
        remote = list(crm.live(entity).values())
        key = "name" if entity == "organizations" else "full_name"
        assert sorted(r[key] for r in hub) == sorted({r[key] for r in hub}), (
            "no duplicate in the hub"
        )
        assert sorted(r[key] for r in remote) == sorted(r[key] for r in hub)
        assert len(hub) == expected
    hub_org_names = {r.id: r.data["name"] for r in store.iter_records("organizations")}
    remote_org_names = {ext: r["name"] for ext, r in crm.live("organizations").items()}
    hub_people = {
        r.data["full_name"]: hub_org_names[r.data["organization_id"]]
        for r in store.iter_records("stakeholders")
    }
    remote_people = {
        r["full_name"]: remote_org_names[r["organization_id"]]
        for r in crm.live("stakeholders").values()
    }
    assert hub_people == remote_people, (
        "every person belongs to the same organisation on both sides"
    )
    assert store.list_pending_outbox() == []


class RecordingCrm(CrashingCrm):
    """Remembers whether each create arrived marked ``resent``."""

    def __init__(self, crash_at: str, clock: FakeClock) -> None:
        super().__init__(crash_at, clock)
        self.creates: list[tuple[str, bool]] = []

    async def write(self, entity: str, requests: Sequence[WriteRequest]) -> list[WriteResult]:
        self.creates += [(r.key, r.resent) for r in requests if r.op == "create"]
        return await super().write(entity, requests)


def test_a_batch_replayed_after_a_crash_is_marked_resent(store: Store, clock: FakeClock) -> None:
    crm = RecordingCrm("push:organizations:after-send", clock)
    key = add(store, "organizations", {"name": "H-Org"})
    crm.armed = True
    with pytest.raises(Crash):
        run(store, crm, clock)
    assert run(store, crm, clock).status == "succeeded"
    assert crm.creates == [(key, False), (key, True)]
    assert len(crm.live("organizations")) == 1
