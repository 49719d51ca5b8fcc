"""A requirement change's status moved at a remote goes through the workflow in the hub."""

from __future__ import annotations

import asyncio
from typing import Any

from crmbridge.model import ChangeStatus, RequirementChange, content_hash
from crmbridge.store import RecordWrite, Store
from crmbridge.sync.job import SyncJob
from crmbridge.sync.runner import RunReport, run_job
from crmbridge.testing import FakeClock, InMemoryConnector, PassThroughMapper

FIELDS = ["title", "status", "decided_by"]


def _sync(
    store: Store, crm: InMemoryConnector, clock: FakeClock, *, dry_run: bool = False
) -> RunReport:
    job = SyncJob("changes", "crm", ("requirement_changes",), direction="pull")
    mappers: dict[str, Any] = {
        "requirement_changes": PassThroughMapper("requirement_changes", FIELDS)
    }
    return asyncio.run(run_job(store, job, crm, mappers, dry_run=dry_run, now=clock))


def _change(store: Store) -> dict[str, Any]:
    (record,) = store.iter_records("requirement_changes")
    return record.data


def _moved(crm: InMemoryConnector, ext: str, clock: FakeClock, **values: str) -> None:
    clock.advance(60)
    crm.put("requirement_changes", {**crm.live("requirement_changes")[ext], **values}, ext)


def test_an_allowed_move_is_kept_in_the_history_with_when_and_where(
    store: Store, clock: FakeClock
) -> None:
    crm = InMemoryConnector("crm", clock=clock)
    ext = crm.put("requirement_changes", {"title": "Add SSO", "status": "identified"})
    _sync(store, crm, clock)
    _moved(crm, ext, clock, status="analysed")
    _sync(store, crm, clock)
    _moved(crm, ext, clock, status="approved", decided_by="张伟")
    report = _sync(store, crm, clock)
    assert report.counts["rejected"] == 0
    change = _change(store)
    assert change["status"] == "approved"
    steps = [(s["from_status"], s["to_status"], s["by"], s["note"]) for s in change["history"]]
    assert steps == [
        (None, "identified", None, None),
        ("identified", "analysed", None, "status changed in crm"),
        ("analysed", "approved", "张伟", "status changed in crm"),
    ]
    assert change["decided_by"] == "张伟"
    assert change["decided_at"] == change["history"][-1]["at"]


def test_a_move_the_workflow_does_not_allow_is_rejected_and_the_hub_keeps_its_status(
    store: Store, clock: FakeClock
) -> None:
    crm = InMemoryConnector("crm", clock=clock)
    ext = crm.put("requirement_changes", {"title": "Add SSO", "status": "identified"})
    _sync(store, crm, clock)
    _moved(crm, ext, clock, status="implemented", title="Add SSO (Okta)")
    report = _sync(store, crm, clock)
    assert report.counts["rejected"] == 1
    (reject,) = store.list_open_rejects("changes")
    assert (reject.code, reject.field) == ("INVALID_TRANSITION", "status")
    assert reject.reason == (
        "a requirement change cannot move from identified to implemented (allowed: analysed); "
        "the hub keeps identified"
    )
    assert _change(store)["status"] == "identified"
    # mended at the remote: the record goes through, and its reject is settled
    _moved(crm, ext, clock, status="analysed")
    planned = _sync(store, crm, clock, dry_run=True)
    assert planned.counts["rejected"] == 0
    assert [(p["side"], p["action"]) for p in planned.plan or []] == [("hub", "update")]
    mended = _sync(store, crm, clock)
    assert mended.counts["rejected"] == 0  # its stale retry does not count once it is taken
    assert (_change(store)["status"], _change(store)["title"]) == ("analysed", "Add SSO (Okta)")
    assert store.list_open_rejects("changes") == []


HISTORY = [*FIELDS, "history", "decided_at"]


def _both(store: Store, crm: InMemoryConnector, clock: FakeClock) -> RunReport:
    # the history is mapped too, as the CSV, Zoho and webhook mappings map it
    job = SyncJob("changes", "crm", ("requirement_changes",))
    mappers: dict[str, Any] = {
        "requirement_changes": PassThroughMapper("requirement_changes", HISTORY)
    }
    return asyncio.run(run_job(store, job, crm, mappers, now=clock))


def _hub_moves(store: Store, clock: FakeClock, to: str) -> None:
    (record,) = store.iter_records("requirement_changes")
    change = RequirementChange.model_validate(
        {**record.data, "id": record.id, "created_at": record.created_at}
    )
    clock.advance(60)
    content = change.transition(ChangeStatus(to), at=clock()).content()
    store.upsert_records(
        "requirement_changes", [RecordWrite(content, content_hash(content), record.id)]
    )


def _steps(history: list[dict[str, Any]]) -> list[tuple[str | None, str]]:
    return [(s["from_status"], s["to_status"]) for s in history]


def test_a_status_typed_beside_a_mapped_history_is_a_step_written_back(
    store: Store, clock: FakeClock
) -> None:
    crm = InMemoryConnector("crm", clock=clock)
    ext = crm.put(
        "requirement_changes", {"title": "Add SSO", "status": "identified", "history": None}
    )
    _both(store, crm, clock)
    _moved(crm, ext, clock, status="analysed")  # the history the remote holds is left as it was
    report = _both(store, crm, clock)
    assert report.counts["rejected"] == 0
    expected = [(None, "identified"), ("identified", "analysed")]
    assert _steps(_change(store)["history"]) == expected
    assert _steps(crm.live("requirement_changes")[ext]["history"]) == expected
    again = _both(store, crm, clock)
    assert again.counts["rejected"] == 0
    assert _steps(_change(store)["history"]) == expected
    # the remote now holds the history; a person moves the status on beside it
    _moved(crm, ext, clock, status="approved")
    onward = _both(store, crm, clock)
    assert onward.counts["rejected"] == 0
    expected.append(("analysed", "approved"))
    assert _steps(_change(store)["history"]) == expected
    assert _steps(crm.live("requirement_changes")[ext]["history"]) == expected
    assert store.list_open_rejects("changes") == []


def test_a_status_the_hub_moved_on_from_is_not_taken_as_a_move_back(
    store: Store, clock: FakeClock
) -> None:
    crm = InMemoryConnector("crm", clock=clock)
    ext = crm.put("requirement_changes", {"title": "Add SSO", "status": "identified"})
    _sync(store, crm, clock)
    _hub_moves(store, clock, "analysed")
    _moved(crm, ext, clock, title="Add SSO (Okta)")  # its status still says identified
    report = _both(store, crm, clock)
    assert report.counts["rejected"] == 0
    assert (_change(store)["status"], _change(store)["title"]) == ("analysed", "Add SSO (Okta)")
    (held,) = crm.live("requirement_changes").values()
    assert (held["status"], _steps(held["history"])) == (
        "analysed",
        [(None, "identified"), ("identified", "analysed")],
    )
