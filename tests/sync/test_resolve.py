"""Settling inbox items by hand; each resolution reaches the remote on the next run."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sync_support import hub_add, live, remote_crm, sync

from crmbridge.model import content_hash
from crmbridge.store import RecordWrite, Store
from crmbridge.sync.merge import ConflictPolicy, Policy
from crmbridge.sync.resolve import ResolveError, queue_resend, resolve_item
from crmbridge.testing import FakeClock, InMemoryConnector


def conflicted(store: Store, clock: FakeClock) -> tuple[InMemoryConnector, str, int]:
    crm = remote_crm(clock)
    ext = crm.put("stakeholders", {"full_name": "王伟", "email": "wang@x.cn", "title": "PM"})
    sync(store, crm, clock)
    (person,) = store.iter_records("stakeholders")
    data = {**person.data, "title": "Director"}
    store.upsert_records("stakeholders", [RecordWrite(data, content_hash(data), person.id)])
    crm.put("stakeholders", {**crm.live("stakeholders")[ext], "title": "VP"}, ext)
    sync(store, crm, clock)
    (item,) = store.list_open_inbox("crm-sync")
    return crm, ext, item.id


def test_take_hub_pushes_the_hub_value(store: Store, clock: FakeClock) -> None:
    crm, ext, item = conflicted(store, clock)
    resolve_item(store, item, take="hub")
    sync(store, crm, clock)
    assert crm.live("stakeholders")[ext]["title"] == "Director"
    assert live(store, "stakeholders")[0]["title"] == "Director"
    assert store.list_open_inbox("crm-sync") == []


def test_take_remote_writes_the_remote_value_into_the_hub(store: Store, clock: FakeClock) -> None:
    crm, ext, item = conflicted(store, clock)
    resolve_item(store, item, take="remote")
    report = sync(store, crm, clock)
    assert live(store, "stakeholders")[0]["title"] == "VP"
    assert crm.live("stakeholders")[ext]["title"] == "VP"
    assert report.counts["conflicts"] == 0


def test_a_chosen_value_goes_to_both_sides(store: Store, clock: FakeClock) -> None:
    crm, ext, item = conflicted(store, clock)
    resolve_item(store, item, values={"title": "Head of PMO"})
    sync(store, crm, clock)
    assert live(store, "stakeholders")[0]["title"] == "Head of PMO"
    assert crm.live("stakeholders")[ext]["title"] == "Head of PMO"


def test_a_value_for_a_field_not_in_conflict_is_refused(store: Store, clock: FakeClock) -> None:
    _, _, item = conflicted(store, clock)
    with pytest.raises(ResolveError, match="the conflicting fields are title"):
        resolve_item(store, item, values={"email": "x@x.cn"})
    with pytest.raises(ResolveError, match="one of them"):
        resolve_item(store, item)


def test_ambiguous_match_linked_by_hand_merges_next_run(store: Store, clock: FakeClock) -> None:
    first = hub_add(store, "stakeholders", {"full_name": "A", "email": "shared@x.cn"})
    hub_add(store, "stakeholders", {"full_name": "B", "secondary_email": "shared@x.cn"})
    crm = remote_crm(clock)
    ext = crm.put("stakeholders", {"full_name": "A", "email": "shared@x.cn", "title": "CFO"})
    sync(store, crm, clock, direction="pull")
    (item,) = store.list_open_inbox("crm-sync")
    resolve_item(store, item.id, link=first)
    sync(store, crm, clock, conflicts=ConflictPolicy(Policy.PREFER_NON_EMPTY))
    record = store.get_record("stakeholders", first)
    assert record is not None
    assert record.data["title"] == "CFO"
    assert len(live(store, "stakeholders")) == 2
    assert store.get_links_by_external_ids("crm", "stakeholders", [ext])[ext].record_id == first


def test_a_record_held_back_by_ambiguous_matches_goes_once_they_are_settled(
    store: Store, clock: FakeClock
) -> None:
    hub_add(store, "stakeholders", {"full_name": "A", "email": "a@x.cn"})
    crm = remote_crm(clock)
    for name in ("X", "Y"):  # two remote people who both give A's address
        crm.put("stakeholders", {"full_name": name, "email": "a@x.cn"})
    sync(store, crm, clock)
    assert len(crm.live("stakeholders")) == 2  # A waits: it may be one of them
    for item in store.list_open_inbox("crm-sync"):
        resolve_item(store, item.id, take="remote")  # neither is A: each is a new person
    sync(store, crm, clock)
    assert sorted(p["full_name"] for p in crm.live("stakeholders").values()) == ["A", "X", "Y"]


def test_blocked_delete_confirmed_then_applied(store: Store, clock: FakeClock) -> None:
    crm = remote_crm(clock)
    ids = [crm.put("stakeholders", {"full_name": f"P{i}", "email": f"p{i}@x.cn"}) for i in range(3)]
    sync(store, crm, clock, deletes="propagate")
    crm.delete("stakeholders", ids[0])
    sync(store, crm, clock, deletes="propagate")
    (item,) = store.list_open_inbox("crm-sync", kind="blocked_delete")
    resolve_item(store, item.id, take="remote", deletes="propagate")
    assert len(live(store, "stakeholders")) == 2


def test_blocked_delete_refused_recreates_the_remote_record(store: Store, clock: FakeClock) -> None:
    crm = remote_crm(clock)
    ids = [crm.put("stakeholders", {"full_name": f"P{i}", "email": f"p{i}@x.cn"}) for i in range(3)]
    sync(store, crm, clock, deletes="propagate")
    crm.delete("stakeholders", ids[0])
    sync(store, crm, clock, deletes="propagate")
    (item,) = store.list_open_inbox("crm-sync", kind="blocked_delete")
    resolve_item(store, item.id, take="hub")
    sync(store, crm, clock, deletes="propagate")
    assert sorted(p["full_name"] for p in crm.live("stakeholders").values()) == ["P0", "P1", "P2"]
    assert len(live(store, "stakeholders")) == 3


@pytest.mark.parametrize("has_run", [True, False], ids=["saved state", "no state yet"])
def test_a_resend_queued_while_a_run_holds_the_state_is_kept(store: Store, has_run: bool) -> None:
    """A resolution saving the state beside a run's unit waits for it; neither loses the other's.

    Also when the job has no saved state yet: there is no row to lock then.
    """
    if has_run:
        store.set_cursor("crm-sync", "crm", "stakeholders", {"push_seq": 1})
    with store.transaction() as tx:
        state = dict(tx.get_cursor("crm-sync", "crm", "stakeholders", lock=True) or {})

        def resolve_meanwhile() -> None:
            with store.transaction() as other:
                queue_resend(other, "crm-sync", "crm", "stakeholders", ["r1"])

        beside = threading.Thread(target=resolve_meanwhile)
        beside.start()
        beside.join(0.5)  # it cannot go on while the run's unit holds the state
        state["push_seq"] = 5
        tx.set_cursor("crm-sync", "crm", "stakeholders", state)
    beside.join()
    assert store.get_cursor("crm-sync", "crm", "stakeholders") == {"push_seq": 5, "resend": ["r1"]}


def test_a_run_and_a_resolution_writing_records_and_state_do_not_deadlock(
    store: Store, side_by_side: Callable[..., list[BaseException]]
) -> None:
    """A run's unit takes the job's state and then writes records; a resolution writes a
    record and then queues a resend in the state. Whichever comes second waits; neither fails."""
    data = {"full_name": "Wang Wei"}
    (made,) = store.upsert_records("stakeholders", [RecordWrite(data, content_hash(data))])

    def run_unit(rendezvous: Callable[[], None]) -> None:
        with store.transaction() as tx:
            state = dict(tx.get_cursor("crm-sync", "crm", "stakeholders", lock=True) or {})
            rendezvous()
            changed = {"full_name": "Wang Wei", "title": "CTO"}
            tx.upsert_records(
                "stakeholders", [RecordWrite(changed, content_hash(changed), made.id)]
            )
            tx.set_cursor("crm-sync", "crm", "stakeholders", {**state, "push_seq": 9})

    def resolution(rendezvous: Callable[[], None]) -> None:
        with store.transaction() as tx:
            chosen = {"full_name": "王伟"}
            tx.upsert_records("stakeholders", [RecordWrite(chosen, content_hash(chosen), made.id)])
            rendezvous()
            queue_resend(tx, "crm-sync", "crm", "stakeholders", [made.id])

    assert side_by_side(run_unit, resolution) == []
    state = store.get_cursor("crm-sync", "crm", "stakeholders")
    assert state["resend"] == [made.id]
    assert state["push_seq"] == 9
