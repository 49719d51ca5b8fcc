"""Runs, rejects, the conflict inbox and the outbox."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from crmbridge.errors import StoreError
from crmbridge.store import NewInboxItem, NewReject, Store

if TYPE_CHECKING:
    from crmbridge.testing import FakeClock


def test_a_run_is_started_and_finished_with_counts(store: Store, clock: FakeClock) -> None:
    run = store.start_run("nightly", "sync", host="web-1", pid=123)
    assert (run.status, run.finished_at) == ("running", None)
    clock.advance(90)
    done = store.finish_run(
        run.id, "succeeded", counts={"created": 3, "updated": 1}, report={"备注": "好"}
    )
    assert done.status == "succeeded"
    assert done.finished_at == clock()
    assert store.get_run(run.id) == done
    assert store.get_run("nope") is None
    with pytest.raises(StoreError, match="no run"):
        store.finish_run("nope", "failed")


def test_recent_runs_newest_first(store: Store, clock: FakeClock) -> None:
    ids = []
    for job in ("a", "b", "a"):
        ids.append(store.start_run(job, "sync").id)
        clock.advance(1)
    assert [r.id for r in store.list_runs()] == ids[::-1]
    assert [r.id for r in store.list_runs("a", limit=1)] == [ids[2]]


def test_runs_left_running_are_marked_interrupted(store: Store) -> None:
    mine = store.start_run("a", "migrate", host="me")
    other = store.start_run("b", "sync", host="other")
    assert store.interrupt_runs(host="me") == 1
    assert store.get_run(mine.id).status == "interrupted"  # type: ignore[union-attr]
    assert store.get_run(other.id).status == "running"  # type: ignore[union-attr]


def test_runs_of_a_live_process_on_the_host_are_not_interrupted(store: Store) -> None:
    dead = store.start_run("a", "sync", host="me", pid=101)
    live = store.start_run("b", "sync", host="me", pid=202)
    assert store.interrupt_runs(host="me", alive={202}) == 1
    assert store.get_run(dead.id).status == "interrupted"  # type: ignore[union-attr]
    assert store.get_run(live.id).status == "running"  # type: ignore[union-attr]


def test_a_lapsed_lease_interrupts_only_that_process_s_run_of_that_job(store: Store) -> None:
    dead = store.start_run("crm-out", "sync", host="box-a", pid=101)
    other_job = store.start_run("crm-in", "sync", host="box-a", pid=101)
    other_process = store.start_run("crm-out", "sync", host="box-a", pid=202)
    assert store.interrupt_runs("box-a", job="crm-out", pid=101) == 1
    assert store.get_run(dead.id).status == "interrupted"  # type: ignore[union-attr]
    assert store.get_run(other_job.id).status == "running"  # type: ignore[union-attr]
    assert store.get_run(other_process.id).status == "running"  # type: ignore[union-attr]


def test_prune_deletes_old_finished_runs_but_keeps_open_rejects(
    store: Store, clock: FakeClock
) -> None:
    old = store.start_run("nightly", "sync")
    store.finish_run(old.id, "failed")
    stuck = store.start_run("nightly", "sync")
    store.add_rejects(
        [
            NewReject("nightly", "zoho", "stakeholders", "INVALID", "bad email", run_id=old.id),
            NewReject("nightly", "zoho", "stakeholders", "INVALID", "fixed", run_id=old.id),
        ]
    )
    fixed = store.list_rejects(old.id)[1]
    store.set_reject_status([fixed.id], "resolved")
    clock.advance(days=31)
    recent = store.start_run("nightly", "dry_run")

    assert store.prune_runs(older_than_days=30) == 1
    assert store.get_run(old.id) is None
    assert store.get_run(stuck.id) is not None
    assert store.get_run(recent.id) is not None
    (kept,) = store.list_open_rejects("nightly")
    assert (kept.reason, kept.run_id) == ("bad email", None)


def test_rejects_by_run_open_by_job_and_attempts(store: Store, clock: FakeClock) -> None:
    run = store.start_run("nightly", "sync")
    added = store.add_rejects(
        [
            NewReject(
                "nightly",
                "zoho",
                "stakeholders",
                "INVALID_DATA",
                "phone is not a number",
                run_id=run.id,
                external_id="Z1",
                field="phone",
                payload={"Phone": "电话"},
            ),
            NewReject("nightly", "csv", "organizations", "MAPPING", "no name", run_id=run.id),
        ]
    )
    assert added == 2
    first, second = store.list_rejects(run.id)
    assert (first.attempts, first.status, first.payload) == (1, "open", {"Phone": "电话"})
    clock.advance(60)
    store.bump_reject_attempts([first.id])
    store.set_reject_status([second.id], "set_aside")
    (still_open,) = store.list_open_rejects("nightly")
    assert still_open.attempts == 2
    assert still_open.last_seen == clock()
    assert still_open.first_seen < still_open.last_seen
    assert store.list_open_rejects("nightly", connector="csv") == []
    assert store.list_open_rejects("other") == []


def test_a_reject_met_again_unread_counts_among_the_later_runs(
    store: Store, clock: FakeClock
) -> None:
    first = store.start_run("nightly", "migrate")
    store.add_rejects(
        [NewReject("nightly", "csv", "stakeholders", "UNREADABLE", "bad row", run_id=first.id)]
    )
    store.finish_run(first.id, "succeeded")
    clock.advance(hours=1)
    later = store.start_run("nightly", "migrate")
    assert store.list_rejects_met(later) == []
    (reject,) = store.list_rejects(first.id)
    store.touch_rejects([reject.id])
    store.finish_run(later.id, "succeeded")
    later = store.get_run(later.id)
    assert later is not None
    (met,) = store.list_rejects_met(later)
    assert (met.id, met.attempts) == (reject.id, reject.attempts)  # met, not tried again


def test_open_rejects_of_some_records_only(store: Store) -> None:
    """A page asks about its own records' rejects, not every reject of the import."""
    store.add_rejects(
        [
            NewReject("nightly", "csv", "stakeholders", "INVALID_VALUE", "bad", external_id=ext)
            for ext in ("S1", "S2", "张三-3")
        ]
        + [
            NewReject("nightly", "csv", "stakeholders", "UNREADABLE", "no id"),
            NewReject("nightly", "zoho", "stakeholders", "PUSH", "no", record_id="r9"),
        ]
    )

    def ids(**kw: object) -> list[str | None]:
        found = store.list_open_rejects("nightly", **kw)  # type: ignore[arg-type]
        return [r.external_id or r.record_id for r in found]

    assert ids(connector="csv", external_ids=["S2", "张三-3", "S7"]) == ["S2", "张三-3"]
    assert ids(connector="csv", external_ids=[None, "S1"]) == ["S1", None]
    assert ids(external_ids=[]) == []
    assert ids(record_ids={"r9"}) == ["r9"]
    assert ids(external_ids=["S1"], record_ids=["r9"]) == ["S1", "r9"]
    assert len(ids()) == 5


def test_open_inbox_items_about_some_records(store: Store) -> None:
    """Items about a page's external ids (ambiguous matches) or hub ids (conflicts) only."""
    conflict = store.add_inbox_item(
        NewInboxItem("conflict", "j", "csv", "stakeholders", record_id="r1", external_id="S1")
    )
    ambiguous = store.add_inbox_item(
        NewInboxItem("ambiguous_match", "j", "csv", "stakeholders", external_id="S2")
    )
    store.add_inbox_item(
        NewInboxItem("ambiguous_match", "j", "zoho", "stakeholders", external_id="S2")
    )
    store.add_inbox_item(
        NewInboxItem("ambiguous_match", "j", "csv", "organizations", external_id="S2")
    )

    def about(**kw: object) -> list[int]:
        found = store.list_open_inbox("j", connector="csv", entity="stakeholders", **kw)  # type: ignore[arg-type]
        return [i.id for i in found]

    assert about(external_ids=["S2"], record_ids=["r1"]) == [conflict.id, ambiguous.id]
    assert about(external_ids=["S9"], record_ids=["r1"]) == [conflict.id]
    assert about(external_ids=["S1"]) == [conflict.id]
    assert about(external_ids=[], record_ids=[]) == []
    assert len(store.list_open_inbox("j")) == 4


def test_inbox_items_are_parked_listed_and_resolved(store: Store, clock: FakeClock) -> None:
    item = store.add_inbox_item(
        NewInboxItem(
            "conflict",
            "nightly",
            "zoho",
            "stakeholders",
            record_id="r1",
            external_id="Z1",
            fields=["title"],
            base={"title": "经理"},
            hub={"title": "总监"},
            remote={"title": "副总"},
        )
    )
    store.add_inbox_item(NewInboxItem("ambiguous_match", "nightly", "zoho", "stakeholders"))
    assert item.status == "open"
    assert item.hub == {"title": "总监"}
    assert len(store.list_open_inbox("nightly")) == 2
    assert [i.id for i in store.list_open_inbox(kind="conflict")] == [item.id]

    clock.advance(5)
    assert store.resolve_inbox_item(item.id, {"title": "总监", "by": "alice"})
    assert not store.resolve_inbox_item(item.id, {"title": "x"})
    resolved = store.get_inbox_item(item.id)
    assert resolved is not None
    assert (resolved.status, resolved.resolution, resolved.resolved_at) == (
        "resolved",
        {"title": "总监", "by": "alice"},
        clock(),
    )
    assert [i.kind for i in store.list_open_inbox()] == ["ambiguous_match"]


def test_dismissing_an_inbox_item(store: Store) -> None:
    item = store.add_inbox_item(NewInboxItem("blocked_delete", "j", "zoho", "stakeholders"))
    assert store.resolve_inbox_item(item.id, None, dismiss=True)
    assert store.get_inbox_item(item.id).status == "dismissed"  # type: ignore[union-attr]
    assert store.get_inbox_item(999) is None


def test_outbox_is_idempotent_by_key(store: Store) -> None:
    batch = [{"First_Name": "小明", "id": None}]
    first = store.add_outbox("nightly", "zoho", "stakeholders", "key-1", batch)
    again = store.add_outbox("nightly", "zoho", "stakeholders", "key-1", [{"other": 1}])
    assert again == first
    assert first.payload == batch
    store.add_outbox("nightly", "csv", "stakeholders", "key-2", [])
    assert [i.idempotency_key for i in store.list_pending_outbox(connector="zoho")] == ["key-1"]
    assert store.mark_outbox_sent(first.id)
    assert not store.mark_outbox_sent(first.id)
    assert store.add_outbox("nightly", "zoho", "stakeholders", "key-1", batch).status == "sent"
    assert [i.idempotency_key for i in store.list_pending_outbox()] == ["key-2"]
