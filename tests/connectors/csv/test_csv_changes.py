"""A pull yields only what changed since the last one: added, changed and removed rows."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from csv_support import connector, deleted, last_cursor, pull, push, records, write_file

from crmbridge.connector import Page, WriteOp, WriteRequest

PEOPLE = "Record Id,Full Name,Email\r\n1,Anna,a@example.com\r\n2,Ben,b@example.com\r\n3,Carl,c@example.com\r\n"
EDITED = "Record Id,Full Name,Email\r\n1,Anna,a@example.com\r\n2,Benedikt,b@example.com\r\n4,Dora,d@example.com\r\n"


def test_a_second_pull_of_an_unchanged_file_yields_nothing(tmp_path: Path) -> None:
    write_file(tmp_path / "stakeholders.csv", PEOPLE)
    remote = connector(tmp_path)
    first = pull(remote, "stakeholders")
    assert sorted(records(first)) == ["1", "2", "3"]
    assert pull(remote, "stakeholders", last_cursor(first)) == []


def test_a_touched_but_unchanged_file_yields_no_records_and_a_new_cursor(tmp_path: Path) -> None:
    path = write_file(tmp_path / "stakeholders.csv", PEOPLE)
    remote = connector(tmp_path)
    cursor = last_cursor(pull(remote, "stakeholders"))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    (page,) = pull(remote, "stakeholders", cursor)
    assert (page.records, page.deletions) == ([], [])
    assert page.cursor is not None
    assert cursor is not None
    assert page.cursor["generation"] == cursor["generation"] + 1


def test_a_file_gone_since_the_last_pull_removes_nothing_and_is_read_whole_when_back(
    tmp_path: Path,
) -> None:
    path = write_file(tmp_path / "stakeholders.csv", PEOPLE)
    remote = connector(tmp_path)
    cursor = last_cursor(pull(remote, "stakeholders"))
    path.unlink()
    (page,) = pull(remote, "stakeholders", cursor)  # read: nothing in it is unreadable now
    assert (page.records, page.deletions, page.unreadable) == ([], [], [])
    assert pull(remote, "stakeholders", page.cursor) == []  # said once
    write_file(path, PEOPLE)
    back = pull(remote, "stakeholders", page.cursor)
    assert records(back) == {}  # the same rows as before it went: nothing changed
    assert back
    assert back[-1].cursor is not None


def test_added_changed_and_removed_rows_yield_exactly_those(tmp_path: Path) -> None:
    path = write_file(tmp_path / "stakeholders.csv", PEOPLE)
    remote = connector(tmp_path)
    cursor = last_cursor(pull(remote, "stakeholders"))
    write_file(path, EDITED)
    pages = pull(remote, "stakeholders", cursor)
    assert {k: v["Full Name"] for k, v in records(pages).items()} == {
        "2": "Benedikt",
        "4": "Dora",
    }
    assert deleted(pages) == ["3"]
    assert pull(remote, "stakeholders", last_cursor(pages)) == []


def test_only_the_last_page_carries_the_cursor(tmp_path: Path) -> None:
    write_file(tmp_path / "stakeholders.csv", PEOPLE)
    pages = pull(connector(tmp_path, page_size=1), "stakeholders")
    assert [len(p.records) for p in pages] == [1, 1, 1]
    assert [p.cursor is not None for p in pages] == [False, False, True]


def test_a_pull_that_dies_half_way_leaves_the_base_for_the_next_one(tmp_path: Path) -> None:
    path = write_file(tmp_path / "stakeholders.csv", PEOPLE)
    remote = connector(tmp_path, page_size=1)
    cursor = last_cursor(pull(remote, "stakeholders"))
    write_file(path, EDITED)

    async def first_page_only() -> Page:
        pages = remote.read_changes("stakeholders", cursor)
        page = await anext(pages)
        await pages.aclose()  # the run stops: nothing after this page is committed
        return page

    assert asyncio.run(first_page_only()).cursor is None
    pages = pull(remote, "stakeholders", cursor)
    assert sorted(records(pages)) == ["2", "4"]
    assert deleted(pages) == ["3"]


def test_two_jobs_reading_one_file_keep_their_own_snapshots(tmp_path: Path) -> None:
    path = write_file(tmp_path / "stakeholders.csv", PEOPLE)
    remote = connector(tmp_path)
    job_a = last_cursor(pull(remote, "stakeholders"))
    job_b = last_cursor(pull(remote, "stakeholders"))
    write_file(path, EDITED)
    after_b = pull(remote, "stakeholders", job_b)
    after_a = pull(remote, "stakeholders", job_a)
    assert deleted(after_a) == deleted(after_b) == ["3"]
    assert sorted(records(after_a)) == sorted(records(after_b)) == ["2", "4"]


def test_rows_a_push_wrote_come_back_on_the_next_pull_for_the_engine_to_recognise(
    tmp_path: Path,
) -> None:
    write_file(tmp_path / "stakeholders.csv", PEOPLE)
    remote = connector(tmp_path)
    cursor = last_cursor(pull(remote, "stakeholders"))
    push(remote, "stakeholders", WriteRequest("k", WriteOp.UPDATE, {"Email": "ben@x.cn"}, "2"))
    assert list(records(pull(remote, "stakeholders", cursor))) == ["2"]


def test_the_snapshot_lives_beside_the_files(tmp_path: Path) -> None:
    write_file(tmp_path / "organizations.csv", "Account Name\r\nACME\r\n")
    remote = connector(tmp_path, name="crm-files")
    pull(remote, "organizations")
    asyncio.run(remote.close())
    assert (tmp_path / ".crmbridge" / "crm-files-organizations.snapshot").is_file()


def test_fetch_returns_the_rows_asked_for(tmp_path: Path) -> None:
    write_file(tmp_path / "stakeholders.csv", PEOPLE)
    found = asyncio.run(connector(tmp_path).fetch("stakeholders", ["3", "1", "9"]))
    assert sorted((r.external_id, r.data["Full Name"]) for r in found) == [
        ("1", "Anna"),
        ("3", "Carl"),
    ]
