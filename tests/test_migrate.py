"""One-off migrations through the hub: report, rejects file, dry run, and resume after a crash."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from crmbridge.config import load_config
from crmbridge.connector import WriteRequest, WriteResult
from crmbridge.migrate import (
    Migration,
    MigrationProgress,
    MigrationReport,
    latest_migration_run,
    run_migration,
)
from crmbridge.registry import ConnectorType
from crmbridge.service import Bridge
from crmbridge.store.rows import Run
from crmbridge.sync.resolve import resolve_item
from crmbridge.sync.runner import RunReport
from crmbridge.testing import InMemoryConnector


class Shared(InMemoryConnector):
    """An in-memory CRM that outlives the connector instances the service builds."""

    remotes: ClassVar[dict[str, Shared]] = {}
    crash_after_send = False

    def __new__(cls, name: str = "memory", *args: Any, **kwargs: Any) -> Shared:
        if name not in cls.remotes:
            instance = super().__new__(cls)
            InMemoryConnector.__init__(instance, name, *args, **kwargs)
            cls.remotes[name] = instance
        return cls.remotes[name]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Built once, in __new__."""

    async def write(self, entity: str, requests: Sequence[WriteRequest]) -> list[WriteResult]:
        results = await super().write(entity, requests)
        if self.crash_after_send:
            self.crash_after_send = False
            raise KeyboardInterrupt
        return results


def bridge_to(tmp_path: Path, target: type[Shared]) -> Bridge:
    """A bridge migrating ``old`` (in memory) to ``new``, a connector of class ``target``."""
    Shared.remotes.clear()
    path = tmp_path / "crmbridge.yaml"
    path.write_text(
        "store: {url: 'sqlite:///hub.db'}\ndefaults: {phone_region: CN}\n"
        "connectors:\n  old: {type: memory}\n  new: {type: target}\n",
        encoding="utf-8",
    )
    types = {
        "memory": ConnectorType("memory", "tests", None, cls=Shared),
        "target": ConnectorType("target", "tests", None, cls=target),
    }
    return Bridge(load_config(path, {}), types=types)


@pytest.fixture
def service(tmp_path: Path) -> Bridge:
    return bridge_to(tmp_path, Shared)


def seed(remote: InMemoryConnector) -> None:
    org = remote.put("organizations", {"name": "华为技术有限公司", "industry": "telecom"})
    for i in range(12):
        remote.put(
            "stakeholders",
            {
                "full_name": f"王{i}号",
                "email": f"p{i}@huawei.com",
                "mobile": f"138 0013 80{i:02d}",
                "organization_id": org,
            },
        )
    remote.put("stakeholders", {"full_name": "坏号码", "mobile": "12345"})


def migrate(service: Bridge, **kwargs: Any) -> Any:
    return asyncio.run(
        run_migration(service, Migration("old", "new", ("organizations", "stakeholders")), **kwargs)
    )


def test_migration_moves_everything_and_reports_rejects(service: Bridge, tmp_path: Path) -> None:
    seed(Shared("old"))
    report = migrate(service, report_path=tmp_path / "report.json")
    assert report.status == "succeeded"
    new = Shared("new")
    assert len(new.live("stakeholders")) == 12
    (org_id,) = new.live("organizations")
    assert {p["organization_id"] for p in new.live("stakeholders").values()} == {org_id}
    assert {p["mobile"] for p in new.live("stakeholders").values()} >= {"+8613800138000"}
    written = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert written["entities"]["stakeholders"]["pull"]["created"] == 12
    assert written["entities"]["stakeholders"]["push"]["pushed"] == 12
    assert written["rejects"] == 1
    rejects = (tmp_path / "report.rejects.csv").read_text(encoding="utf-8-sig")
    assert "mobile" in rejects
    assert "'12345'" in rejects


def test_dry_run_changes_nothing_and_plans_both_legs(service: Bridge) -> None:
    seed(Shared("old"))
    report = migrate(service, dry_run=True)
    assert report.status == "planned"
    legs = dict(zip(report.leg_names, report.legs, strict=True))
    pull, push = legs["pull"], legs["push"]
    assert pull.plan_summary["stakeholders"]["hub"]["create"] == 12
    assert push.plan_summary["stakeholders"]["remote"]["create"] == 12
    assert Shared("new").live("stakeholders") == {}
    assert service.store.count_records("stakeholders") == 0


def interrupted(service: Bridge) -> Run:
    """The migration run of old -> new, interrupted by a crash right after a send."""
    seed(Shared("old"))
    Shared("new").crash_after_send = True
    with pytest.raises(KeyboardInterrupt):
        migrate(service)
    run = latest_migration_run(service, "old", "new")
    assert run is not None
    return run


def test_interrupted_migration_resumes_without_duplicates(service: Bridge) -> None:
    run = interrupted(service)
    assert run.status == "interrupted"
    report = migrate(service, resume=run.id)
    assert report.status == "succeeded"
    people = Shared("new").live("stakeholders")
    assert len(people) == 12
    assert len({p["email"] for p in people.values()}) == 12


def test_resume_of_another_migration_is_refused(service: Bridge) -> None:
    seed(Shared("old"))
    migrate(service)
    run = latest_migration_run(service, "old", "new")
    assert run is not None
    with pytest.raises(Exception, match="resume it with --from old --to new"):
        asyncio.run(run_migration(service, Migration("new", "old"), resume=run.id))


class Recorder(MigrationProgress):
    """Keeps what a migration says about its progress."""

    def __init__(self) -> None:
        self.said: list[tuple[str, ...]] = []
        self.totals: dict[str, dict[str, int | None]] = {}

    def leg_started(self, leg: str, totals: Mapping[str, int | None]) -> None:
        self.said.append(("start", leg))
        self.totals[leg] = dict(totals)

    def advance(self, entity: str, leg: str, records: int) -> None:
        if ("advance", leg) not in self.said:
            self.said.append(("advance", leg))

    def leg_finished(self, leg: str, *, complete: bool = True) -> None:
        self.said.append(("finish", leg))


def test_push_totals_are_counted_after_the_pull_filled_the_hub(service: Bridge) -> None:
    seed(Shared("old"))
    progress = Recorder()
    migrate(service, progress=progress)
    assert progress.totals == {
        "pull": {"organizations": None, "stakeholders": None},
        "match": {"organizations": None, "stakeholders": None},
        "push": {"organizations": 1, "stakeholders": 12},
    }
    assert progress.said == [
        ("start", "pull"),
        ("advance", "pull"),
        ("finish", "pull"),
        ("start", "match"),  # an empty target: nothing to read
        ("finish", "match"),
        ("start", "push"),
        ("advance", "push"),
        ("finish", "push"),
    ]


def test_a_person_the_target_holds_already_is_updated_not_duplicated(service: Bridge) -> None:
    seed(Shared("old"))
    new = Shared("new")
    twin = new.put(
        "stakeholders",
        {"full_name": "王3", "email": "P3@Huawei.com", "title": "old title", "department": "R&D"},
    )
    stranger = new.put("stakeholders", {"full_name": "Only Here", "email": "only@new.example"})
    report = migrate(service)
    assert report.status == "succeeded"
    people = new.live("stakeholders")
    # the twin (same email, written differently) is the source's person now; no second copy
    assert len(people) == 13
    assert sorted(p["email"].casefold() for p in people.values()).count("p3@huawei.com") == 1
    assert people[twin]["full_name"] == "王3号"  # the source wins a field both hold
    assert people[twin]["department"] == "R&D"  # a field only the target holds is kept
    assert people[twin]["mobile"] == "+8613800138003"
    # a target record with no twin is left as it was, and stays out of the hub
    assert people[stranger] == {"full_name": "Only Here", "email": "only@new.example"}
    hub_emails = {r.data.get("email") for r in service.store.iter_records("stakeholders")}
    assert "only@new.example" not in hub_emails
    rows = report.entities()["stakeholders"]
    assert rows["match"]["pulled"] == 2  # the target's records, read to find twins
    assert rows["push"]["pushed"] == 12  # 11 created, the twin updated


def test_a_dry_run_plans_an_update_of_the_twin_the_target_holds(service: Bridge) -> None:
    seed(Shared("old"))
    Shared("new").put("stakeholders", {"full_name": "王3", "email": "p3@huawei.com"})
    report = migrate(service, dry_run=True)
    push = report.entities()["stakeholders"]["push"]
    assert (push["created"], push["updated"]) == (11, 1)
    assert len(Shared("new").live("stakeholders")) == 1


def test_reading_the_target_shows_as_the_match_leg(service: Bridge) -> None:
    seed(Shared("old"))
    Shared("new").put("stakeholders", {"full_name": "王3", "email": "p3@huawei.com"})
    progress = Recorder()
    migrate(service, progress=progress)
    assert progress.said == [
        ("start", "pull"),
        ("advance", "pull"),
        ("finish", "pull"),
        ("start", "match"),
        ("advance", "match"),
        ("finish", "match"),
        ("start", "push"),
        ("advance", "push"),
        ("finish", "push"),
    ]


def test_a_target_record_that_cannot_be_read_is_passed_over_with_a_warning(
    service: Bridge,
) -> None:
    seed(Shared("old"))
    Shared("new").put("stakeholders", {"full_name": "Bad Phone", "mobile": "12345"})
    report = migrate(service)
    assert report.status == "succeeded"
    match = dict(zip(report.leg_names, report.legs, strict=True))["match"]
    assert match.counts["rejected"] == 0
    assert report.rejects == 1  # the source's bad row only
    (warning,) = match.warnings
    assert "1 stakeholders records of new could not be compared" in warning
    assert "'12345'" in warning
    assert len(Shared("new").live("stakeholders")) == 13


def test_an_update_the_target_finds_no_record_for_is_reported_not_dropped_silently(
    service: Bridge,
) -> None:
    old, new = Shared("old"), Shared("new")
    seed(old)
    migrate(service)
    (gone,) = [
        ext for ext, data in new.live("stakeholders").items() if data["full_name"] == "王3号"
    ]
    del new.tables["stakeholders"][gone]  # purged there, leaving no deletion to read
    new.by_key = {key: ext for key, ext in new.by_key.items() if ext != gone}
    (source,) = [
        ext for ext, data in old.live("stakeholders").items() if data["full_name"] == "王3号"
    ]
    old.put("stakeholders", {**old.live("stakeholders")[source], "title": "CTO"}, source)
    report = migrate(service)
    push = dict(zip(report.leg_names, report.legs, strict=True))["push"]
    (warning,) = push.warnings
    assert f"1 stakeholders records were no longer in new when updated ({gone})" in warning
    assert "created there again on its next change" in warning
    old.put("stakeholders", {**old.live("stakeholders")[source], "title": "CEO"}, source)
    migrate(service)
    titles = [
        p.get("title") for p in new.live("stakeholders").values() if p["full_name"] == "王3号"
    ]
    assert titles == ["CEO"]


class EventFeed(Shared):
    """A target whose reads hand out events once, like a webhook inbox: never read to match."""

    capabilities = Shared.capabilities.model_copy(update={"lists_records": False})
    reads = 0

    async def read_changes(self, entity: str, cursor: Any) -> Any:
        EventFeed.reads += 1
        async for page in super().read_changes(entity, cursor):
            yield page


def test_a_target_that_does_not_list_its_records_is_not_read(tmp_path: Path) -> None:
    EventFeed.reads = 0
    service = bridge_to(tmp_path, EventFeed)
    seed(Shared("old"))
    report = migrate(service)
    assert report.status == "succeeded"
    assert EventFeed.reads == 0
    assert len(Shared("new").live("stakeholders")) == 12


def test_the_report_lists_entities_parents_first_whichever_leg_met_them_first() -> None:
    def leg(by_entity: dict[str, dict[str, int]]) -> RunReport:
        return RunReport("r", "migrate-old-to-new", "succeeded", {}, by_entity, None, 0.0)

    report = MigrationReport(
        "r",
        "old",
        "new",
        "succeeded",
        [leg({"stakeholders": {"rejected": 1}}), leg({"organizations": {"pushed": 1}})],
        ["pull", "push"],
    )
    assert list(report.entities()) == ["organizations", "stakeholders"]


def emails(remote: InMemoryConnector) -> list[str]:
    return sorted((p.get("email") or "").casefold() for p in remote.live("stakeholders").values())


def test_a_reject_mended_later_finds_the_twin_the_target_held_all_along(service: Bridge) -> None:
    old, new = Shared("old"), Shared("new")
    old.put("stakeholders", {"full_name": "A", "email": "a@x.cn"})
    bad = old.put("stakeholders", {"full_name": "B", "email": "b@x.cn", "mobile": "12345"})
    new.put("stakeholders", {"full_name": "B in target", "email": "b@x.cn"})
    assert migrate(service).rejects == 1
    # the second run finds B's twin though the target did not change since the first
    old.put("stakeholders", {"full_name": "B", "email": "b@x.cn", "mobile": "13800138000"}, bad)
    assert migrate(service).status == "succeeded"
    assert emails(new) == ["a@x.cn", "b@x.cn"]
    assert {p["full_name"] for p in new.live("stakeholders").values()} == {"A", "B"}


def test_a_target_that_holds_a_person_twice_gets_no_third_copy(service: Bridge) -> None:
    old, new = Shared("old"), Shared("new")
    old.put("stakeholders", {"full_name": "王", "email": "w@x.cn"})
    new.put("stakeholders", {"full_name": "王1", "email": "w@x.cn"})
    new.put("stakeholders", {"full_name": "王2", "email": "W@x.cn"})
    migrate(service)
    assert emails(new) == ["w@x.cn", "w@x.cn"]
    items = service.store.list_open_inbox("migrate-old-to-new", kind="ambiguous_match")
    assert len(items) == 2  # a person decides which of the two is the source's 王


class PushOnlyTitle(Shared):
    """A target whose mapping only pushes ``title``."""

    @classmethod
    def default_mappers(cls) -> dict[str, Any]:
        mappers = Shared.default_mappers()
        mappers["stakeholders"].push_only = frozenset({"title"})
        return mappers


def test_a_push_only_field_the_source_leaves_empty_keeps_the_target_value(tmp_path: Path) -> None:
    service = bridge_to(tmp_path, PushOnlyTitle)
    Shared("old").put("stakeholders", {"full_name": "王", "email": "w@x.cn"})
    new = Shared("new")
    twin = new.put("stakeholders", {"full_name": "Wang", "email": "w@x.cn", "title": "CTO"})
    assert migrate(service).status == "succeeded"
    person = new.live("stakeholders")[twin]
    assert (person["full_name"], person["title"]) == ("王", "CTO")


def test_target_records_identified_only_by_id_are_not_read_to_match(service: Bridge) -> None:
    old, new = Shared("old"), Shared("new")
    old.put("stakeholders", {"full_name": "A", "email": "a@x.cn"})
    only_there = new.put("stakeholders", {"full_name": "Only there", "email": "t@x.cn"})
    for i in range(3):
        call = {
            "channel": "call",
            "occurred_at": "2026-01-01T00:00:00+00:00",
            "participant_ids": [only_there],
            "subject": f"call {i}",
        }
        new.put("interactions", call)
    report = asyncio.run(
        run_migration(service, Migration("old", "new", ("stakeholders", "interactions")))
    )
    assert report.status == "succeeded"
    assert (
        "interactions" not in report.entities() or "match" not in report.entities()["interactions"]
    )
    assert all(not leg.warnings for leg in report.legs)


def test_a_twin_linked_by_hand_keeps_the_target_values_the_source_never_held(
    service: Bridge,
) -> None:
    old, new = Shared("old"), Shared("new")
    old.put("stakeholders", {"full_name": "王", "email": "w@x.cn"})
    old.put("stakeholders", {"full_name": "李", "email": "l@x.cn"})
    w1 = new.put("stakeholders", {"full_name": "Wang", "email": "w@x.cn", "department": "R&D"})
    new.put("stakeholders", {"full_name": "Wang again", "email": "W@x.cn"})
    new.put("stakeholders", {"full_name": "Li", "email": "l@x.cn"})
    new.put("stakeholders", {"full_name": "Li again", "email": "L@x.cn"})
    migrate(service)
    items = service.store.list_open_inbox("migrate-old-to-new", kind="ambiguous_match")
    (item,) = [i for i in items if i.external_id == w1]
    resolve_item(service.store, item.id, link=(item.fields or [])[0])  # W1 is the source's 王
    assert migrate(service).status == "succeeded"
    person = new.live("stakeholders")[w1]
    assert (person["full_name"], person.get("department")) == ("王", "R&D")
    assert emails(new).count("l@x.cn") == 2  # 李 still waits for a person: no third copy
    # the match leg lists the target whole: nothing is left queued to fetch
    assert "refetch" not in service.store.get_cursor("migrate-old-to-new", "new", "stakeholders")


def test_the_migration_to_resume_is_found_behind_any_number_of_later_runs(
    service: Bridge,
) -> None:
    from crmbridge.migrate import migration_job_name

    run = interrupted(service)
    # sync runs recorded under the migration's job since (its legs, run after run)
    for _ in range(60):
        service.store.start_run(migration_job_name("old", "new"), "sync")
    found = latest_migration_run(service, "old", "new")
    assert found is not None
    assert found.id == run.id
