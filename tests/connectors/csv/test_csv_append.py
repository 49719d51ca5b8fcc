"""Create-only batches are appended: same bytes as a rewrite would add, no duplicates, no torn rows."""

from __future__ import annotations

import asyncio
import codecs
import os
import shutil
from pathlib import Path

import pytest
from csv_support import connector, pull, push, records, write_file

from connectors.csv import CsvConnector
from crmbridge.connector import WriteOp, WriteOutcome, WriteRequest
from crmbridge.errors import PermanentError

PEOPLE = "Record Id,Full Name,Email\r\n1,Anna,anna@example.com\r\n2,Ben,ben@example.com\r\n"


def _create(key: str, name: str, **more: str) -> WriteRequest:
    return WriteRequest(key, WriteOp.CREATE, {"Full Name": name, **more})


def _inode(path: Path) -> int:
    return path.stat().st_ino


def test_a_create_only_batch_is_appended_to_a_utf8_bom_file(tmp_path: Path) -> None:
    path = write_file(tmp_path / "stakeholders.csv", "\ufeff" + PEOPLE)
    before, inode = path.read_bytes(), _inode(path)
    results = push(
        connector(tmp_path),
        "stakeholders",
        _create("k1", "Dora", Email="dora@example.com"),
        _create("k2", "=Eve"),
    )
    assert _inode(path) == inode  # appended in place, not rewritten
    added = b"k1,Dora,dora@example.com\r\nk2,'=Eve,\r\n"
    assert path.read_bytes() == before + added  # one BOM, the header and old rows untouched
    assert {k: (r.outcome, r.external_id) for k, r in results.items()} == {
        "k1": (WriteOutcome.CREATED, "k1"),
        "k2": (WriteOutcome.CREATED, "k2"),
    }
    assert all(r.modified_at is not None for r in results.values())
    assert records(pull(connector(tmp_path), "stakeholders"))["k2"]["Full Name"] == "=Eve"


def test_an_append_keeps_a_gb18030_file_its_delimiter_sep_line_and_line_ending(
    tmp_path: Path,
) -> None:
    text = "sep=;\n编号;姓名;邮箱\nS1;王伟;wang@example.cn\n"
    path = write_file(tmp_path / "stakeholders.csv", text, "gb18030")
    inode = _inode(path)
    push(connector(tmp_path), "stakeholders", _create("S2", "张三", 邮箱="zhang@example.cn"))
    assert _inode(path) == inode
    assert path.read_bytes().decode("gb18030") == text + "S2;张三;zhang@example.cn\n"
    assert set(records(pull(connector(tmp_path), "stakeholders"))) == {"S1", "S2"}


def test_an_append_to_a_utf16_file_repeats_no_byte_order_mark(tmp_path: Path) -> None:
    path = write_file(tmp_path / "stakeholders.csv", PEOPLE.replace(",", "\t"), "utf-16")
    before = path.read_bytes()
    push(connector(tmp_path), "stakeholders", _create("k1", "Dora"))
    added = path.read_bytes()[len(before) :]
    assert added == "k1\tDora\t\r\n".encode("utf-16-le")
    assert codecs.BOM_UTF16_LE not in added


def test_a_replayed_create_batch_does_not_duplicate(tmp_path: Path) -> None:
    write_file(tmp_path / "stakeholders.csv", PEOPLE)
    batch = [_create(f"k{i}", f"P{i}") for i in range(3)]
    push(connector(tmp_path), "stakeholders", *batch)
    # a restart (a new connector, the index read from disk) and the same batch again
    again = push(connector(tmp_path), "stakeholders", *batch)
    assert {(r.outcome, r.code) for r in again.values()} == {
        (WriteOutcome.CREATED, "ALREADY_CREATED")
    }
    # without the index file too: it is rebuilt from the file in one pass
    shutil.rmtree(tmp_path / ".crmbridge")
    third = push(connector(tmp_path), "stakeholders", batch[0])
    assert third["k0"].code == "ALREADY_CREATED"
    ids = list(records(pull(connector(tmp_path), "stakeholders")))
    assert ids == ["1", "2", "k0", "k1", "k2"]


def test_an_id_a_person_added_by_hand_is_found_before_appending(tmp_path: Path) -> None:
    path = write_file(tmp_path / "stakeholders.csv", PEOPLE)
    remote = connector(tmp_path)
    push(remote, "stakeholders", _create("k1", "Dora"))
    with path.open("ab") as handle:  # someone adds a row with the id the next create has
        handle.write(b"k2,Eve by hand,\r\n")
    results = push(remote, "stakeholders", _create("k2", "Eve"))
    assert (results["k2"].outcome, results["k2"].code) == (WriteOutcome.CREATED, "ALREADY_CREATED")
    got = records(pull(connector(tmp_path), "stakeholders"))
    assert list(got) == ["1", "2", "k1", "k2"]
    assert got["k2"]["Full Name"] == "Eve by hand"  # adopted as the person wrote it


def test_a_killed_append_is_cut_back_to_the_last_whole_row_on_next_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_file(tmp_path / "stakeholders.csv", PEOPLE)
    push(connector(tmp_path), "stakeholders", _create("k0", "Zed"))
    before = path.read_bytes()
    real_write = os.write

    def torn(fd: int, data: bytes | memoryview) -> int:
        real_write(fd, bytes(data[: len(data) // 2 + 3]))
        raise KeyboardInterrupt  # the process is killed mid-write

    monkeypatch.setattr("connectors.csv.append.os.write", torn)
    batch = [_create("k1", "Dora", Email="dora@example.com"), _create("k2", "Eve")]
    with pytest.raises(KeyboardInterrupt):
        push(connector(tmp_path), "stakeholders", *batch)
    monkeypatch.undo()
    assert path.read_bytes().startswith(before)
    assert len(path.read_bytes()) > len(before)  # a row and a half on disk

    # the next run: its first read repairs the file, so no half row becomes a record
    remote = connector(tmp_path)
    assert list(records(pull(remote, "stakeholders"))) == ["1", "2", "k0"]
    assert path.read_bytes() == before
    results = push(remote, "stakeholders", *batch)  # the batch is sent again
    assert {r.outcome for r in results.values()} == {WriteOutcome.CREATED}
    assert list(records(pull(connector(tmp_path), "stakeholders"))) == ["1", "2", "k0", "k1", "k2"]


def test_a_failed_append_is_undone_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_file(tmp_path / "stakeholders.csv", PEOPLE)
    real_write = os.write

    def full(fd: int, data: bytes | memoryview) -> int:
        real_write(fd, bytes(data[:5]))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("connectors.csv.append.os.write", full)
    with pytest.raises(PermanentError) as failed:
        push(connector(tmp_path), "stakeholders", _create("k1", "Dora"))
    assert failed.value.message == f"{path}: cannot append to the file: No space left on device"
    assert path.read_bytes().decode() == PEOPLE


def test_a_file_without_a_final_line_break_is_rewritten_not_cut(tmp_path: Path) -> None:
    path = write_file(tmp_path / "stakeholders.csv", PEOPLE.removesuffix("\r\n"))
    inode = _inode(path)
    push(connector(tmp_path), "stakeholders", _create("k1", "Dora"))
    assert _inode(path) != inode  # rewritten
    assert path.read_bytes().decode() == PEOPLE + "k1,Dora,\r\n"


@pytest.mark.parametrize(
    ("text", "request_"),
    [
        (PEOPLE, _create("k1", "Dora", Title="CTO")),  # needs a column the header lacks
        (PEOPLE, WriteRequest("r", WriteOp.UPDATE, {"Email": "a@b.c"}, "1")),  # not a create
        ("Full Name,Email\r\nAnna,a@example.com\r\n", _create("k1", "Dora")),  # no id column
        ("Record Id,Full Name\r\n,Anna\r\n", _create("k1", "Dora")),  # a row the rewrite ids
    ],
)
def test_other_batches_are_still_rewritten(
    tmp_path: Path, text: str, request_: WriteRequest
) -> None:
    path = write_file(tmp_path / "stakeholders.csv", text)
    inode = _inode(path)
    push(connector(tmp_path), "stakeholders", request_)
    assert _inode(path) != inode


def test_a_rewrite_between_appends_is_noticed(tmp_path: Path) -> None:
    path = write_file(tmp_path / "stakeholders.csv", PEOPLE)
    remote = connector(tmp_path)
    push(remote, "stakeholders", _create("k1", "Dora"))
    push(remote, "stakeholders", WriteRequest("d", WriteOp.DELETE, external_id="k1"))
    push(remote, "stakeholders", _create("k1", "Dora again"))  # k1 is gone: appended afresh
    push(remote, "stakeholders", _create("k1", "Dora B"))  # and now there: adopted
    got = records(pull(connector(tmp_path), "stakeholders"))
    assert list(got) == ["1", "2", "k1"]
    assert got["k1"]["Full Name"] == "Dora again"
    assert path.read_bytes().decode().count("k1") == 1


def test_many_appends_read_back_in_order(tmp_path: Path) -> None:
    remote: CsvConnector = connector(tmp_path)

    async def batches() -> None:
        for b in range(5):
            await remote.write(
                "stakeholders", [_create(f"k{b}-{i}", f"P{b}-{i}") for i in range(20)]
            )
        await remote.close()

    asyncio.run(batches())
    ids = list(records(pull(connector(tmp_path), "stakeholders")))
    assert ids == [f"k{b}-{i}" for b in range(5) for i in range(20)]
