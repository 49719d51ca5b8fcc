"""Rows the reader cannot take are rejects of the run: counted, kept, listed, settled when mended."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

from csv_support import connector, write_file

from crmbridge.config import load_config
from crmbridge.mapping.validate import load_connector_mapping
from crmbridge.migrate import Migration, run_migration
from crmbridge.service import Bridge
from crmbridge.store import Store
from crmbridge.sync.job import SyncJob
from crmbridge.sync.runner import RunReport, run_job

HEADER = "Record Id,Full Name,Email\r\n"
GOOD = "S1,王伟,wang@example.cn\r\n"
SHORT = "S2,李娜\r\n"
TWICE = "S1,Wang Wei,wei@example.cn\r\n"


def _pull(store: Store, folder: Path) -> RunReport:
    compiled = load_connector_mapping("src", "csv", None, phone_region="CN")
    mappers = {"stakeholders": compiled.entity("stakeholders")}
    job = SyncJob("import", "src", ("stakeholders",), direction="pull", deletes="propagate")
    return asyncio.run(run_job(store, job, connector(folder, name="src"), mappers))


def _open(store: Store) -> list[tuple[str, str | None, int]]:
    return sorted(
        (r.reason, r.external_id, r.attempts)
        for r in store.list_open_rejects("import", connector="src", entity="stakeholders")
    )


def test_unreadable_rows_are_kept_once_and_settled_when_mended(tmp_path: Path, hub: Store) -> None:
    path = tmp_path / "stakeholders.csv"
    write_file(path, HEADER + GOOD + SHORT + TWICE)
    first = _pull(hub, tmp_path)
    assert first.by_entity["stakeholders"]["created"] == 1
    assert first.by_entity["stakeholders"]["rejected"] == 2
    assert first.by_entity["stakeholders"]["pulled"] == 3
    by_line = {r.payload["data"]["$line"]: r for r in hub.list_rejects(first.run_id) if r.payload}
    assert by_line[3].reason == "has 2 cells where the header has 3"
    assert (by_line[4].external_id, by_line[4].field) == ("S1", "Record Id")
    assert "also on line 2" in by_line[4].reason

    # the file changes elsewhere: the same bad rows are met again, not kept twice
    write_file(path, HEADER + GOOD + SHORT + TWICE + "S5,张伟,zhang@example.cn\r\n")
    second = _pull(hub, tmp_path)
    assert second.by_entity["stakeholders"]["rejected"] == 2
    assert [attempts for _, _, attempts in _open(hub)] == [2, 2]

    # the short row is mended and the repeated id removed: nothing is left open
    write_file(path, HEADER + GOOD + "S2,李娜,li@example.cn\r\n" + "S5,张伟,zhang@example.cn\r\n")
    third = _pull(hub, tmp_path)
    assert third.status == "succeeded", third.error
    assert third.by_entity["stakeholders"]["created"] == 1
    assert _open(hub) == []


def test_an_unchanged_file_leaves_its_unreadable_rows_open(tmp_path: Path, hub: Store) -> None:
    write_file(tmp_path / "stakeholders.csv", HEADER + GOOD + SHORT)
    _pull(hub, tmp_path)
    again = _pull(hub, tmp_path)
    assert again.counts.get("pulled", 0) == 0
    assert [reason for reason, _, _ in _open(hub)] == ["has 2 cells where the header has 3"]


def test_a_migration_lists_unreadable_rows_in_its_rejects_file(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    write_file(source / "stakeholders.csv", HEADER + GOOD + SHORT)
    config = tmp_path / "crmbridge.yaml"
    config.write_text(
        "store: {url: 'sqlite:///hub.db'}\n"
        "connectors:\n"
        "  source: {type: csv, directory: source}\n"
        "  target: {type: csv, directory: target}\n",
        encoding="utf-8",
    )
    bridge = Bridge(load_config(config, {}))
    try:
        report = asyncio.run(
            run_migration(
                bridge,
                Migration("source", "target", ("stakeholders",)),
                report_path=tmp_path / "report.json",
            )
        )
    finally:
        bridge.close()
    assert report.status == "succeeded"
    with (tmp_path / "report.rejects.csv").open(encoding="utf-8-sig", newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["file"] == str(source / "stakeholders.csv")
    assert (row["line"], row["code"]) == ("3", "UNREADABLE")
    assert row["reason"] == "has 2 cells where the header has 3"


def _live(store: Store) -> set[str]:
    return {r.data["email"] for r in store.iter_records("stakeholders")}


def test_a_row_that_turns_unreadable_is_not_a_removal(tmp_path: Path, hub: Store) -> None:
    path = tmp_path / "stakeholders.csv"
    rows = [f"S{i},Person {i},p{i}@example.com\r\n" for i in range(1, 11)]
    write_file(path, HEADER + "".join(rows))
    _pull(hub, tmp_path)
    # a stray comma in S2's row: it is a reject, and S2 stays in the hub
    write_file(path, HEADER + rows[0] + "S2,Person 2,p2@example.com,oops\r\n" + "".join(rows[2:]))
    report = _pull(hub, tmp_path)
    assert report.by_entity["stakeholders"]["rejected"] == 1
    assert report.by_entity["stakeholders"].get("deleted", 0) == 0
    assert len(_live(hub)) == 10
    # mended, it is the same row as before: nothing changes
    write_file(path, HEADER + "".join(rows) + "S11,Person 11,p11@example.com\r\n")
    mended = _pull(hub, tmp_path)
    assert mended.by_entity["stakeholders"]["created"] == 1
    assert mended.by_entity["stakeholders"].get("deleted", 0) == 0
    assert _open(hub) == []


def test_while_a_row_cannot_be_told_apart_no_row_is_removed(tmp_path: Path, hub: Store) -> None:
    path = tmp_path / "stakeholders.csv"
    rows = [f"S{i},Person {i},p{i}@example.com\r\n" for i in range(1, 11)]
    write_file(path, HEADER + "".join(rows))
    _pull(hub, tmp_path)
    # S10 is removed, and a row whose id cell holds no known id cannot be read:
    # it might be S10 itself, so S10 is not removed yet
    write_file(path, HEADER + "".join(rows[:9]) + "?,Person 10,p10@example.com,oops\r\n")
    unsure = _pull(hub, tmp_path)
    assert unsure.by_entity["stakeholders"]["rejected"] == 1
    assert unsure.by_entity["stakeholders"].get("deleted", 0) == 0
    assert "p10@example.com" in _live(hub)
    # once the file reads cleanly, the removal is seen
    write_file(path, HEADER + "".join(rows[:9]))
    sure = _pull(hub, tmp_path)
    assert sure.by_entity["stakeholders"]["deleted"] == 1
    assert "p10@example.com" not in _live(hub)
    assert len(_live(hub)) == 9


def test_rows_an_open_quote_took_in_are_not_removals(tmp_path: Path, hub: Store) -> None:
    path = tmp_path / "stakeholders.csv"
    rows = [f"S{i},Person {i},p{i}@example.com\r\n" for i in range(1, 21)]
    write_file(path, HEADER + "".join(rows))
    _pull(hub, tmp_path)
    # S18's email cell opens a quote that is never closed: S19 and S20 are taken in
    write_file(
        path,
        HEADER + "".join(rows[:17]) + 'S18,Person 18,"p18@example.com\r\n' + "".join(rows[18:]),
    )
    broken = _pull(hub, tmp_path)
    assert broken.by_entity["stakeholders"]["rejected"] == 1
    assert broken.by_entity["stakeholders"].get("deleted", 0) == 0
    assert len(_live(hub)) == 20
    assert any("no removed rows are reported" in w for w in broken.warnings)
    # mended, with S20 really gone: now that removal is reported
    write_file(path, HEADER + "".join(rows[:19]))
    mended = _pull(hub, tmp_path)
    assert mended.by_entity["stakeholders"]["deleted"] == 1
    assert len(_live(hub)) == 19
    assert _open(hub) == []


def test_a_utf16_file_cut_short_says_so_and_where(tmp_path: Path, hub: Store) -> None:
    path = tmp_path / "stakeholders.csv"
    whole = (HEADER + GOOD + "S3,张伟,zhang@example.cn\r\n").encode("utf-16")
    path.write_bytes(whole[:-1])  # a copy that stopped one byte short
    report = _pull(hub, tmp_path)
    assert report.status == "failed"
    assert (report.error or {})["message"] == (
        f"{path}: line 3: cannot be read as utf-16-le (truncated data): the file ends part way "
        "through a character, so it was cut short; copy it again"
    )
