"""End to end: a small bilingual set of files into the hub and back out to another folder."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from csv_support import connector, write_file

from connectors.csv import CsvConnector
from crmbridge.mapping.validate import load_connector_mapping
from crmbridge.model import ChangeStatus, RequirementChange, content_hash
from crmbridge.store import RecordWrite, Store, open_store
from crmbridge.sync.job import SyncJob
from crmbridge.sync.runner import RunReport, run_job

ENTITIES = ("organizations", "stakeholders", "interactions")

ORGS = "Account Name,Industry,Phone,Billing City\r\n华为技术有限公司,telecom,0755-28780808,深圳\r\nSiemens AG,industrial,+49 89 636 00,München\r\n"
PEOPLE = (
    "编号,姓名,手机,邮箱,公司,职位,类型,权力,备注\r\n"
    'S1,王伟,138 0013 8000,wang@example.cn,华为技术有限公司,采购经理,客户,高,"关键决策人\r\n每周联系"\r\n'
    "S2,Anna Schmidt,+49 30 90182001,anna@example.com,Siemens AG,CTO,合作伙伴,中,=cmd|' /C calc'!A0\r\n"
    "S3,李娜,not a phone,li@example.cn,华为技术有限公司,工程师,客户,低,\r\n"
    "S4,张三\r\n"
)
CALLS = (
    "\ufeff编号;Channel;Direction;Occurred At;Duration (min);Subject;Participants;Account Name\r\n"
    "I1;call;outbound;2026-07-21 11:22:00;15;需求澄清;S1;华为技术有限公司\r\n"
    'I2;meeting;inbound;2026-07-22 09:00:00;60;Kick-off;"S1;S2";Siemens AG\r\n'
)


def _mappers(name: str, entities: tuple[str, ...] = ENTITIES) -> dict[str, Any]:
    compiled = load_connector_mapping(
        name, "csv", None, phone_region="CN", timezone="Asia/Shanghai"
    )
    return {e: compiled.entity(e) for e in entities}


def _run(store: Store, job: SyncJob, remote: CsvConnector) -> RunReport:
    return asyncio.run(run_job(store, job, remote, _mappers(job.connector)))


def _table(path: Path) -> list[dict[str, str]]:
    text = path.read_bytes().decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_bilingual_files_go_through_the_hub_and_out_again(tmp_path: Path) -> None:
    source, out = tmp_path / "source", tmp_path / "out"
    source.mkdir()
    write_file(source / "organizations.csv", ORGS)
    write_file(source / "stakeholders.csv", PEOPLE, "gb18030")
    write_file(source / "interactions.csv", CALLS)
    store = open_store(f"sqlite:///{tmp_path / 'hub.db'}")
    try:
        src = connector(source, name="src")
        pulled = _run(store, SyncJob("import", "src", ENTITIES, direction="pull"), src)
        assert pulled.status == "succeeded", pulled.error
        by_entity = pulled.by_entity
        assert by_entity["organizations"]["created"] == 2
        assert by_entity["stakeholders"]["created"] == 2
        # S3's phone does not map; S4's row cannot even be read: each is rejected alone
        assert by_entity["stakeholders"]["rejected"] == 2
        assert by_entity["interactions"]["created"] == 2

        bad, short = sorted(store.list_rejects(pulled.run_id), key=lambda r: r.code)
        assert (bad.external_id, bad.field, bad.code) == ("S3", "mobile", "INVALID_VALUE")
        assert bad.payload is not None
        assert bad.payload["data"]["$line"] == 5
        assert bad.payload["data"]["$file"] == str(source / "stakeholders.csv")
        assert (short.code, short.reason) == ("UNREADABLE", "has 2 cells where the header has 9")
        assert short.payload is not None
        assert short.payload["data"] == {"$file": str(source / "stakeholders.csv"), "$line": 6}
        assert src.file_rejects == [
            {
                "file": str(source / "stakeholders.csv"),
                "line": 6,
                "column": "",
                "reason": "has 2 cells where the header has 9",
                "entity": "stakeholders",
            }
        ]

        people = {r.data["full_name"]: r.data for r in store.iter_records("stakeholders")}
        assert people["王伟"]["mobile"] == "+8613800138000"
        assert people["王伟"]["notes"] == "关键决策人\r\n每周联系"
        assert people["Anna Schmidt"]["notes"] == "=cmd|' /C calc'!A0"

        again = _run(store, SyncJob("import", "src", ENTITIES, direction="pull"), src)
        assert again.status == "succeeded"
        assert again.counts.get("pulled", 0) == 0

        dst = connector(out, name="export")
        pushed = _run(store, SyncJob("export", "export", ENTITIES, direction="push"), dst)
        assert pushed.status == "succeeded", pushed.error
        assert pushed.counts["pushed"] == 6
    finally:
        store.close()

    orgs = {row["Account Name"]: row for row in _table(out / "organizations.csv")}
    assert set(orgs) == {"华为技术有限公司", "Siemens AG"}
    assert orgs["Siemens AG"]["Billing City"] == "München"
    assert orgs["Siemens AG"]["Phone"] == "'+498963600"
    rows = {row["Full Name"]: row for row in _table(out / "stakeholders.csv")}
    assert rows["王伟"]["Mobile"] == "'+8613800138000"
    assert rows["王伟"]["Account Name"] == "华为技术有限公司"
    assert rows["王伟"]["Stakeholder Type"] == "customer"
    assert rows["Anna Schmidt"]["Description"] == "'=cmd|' /C calc'!A0"
    calls = {row["Subject"]: row for row in _table(out / "interactions.csv")}
    wang, anna = rows["王伟"]["crmbridge_id"], rows["Anna Schmidt"]["crmbridge_id"]
    assert calls["Kick-off"]["Participants"] == f"{wang};{anna}"
    assert calls["需求澄清"]["Account Name"] == "华为技术有限公司"

    # and the exported files read back into another hub as the same records
    second = open_store(f"sqlite:///{tmp_path / 'hub2.db'}")
    try:
        back = connector(out, name="export")
        report = _run(second, SyncJob("reimport", "export", ENTITIES, direction="pull"), back)
        assert report.status == "succeeded", report.error
        assert back.file_rejects == []
        again_people = {r.data["full_name"]: r.data for r in second.iter_records("stakeholders")}
        for name in ("王伟", "Anna Schmidt"):
            for field in ("mobile", "email", "title", "type", "power", "notes", "id"):
                assert again_people[name].get(field) == people[name].get(field), (name, field)
    finally:
        second.close()


def test_a_blank_cell_of_a_field_with_a_default_means_the_default(
    tmp_path: Path, hub: Store
) -> None:
    # a push adds the columns it writes (类型 here) to a file; rows a person adds afterwards
    # leave them blank, and such a row was rejected for ever ("Input should be 'customer', ...")
    folder = tmp_path / "files"
    folder.mkdir()
    write_file(folder / "stakeholders.csv", "编号,姓名,邮箱,类型\r\nS1,王伟,wang@example.cn,\r\n")
    job = SyncJob("files-sync", "files", ("stakeholders",))
    first = _run(hub, job, connector(folder, name="files"))
    assert first.status == "succeeded", first.error
    assert first.counts["created"] == 1, hub.list_rejects(first.run_id)
    (person,) = hub.iter_records("stakeholders")
    assert person.data["type"] == "customer"
    reports = [_run(hub, job, connector(folder, name="files")) for _ in range(3)]
    last = reports[-1].counts
    assert last["created"] == last["updated"] == last["pushed"] == last["rejected"] == 0
    # the blank stands for the default: nothing to write back, nothing to pull again
    assert [row["类型"] for row in _table(folder / "stakeholders.csv")] == [""]


def test_a_bad_row_that_moved_up_the_file_is_still_one_reject(tmp_path: Path) -> None:
    folder = tmp_path / "files"
    folder.mkdir()
    people = folder / "stakeholders.csv"
    write_file(
        people,
        "编号,姓名,邮箱,职位\r\nS1,Ann,ann@example.com,CEO\r\nS2,Bob,bob@,CTO\r\n"
        "S3,Cat,cat@example.com,CFO\r\n",
    )
    store = open_store(f"sqlite:///{tmp_path / 'hub.db'}")
    try:
        job = SyncJob("files", "files", ("stakeholders",), direction="pull")
        assert _run(store, job, connector(folder, name="files")).counts["rejected"] == 1
        # S1 gone and a column renamed: the file is read whole again, S2 now on line 2
        write_file(
            people,
            "编号,姓名,邮箱,职务\r\nS2,Bob,bob@,CTO\r\nS3,Cat,cat@example.com,CFO\r\n",
        )
        again = _run(store, job, connector(folder, name="files"))
        assert again.counts["rejected"] == 1
        (reject,) = store.list_open_rejects("files")
        assert reject.payload is not None
        assert (reject.external_id, reject.attempts) == ("S2", 2)
        assert reject.payload["data"]["$line"] == 2  # where it is now, for the person fixing it
    finally:
        store.close()


def test_a_company_renamed_in_a_file_keyed_by_its_name_is_renamed_not_deleted(
    tmp_path: Path,
) -> None:
    # found by exploratory testing: the row's id is the company's name, so the rename read
    # as one company deleted and another, already linked, added
    folder = tmp_path / "files"
    folder.mkdir()
    orgs = "crmbridge_id,Account Name,Billing City\r\n" + "".join(
        f"00000000-0000-0000-0000-00000000000{i},{name},City {i}\r\n"
        for i, name in enumerate(["Globex Corporation", *(f"Org {n}" for n in range(1, 9))])
    )
    people = "crmbridge_id,Full Name,Email,Account Name\r\nP1,Ann,ann@example.com,{}\r\n"
    write_file(folder / "organizations.csv", orgs)
    write_file(folder / "stakeholders.csv", people.format("Globex Corporation"))
    store = open_store(f"sqlite:///{tmp_path / 'hub.db'}")
    try:
        job = SyncJob("files", "files", ("organizations", "stakeholders"), deletes="propagate")
        assert _run(store, job, connector(folder, name="files")).status == "succeeded"
        write_file(folder / "organizations.csv", orgs.replace("Globex Corporation", "Globex Inc"))
        write_file(folder / "stakeholders.csv", people.format("Globex Inc"))
        renamed = _run(store, job, connector(folder, name="files"))
        assert renamed.by_entity["organizations"]["updated"] == 1
        assert renamed.by_entity["organizations"]["deleted"] == 0
        assert renamed.counts["conflicts"] == 0
        assert store.list_open_inbox("files") == []
        globex = store.get_record("organizations", "00000000-0000-0000-0000-000000000000")
        assert globex is not None
        assert (globex.data["name"], globex.deleted) == ("Globex Inc", False)
        (ann,) = store.iter_records("stakeholders")
        assert ann.data["organization_id"] == globex.id
        assert store.get_links_by_external_ids("files", "organizations", ["Globex Inc"])
    finally:
        store.close()


def test_a_status_typed_into_a_file_is_a_workflow_step_the_file_then_holds(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "files"
    folder.mkdir()
    path = write_file(
        folder / "requirement_changes.csv",
        "编号,标题,状态,决策人,历史\r\nC1,单点登录,已识别,,\r\n",
    )
    store = open_store(f"sqlite:///{tmp_path / 'hub.db'}")
    try:
        files = connector(folder, name="files")
        job = SyncJob("changes", "files", ("requirement_changes",))
        mappers = _mappers("files", ("requirement_changes",))

        def run() -> RunReport:
            return asyncio.run(run_job(store, job, files, mappers))

        assert run().status == "succeeded"
        for status, by in (("已分析", ""), ("已批准", "张伟")):
            (row,) = _table(path)
            write_file(
                path,
                f"编号,标题,状态,决策人,历史\r\n{_csv_row(['C1', '单点登录', status, by, row['历史']])}",
            )
            report = run()
            assert report.status == "succeeded", report.error
            assert report.counts["rejected"] == 0, store.list_rejects(report.run_id)
        (row,) = _table(path)
        steps = [(s["from_status"], s["to_status"], s["by"]) for s in json.loads(row["历史"])]
        assert steps == [
            (None, "identified", None),
            ("identified", "analysed", None),
            ("analysed", "approved", "张伟"),
        ]
        assert (row["状态"], row["决策人"]) == ("已批准", "张伟")
        assert run().counts["rejected"] == 0
        trail = row["历史"]
        # the trail only grows: a history cell emptied (or edited) is written back as it was
        write_file(
            path,
            f"编号,标题,状态,决策人,历史\r\n{_csv_row(['C1', '单点登录', '已批准', '张伟', ''])}",
        )
        report = run()
        assert report.counts["rejected"] == 0, store.list_rejects(report.run_id)
        (row,) = _table(path)
        assert row["历史"] == trail
        # the hub and the file make the same move between two syncs: no reject, one trail
        (record,) = store.iter_records("requirement_changes")
        change = RequirementChange.model_validate(
            {**record.data, "id": record.id, "created_at": record.created_at}
        )
        done = change.transition(ChangeStatus.IMPLEMENTED, at=datetime.now(UTC)).content()
        store.upsert_records(
            "requirement_changes", [RecordWrite(done, content_hash(done), record.id)]
        )
        write_file(
            path,
            f"编号,标题,状态,决策人,历史\r\n{_csv_row(['C1', '单点登录', '已实施', '张伟', trail])}",
        )
        report = run()
        assert report.counts["rejected"] == 0, store.list_rejects(report.run_id)
        (row,) = _table(path)
        assert [s["to_status"] for s in json.loads(row["历史"])][-2:] == ["approved", "implemented"]
        assert len(json.loads(row["历史"])) == 4
    finally:
        store.close()


def _csv_row(cells: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(cells)
    return out.getvalue()
