"""The sync cycle end to end over the in-memory connector, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sync_support import hub_add, live, remote_crm, sync

from crmbridge.connector import WriteOutcome, WriteResult
from crmbridge.model import content_hash
from crmbridge.store import RecordWrite, Store
from crmbridge.sync.merge import ConflictPolicy, Policy
from crmbridge.sync.resolve import resolve_item
from crmbridge.testing import FakeClock


def test_first_pull_creates_and_a_quiet_second_run_does_nothing(
    store: Store, clock: FakeClock
) -> None:
    crm = remote_crm(clock)
    org = crm.put("organizations", {"name": "华为", "industry": "telecom"})
    crm.put(
        "stakeholders", {"full_name": "王小明", "email": "Wang@Huawei.com", "organization_id": org}
    )
    crm.put("stakeholders", {"full_name": "Anna Schmidt", "mobile": "+49 30 901820"})
    first = sync(store, crm, clock)
    assert first.status == "succeeded", first.error
    assert first.counts["created"] == 3
    assert first.counts["pushed"] == 0
    people = {p["full_name"]: p for p in live(store, "stakeholders")}
    assert people["王小明"]["email"] == "Wang@huawei.com"
    assert people["Anna Schmidt"]["mobile"] == "+4930901820"
    (org_record,) = store.iter_records("organizations")
    assert people["王小明"]["organization_id"] == org_record.id
    second = sync(store, crm, clock)
    assert second.counts["created"] == second.counts["updated"] == second.counts["pushed"] == 0


def test_hub_records_are_pushed_and_coming_back_they_are_echoes(
    store: Store, clock: FakeClock
) -> None:
    crm = remote_crm(clock)
    org = hub_add(store, "organizations", {"name": "阿里巴巴", "industry": "e-commerce"})
    for i in range(30):
        hub_add(
            store,
            "stakeholders",
            {"full_name": f"员工{i}", "email": f"e{i}@alibaba.com", "organization_id": org},
        )
    out = sync(store, crm, clock)
    assert out.counts["pushed"] == 31
    remote_people = crm.live("stakeholders")
    assert len(remote_people) == 30
    (remote_org,) = crm.live("organizations")
    assert {p["organization_id"] for p in remote_people.values()} == {remote_org}
    back = sync(store, crm, clock)
    assert back.counts["pushed"] == back.counts["updated"] == back.counts["created"] == 0
    assert len(crm.live("stakeholders")) == 30


def test_first_sync_against_an_existing_hub_matches_instead_of_duplicating(
    store: Store, clock: FakeClock
) -> None:
    hub_add(store, "stakeholders", {"full_name": "李娜", "email": "li.na@example.cn"})
    hub_add(store, "stakeholders", {"full_name": "Chen Jie", "mobile": "+8613800138000"})
    crm = remote_crm(clock)
    crm.put("stakeholders", {"full_name": "李娜", "email": "LI.NA@example.cn", "title": "CTO"})
    crm.put("stakeholders", {"full_name": "Chen Jie", "mobile": "+86 138 0013 8000"})
    report = sync(store, crm, clock, conflicts=ConflictPolicy(Policy.PREFER_NON_EMPTY))
    assert report.counts["created"] == 0
    assert len(live(store, "stakeholders")) == 2
    assert len(crm.live("stakeholders")) == 2
    assert {p["full_name"]: p.get("title") for p in live(store, "stakeholders")}["李娜"] == "CTO"


def test_ambiguous_match_goes_to_the_inbox(store: Store, clock: FakeClock) -> None:
    hub_add(store, "stakeholders", {"full_name": "A", "email": "shared@example.cn"})
    hub_add(store, "stakeholders", {"full_name": "B", "secondary_email": "shared@example.cn"})
    crm = remote_crm(clock)
    crm.put("stakeholders", {"full_name": "C", "email": "shared@example.cn"})
    report = sync(store, crm, clock, direction="pull")
    assert report.counts["created"] == 0
    (item,) = store.list_open_inbox("crm-sync")
    assert item.kind == "ambiguous_match"
    assert len(live(store, "stakeholders")) == 2


def test_a_person_the_remote_holds_twice_is_not_created_a_third_time(
    store: Store, clock: FakeClock
) -> None:
    hub_add(store, "stakeholders", {"full_name": "A", "email": "a@example.cn"})
    hub_add(store, "stakeholders", {"full_name": "B", "email": "b@example.cn"})
    crm = remote_crm(clock)
    first = crm.put("stakeholders", {"full_name": "A", "email": "a@example.cn"})
    second = crm.put("stakeholders", {"full_name": "A2", "email": "A@example.cn"})
    for _ in range(2):  # held back on every run while the match is open, and said so
        report = sync(store, crm, clock)
        assert any("1 stakeholders records were not sent to crm" in w for w in report.warnings)
        assert sorted(p["full_name"] for p in crm.live("stakeholders").values()) == [
            "A",
            "A2",
            "B",
        ]
    # A2 turns out to be someone else: the remote's first A is the hub's A, and nothing waits
    crm.put("stakeholders", {"full_name": "A2", "email": "a2@example.cn"}, second)
    sync(store, crm, clock)
    sync(store, crm, clock)  # the first A is fetched again and matches alone
    assert store.list_open_inbox("crm-sync") == []
    assert sorted(p["full_name"] for p in crm.live("stakeholders").values()) == ["A", "A2", "B"]
    assert store.get_links_by_external_ids("crm", "stakeholders", [first])
    assert len(live(store, "stakeholders")) == 3


def test_people_sharing_an_office_phone_are_not_held_back(store: Store, clock: FakeClock) -> None:
    for name in ("Dad", "Kid"):
        hub_add(
            store,
            "stakeholders",
            {"full_name": name, "email": f"{name}@x.cn", "mobile": "+8613800138000"},
        )
    crm = remote_crm(clock)
    crm.put("stakeholders", {"full_name": "Mom", "email": "mom@x.cn", "mobile": "+8613800138000"})
    sync(store, crm, clock)
    names = sorted(p["full_name"] for p in crm.live("stakeholders").values())
    assert names == ["Dad", "Kid", "Mom"]


def test_people_of_a_company_held_back_wait_with_it_and_go_once_it_is_settled(
    store: Store, clock: FakeClock
) -> None:
    acme = hub_add(store, "organizations", {"name": "Acme"})
    hub_add(store, "stakeholders", {"full_name": "P", "email": "p@x.cn", "organization_id": acme})
    crm = remote_crm(clock)
    crm.put("organizations", {"name": "Acme"})
    crm.put("organizations", {"name": "ACME"})
    for _ in range(6):  # more runs than max_record_failures: P is never rejected, it waits
        report = sync(store, crm, clock)
        assert report.counts["rejected"] == 0
    assert crm.live("stakeholders") == {}
    first, _ = store.list_open_inbox("crm-sync", kind="ambiguous_match")
    resolve_item(store, first.id, link=acme)
    sync(store, crm, clock)
    assert [p["full_name"] for p in crm.live("stakeholders").values()] == ["P"]


def test_an_ambiguous_match_whose_remote_record_is_deleted_lets_the_other_settle(
    store: Store, clock: FakeClock
) -> None:
    hub_add(store, "stakeholders", {"full_name": "A", "email": "a@example.cn"})
    crm = remote_crm(clock)
    kept = crm.put("stakeholders", {"full_name": "A", "email": "a@example.cn"})
    gone = crm.put("stakeholders", {"full_name": "A", "email": "a@example.cn"})
    sync(store, crm, clock)
    crm.delete("stakeholders", gone)  # the duplicate at the remote is removed
    sync(store, crm, clock)  # the deletion settles it; A1 is fetched again and matches A alone
    assert store.list_open_inbox("crm-sync") == []
    assert list(crm.live("stakeholders")) == [kept]
    assert crm.live("stakeholders")[kept]["full_name"] == "A"


def test_a_new_person_held_twice_by_the_remote_is_created_once_the_duplicate_is_deleted(
    store: Store, clock: FakeClock
) -> None:
    # found by exploratory testing: a duplicated row of a file held its twin back for good
    crm = remote_crm(clock)
    kept = crm.put("stakeholders", {"full_name": "张三", "email": "zhang@example.cn"})
    gone = crm.put("stakeholders", {"full_name": "张三", "email": "zhang@example.cn"})
    crm.put("stakeholders", {"full_name": "李四", "email": "li@example.cn"})
    first = sync(store, crm, clock, direction="pull")
    assert first.counts["conflicts"] == 2
    assert [p["full_name"] for p in live(store, "stakeholders")] == ["李四"]
    clock.advance(60)
    crm.delete("stakeholders", gone)
    second = sync(store, crm, clock, direction="pull")
    assert second.counts["created"] == 1  # in the run that saw the deletion, not a later one
    assert sorted(p["full_name"] for p in live(store, "stakeholders")) == ["张三", "李四"]
    assert store.list_open_inbox("crm-sync") == []
    assert store.get_links_by_external_ids("crm", "stakeholders", [kept])


def test_conflict_holds_only_its_field_and_the_rest_syncs(store: Store, clock: FakeClock) -> None:
    crm = remote_crm(clock)
    ext = crm.put("stakeholders", {"full_name": "王伟", "email": "wang@x.cn", "title": "PM"})
    sync(store, crm, clock)
    (person,) = store.iter_records("stakeholders")
    data = {**person.data, "title": "Director", "email": "wang.wei@x.cn"}
    store.upsert_records("stakeholders", [RecordWrite(data, content_hash(data), person.id)])
    crm.put("stakeholders", {**crm.live("stakeholders")[ext], "title": "VP"}, ext)
    report = sync(store, crm, clock)
    assert report.counts["conflicts"] == 1
    (item,) = store.list_open_inbox("crm-sync", kind="conflict")
    assert item.fields == ["title"]
    assert (item.hub, item.remote) == ({"title": "Director"}, {"title": "VP"})
    assert crm.live("stakeholders")[ext]["email"] == "wang.wei@x.cn", (
        "the non-conflicting field synced"
    )
    assert crm.live("stakeholders")[ext]["title"] == "VP", "the held field was not pushed"


def test_same_second_records_across_pages_and_runs_lose_nothing(
    store: Store, clock: FakeClock
) -> None:
    crm = remote_crm(clock, cursor="modified_time", overlap_s=2, page_size=7)
    for i in range(40):
        crm.put("stakeholders", {"full_name": f"P{i}", "email": f"p{i}@x.cn"})
    first = sync(store, crm, clock, direction="pull")
    for i in range(40, 55):  # the same second again, after the cursor was committed
        crm.put("stakeholders", {"full_name": f"P{i}", "email": f"p{i}@x.cn"})
    second = sync(store, crm, clock, direction="pull")
    names = sorted(p["full_name"] for p in live(store, "stakeholders"))
    assert names == sorted(f"P{i}" for i in range(55))
    assert first.counts["created"] == 40
    assert second.counts["created"] == 15
    assert second.counts["updated"] == 0


def test_dry_run_writes_nothing_anywhere_and_plans_both_sides(
    store: Store, clock: FakeClock
) -> None:
    crm = remote_crm(clock)
    crm.put("stakeholders", {"full_name": "Remote Only", "email": "r@x.cn"})
    hub_add(store, "stakeholders", {"full_name": "Hub Only", "email": "h@x.cn"})
    seq_before = store.max_seq()
    plan = sync(store, crm, clock, dry_run=True)
    assert plan.plan_summary == {"stakeholders": {"hub": {"create": 1}, "remote": {"create": 1}}}
    assert store.max_seq() == seq_before
    assert len(live(store, "stakeholders")) == 1
    assert len(crm.live("stakeholders")) == 1
    assert store.list_runs() == []


def test_dry_run_counts_an_update_the_merge_sends_back_once(store: Store, clock: FakeClock) -> None:
    hub_add(store, "stakeholders", {"full_name": "李娜", "email": "li.na@example.cn"})
    crm = remote_crm(clock)
    crm.put("stakeholders", {"full_name": "Li Na", "email": "li.na@example.cn"})
    plan = sync(store, crm, clock, dry_run=True, conflicts=ConflictPolicy(Policy.HUB))
    # the pull's merge decides the hub's name goes out; the push then plans that same update
    assert plan.plan_summary == {"stakeholders": {"remote": {"update": 1}}}


def test_remote_deletions_follow_the_policy_and_the_guard(store: Store, clock: FakeClock) -> None:
    crm = remote_crm(clock)
    ids = [
        crm.put("stakeholders", {"full_name": f"P{i}", "email": f"p{i}@x.cn"}) for i in range(10)
    ]
    sync(store, crm, clock, deletes="propagate")
    crm.delete("stakeholders", ids[0])
    one = sync(store, crm, clock, deletes="propagate")
    assert one.counts["deleted"] == 1
    assert len(live(store, "stakeholders")) == 9
    for ext in ids[1:6]:
        crm.delete("stakeholders", ext)
    many = sync(store, crm, clock, deletes="propagate")
    assert many.counts["deleted"] == 0
    assert len(live(store, "stakeholders")) == 9, "5 of 9 is over the 20% guard"
    assert len(store.list_open_inbox("crm-sync", kind="blocked_delete")) == 5
    assert any("mass-delete guard" in w for w in many.warnings)


def test_child_waits_for_its_parent_and_is_never_dropped(store: Store, clock: FakeClock) -> None:
    crm = remote_crm(clock)
    crm.put("stakeholders", {"full_name": "Orphan", "email": "o@x.cn", "organization_id": "m99"})
    first = sync(store, crm, clock, direction="pull")
    assert first.counts["rejected"] == 1
    assert live(store, "stakeholders") == []
    (parked,) = store.list_open_rejects("crm-sync")
    assert parked.code == "PENDING_RELATION"
    crm.put("organizations", {"name": "Late Org"}, "m99")
    second = sync(store, crm, clock, direction="pull")
    (person,) = live(store, "stakeholders")
    (org,) = store.iter_records("organizations")
    assert person["organization_id"] == org.id
    assert second.counts["rejected"] == 0
    assert store.list_open_rejects("crm-sync") == []


def test_a_waiting_child_edited_meanwhile_arrives_as_last_edited(
    store: Store, clock: FakeClock
) -> None:
    crm = remote_crm(clock)
    child = crm.put(
        "stakeholders",
        {"full_name": "Orphan", "email": "o@x.cn", "title": "CTO", "organization_id": "m99"},
    )
    sync(store, crm, clock, direction="pull")
    clock.advance(60)
    crm.put(
        "stakeholders",
        {"full_name": "Orphan", "email": "o@x.cn", "title": "VP", "organization_id": "m99"},
        child,
    )
    waiting = sync(store, crm, clock, direction="pull")
    assert waiting.counts["rejected"] == 1  # one record, retried and read again: one reject
    (parked,) = store.list_open_rejects("crm-sync")
    assert (parked.attempts, parked.payload["data"]["title"]) == (2, "VP")
    clock.advance(60)
    crm.put("organizations", {"name": "Late Org"}, "m99")
    sync(store, crm, clock, direction="pull")
    (person,) = live(store, "stakeholders")
    assert person["title"] == "VP"  # not the title it had when it first waited


def test_a_push_rejected_once_is_sent_again_next_run(store: Store, clock: FakeClock) -> None:
    crm = remote_crm(clock)
    hub_add(store, "stakeholders", {"full_name": "Flaky", "email": "f@x.cn"})
    original = crm.write
    calls = {"n": 0}

    async def reject_first(entity: str, requests: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            return [
                WriteResult(
                    r.key, WriteOutcome.REJECTED, None, None, "RECORD_LOCKED", None, "locked"
                )
                for r in requests
            ]
        return await original(entity, requests)

    crm.write = reject_first  # type: ignore[method-assign]
    first = sync(store, crm, clock)
    assert first.counts["rejected"] == 1
    second = sync(store, crm, clock)
    assert second.counts["pushed"] == 1
    assert [p["full_name"] for p in crm.live("stakeholders").values()] == ["Flaky"]
    assert store.list_open_rejects("crm-sync") == []


def test_a_partial_remote_record_updates_only_its_fields(store: Store, clock: FakeClock) -> None:
    crm = remote_crm(clock)
    ext = crm.put("stakeholders", {"full_name": "王伟", "email": "wang@x.cn", "title": "PM"})
    sync(store, crm, clock, direction="pull")
    crm.put("stakeholders", {"title": "Director"}, ext)  # a webhook carrying one field
    report = sync(store, crm, clock, direction="pull")
    assert report.counts["rejected"] == 0
    (person,) = live(store, "stakeholders")
    assert (person["full_name"], person["email"], person["title"]) == (
        "王伟",
        "wang@x.cn",
        "Director",
    )


def test_a_stop_request_ends_the_run_after_a_committed_page(store: Store, clock: FakeClock) -> None:
    import asyncio

    from sync_support import job, mappers

    from crmbridge.sync.runner import run_job

    crm = remote_crm(clock, page_size=5)
    for i in range(12):
        crm.put("stakeholders", {"full_name": f"P{i}", "email": f"p{i}@x.cn"})
    pages = {"n": 0}

    def stop_after_first_page() -> bool:
        pages["n"] += 1
        return pages["n"] >= 1

    stopped = asyncio.run(
        run_job(
            store,
            job(direction="pull"),
            crm,
            mappers(),
            now=clock,
            should_stop=stop_after_first_page,
        )
    )
    assert stopped.status == "interrupted"
    assert len(live(store, "stakeholders")) == 5, "the first page was committed, the rest not read"
    resumed = sync(store, crm, clock, direction="pull")
    assert resumed.counts["created"] == 7


def test_a_record_rejected_twice_in_one_run_counts_once(store: Store, clock: FakeClock) -> None:
    # a parked reject is retried at the start of a run; read again from its page in the same
    # run (a resumed migration reads its file again), it is still one record, one attempt
    crm = remote_crm(clock)
    bad = crm.put("stakeholders", {"full_name": "Bad", "email": "not an email"})
    assert sync(store, crm, clock).counts["rejected"] == 1
    clock.advance(60)
    crm.put("stakeholders", {"full_name": "Bad", "email": "not an email"}, bad)
    second = sync(store, crm, clock)
    assert (second.counts["pulled"], second.counts["rejected"]) == (1, 1)
    (reject,) = store.list_open_rejects(second.job)
    assert (reject.external_id, reject.attempts) == (bad, 2)
