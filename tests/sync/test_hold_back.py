"""Records held back by an ambiguous match: they wait, unrejected, and go once it is settled."""

from __future__ import annotations

import asyncio
from typing import Any

from sync_support import hub_add, job, mappers, remote_crm, sync

from crmbridge.errors import TransientError
from crmbridge.model import content_hash
from crmbridge.store import RecordWrite, Store
from crmbridge.sync.resolve import resolve_item
from crmbridge.sync.runner import run_job
from crmbridge.testing import FakeClock, InMemoryConnector, PassThroughMapper


def held_company(store: Store, clock: FakeClock) -> tuple[str, str, InMemoryConnector]:
    """Hub company Acme with its person P; the CRM holds Acme twice, so Acme is held back."""
    acme = hub_add(store, "organizations", {"name": "Acme"})
    person = hub_add(
        store, "stakeholders", {"full_name": "P", "email": "p@x.cn", "organization_id": acme}
    )
    crm = remote_crm(clock)
    crm.put("organizations", {"name": "Acme"})
    crm.put("organizations", {"name": "ACME"})
    return acme, person, crm


def settle(store: Store, acme: str) -> str:
    first, _ = store.list_open_inbox("crm-sync", kind="ambiguous_match")
    resolve_item(store, first.id, link=acme)
    return str(first.external_id)


def names(crm: InMemoryConnector, entity: str = "stakeholders") -> list[str]:
    return sorted(p["full_name"] for p in crm.live(entity).values())


def test_a_failed_push_keeps_the_records_waiting(store: Store, clock: FakeClock) -> None:
    acme, _, crm = held_company(store, clock)
    sync(store, crm, clock)
    hub_add(store, "stakeholders", {"full_name": "Q", "email": "q@x.cn"})
    write = crm.write

    async def outage(entity: str, requests: Any) -> Any:
        if entity == "stakeholders":
            raise TransientError("503 from the CRM")
        return await write(entity, requests)

    crm.write = outage  # type: ignore[method-assign]
    assert sync(store, crm, clock).status == "failed"
    crm.write = write  # type: ignore[method-assign]
    sync(store, crm, clock)
    settle(store, acme)
    sync(store, crm, clock)
    assert names(crm) == ["P", "Q"]


def test_a_run_stopped_between_windows_keeps_the_records_waiting(
    store: Store, clock: FakeClock
) -> None:
    acme, _, crm = held_company(store, clock)
    crm.concurrency = 1
    sync(store, crm, clock)
    for i in range(3):
        hub_add(store, "stakeholders", {"full_name": f"N{i}", "email": f"n{i}@x.cn"})
    write = crm.write
    wrote: list[str] = []

    async def spy(entity: str, requests: Any) -> Any:
        wrote.append(entity)
        return await write(entity, requests)

    crm.write = spy  # type: ignore[method-assign]
    stopped = asyncio.run(
        run_job(
            store,
            job(batch_size=1),
            crm,
            mappers(),
            now=clock,
            should_stop=lambda: "stakeholders" in wrote,
        )
    )
    assert stopped.status == "interrupted"
    settle(store, acme)
    sync(store, crm, clock)
    sync(store, crm, clock)
    assert "P" in names(crm)


def test_an_interaction_of_a_waiting_person_waits_too(store: Store, clock: FakeClock) -> None:
    acme, person, crm = held_company(store, clock)
    call = {
        "channel": "call",
        "occurred_at": "2026-01-05T09:00:00+00:00",
        "subject": "hi",
        "participant_ids": [person],
    }
    hub_add(store, "interactions", call)
    entities = ("organizations", "stakeholders", "interactions")
    with_calls = {
        **mappers(),
        "interactions": PassThroughMapper(
            "interactions", ["channel", "occurred_at", "subject", "participant_ids"], ["id"]
        ),
    }

    def run() -> Any:
        return asyncio.run(run_job(store, job(entities=entities), crm, with_calls, now=clock))

    for _ in range(6):  # more runs than max_record_failures: never rejected, never set aside
        assert run().counts["rejected"] == 0
    settle(store, acme)
    run()
    assert names(crm) == ["P"]
    assert len(crm.live("interactions")) == 1


def test_a_linked_person_moved_to_a_waiting_company_moves_once_it_goes(
    store: Store, clock: FakeClock
) -> None:
    crm = remote_crm(clock)
    person = hub_add(store, "stakeholders", {"full_name": "P", "email": "p@x.cn"})
    sync(store, crm, clock)
    acme = hub_add(store, "organizations", {"name": "Acme"})
    crm.put("organizations", {"name": "Acme"})
    crm.put("organizations", {"name": "ACME"})
    data = {"full_name": "P", "email": "p@x.cn", "organization_id": acme}
    store.upsert_records("stakeholders", [RecordWrite(data, content_hash(data), person)])
    for _ in range(6):
        assert sync(store, crm, clock).counts["rejected"] == 0
    linked_to = settle(store, acme)
    sync(store, crm, clock)
    (remote_person,) = crm.live("stakeholders").values()
    assert remote_person["organization_id"] == linked_to


def test_a_dry_run_keeps_nothing_of_what_it_holds_back(store: Store, clock: FakeClock) -> None:
    _, _, crm = held_company(store, clock)
    sync(store, crm, clock)
    before = [store.get_cursor("crm-sync", "crm", e) for e in ("organizations", "stakeholders")]
    dry = sync(store, crm, clock, dry_run=True)
    assert any("were not sent to crm" in w for w in dry.warnings)
    after = [store.get_cursor("crm-sync", "crm", e) for e in ("organizations", "stakeholders")]
    assert before == after
