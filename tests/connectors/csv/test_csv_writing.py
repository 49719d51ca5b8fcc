"""Pushing into files: kept columns and order, ids, atomic rewrites, encodings."""

from __future__ import annotations

import asyncio
import codecs
import csv
import io
import os
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from csv_support import (
    connector,
    exchanges_names,
    last_cursor,
    pull,
    push,
    records,
    write_file,
)

from connectors.csv import writer
from connectors.csv.reader import Row, Table
from crmbridge.connector import WriteOp, WriteOutcome, WriteRequest
from crmbridge.errors import PermanentError, TransientError


def _rows(path: Path, encoding: str = "utf-8-sig", delimiter: str = ",") -> list[list[str]]:
    text = path.read_bytes().decode(encoding)
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


def _update(ext: str, key: str = "r", **data: str | None) -> WriteRequest:
    return WriteRequest(key, WriteOp.UPDATE, data, ext)


with tempfile.TemporaryDirectory() as _probe:
    _EXCHANGES = exchanges_names(Path(_probe))

PEOPLE = (
    "Record Id,Full Name,Email,Favourite Colour\r\n"
    "1,Anna,anna@example.com,red\r\n"
    "2,Ben,ben@example.com,blue\r\n"
    "3,Carl,carl@example.com,green\r\n"
)


def test_push_keeps_unknown_columns_and_row_order_with_new_rows_at_the_end(
    tmp_path: Path,
) -> None:
    path = write_file(tmp_path / "stakeholders.csv", PEOPLE)
    remote = connector(tmp_path)
    results = push(
        remote,
        "stakeholders",
        WriteRequest("new", WriteOp.CREATE, {"crmbridge_id": "new", "Full Name": "Dora"}),
        _update("2", "ben", Email="ben@new.example.com"),
        WriteRequest("carl", WriteOp.DELETE, external_id="3"),
    )
    assert _rows(path) == [
        ["Record Id", "Full Name", "Email", "Favourite Colour"],
        ["1", "Anna", "anna@example.com", "red"],
        ["2", "Ben", "ben@new.example.com", "blue"],
        ["new", "Dora", "", ""],
    ]
    assert {k: (r.outcome, r.external_id) for k, r in results.items()} == {
        "new": (WriteOutcome.CREATED, "new"),
        "ben": (WriteOutcome.UPDATED, "2"),
        "carl": (WriteOutcome.DELETED, "3"),
    }


def test_values_go_to_the_alias_the_file_uses_and_missing_columns_are_added(
    tmp_path: Path,
) -> None:
    path = write_file(tmp_path / "stakeholders.csv", "编号,姓名,手机\r\nS1,王伟,138 0013 8000\r\n")
    remote = connector(tmp_path)
    push(
        remote, "stakeholders", _update("S1", Mobile="+8613900139000", Title="采购经理", Power=None)
    )
    assert _rows(path) == [
        ["编号", "姓名", "手机", "Title"],
        ["S1", "王伟", "'+8613900139000", "采购经理"],
    ]


def test_the_file_keeps_its_encoding_delimiter_and_sep_line(tmp_path: Path) -> None:
    text = "sep=;\r\n编号;姓名;邮箱\r\nS1;王伟;wang@example.cn\r\n"
    path = write_file(tmp_path / "stakeholders.csv", text, "gb18030")
    push(connector(tmp_path), "stakeholders", _update("S1", Email="wei@example.cn"))
    assert path.read_bytes().decode("gb18030") == text.replace("wang@", "wei@")


def test_a_new_file_is_utf8_with_bom_and_has_the_mapping_header(tmp_path: Path) -> None:
    remote = connector(tmp_path / "out")
    push(remote, "organizations", WriteRequest("o1", WriteOp.CREATE, {"Account Name": "华为"}))
    path = tmp_path / "out" / "organizations.csv"
    assert path.read_bytes().startswith(codecs.BOM_UTF8)
    header, row = _rows(path)
    assert header[:3] == ["crmbridge_id", "Account Name", "Phone"]
    assert row[:3] == ["o1", "华为", ""]


def test_write_encoding_re_encodes_the_file(tmp_path: Path) -> None:
    path = write_file(tmp_path / "stakeholders.csv", "编号,姓名\r\nS1,王伟\r\n", "gb18030")
    push(
        connector(tmp_path, write_encoding="utf-8"),
        "stakeholders",
        _update("S1", **{"姓名": "王芳"}),
    )
    assert path.read_bytes().decode("utf-8") == "编号,姓名\r\nS1,王芳\r\n"


def test_a_value_the_encoding_cannot_hold_rejects_its_record_only(tmp_path: Path) -> None:
    path = write_file(tmp_path / "stakeholders.csv", "Record Id,Full Name\r\n1,Zoë\r\n", "cp1252")
    remote = connector(tmp_path, encoding="cp1252")
    results = push(
        remote,
        "stakeholders",
        _update("1", "a", **{"Full Name": "Zoé"}),
        WriteRequest("b", WriteOp.CREATE, {"Full Name": "王伟"}),
    )
    assert results["a"].outcome is WriteOutcome.UPDATED
    assert (results["b"].outcome, results["b"].code) == (WriteOutcome.REJECTED, "UNENCODABLE")
    assert results["b"].field == "Full Name"
    assert results["b"].message == (
        "'王伟' (U+738B) cannot be written in cp1252, the file's encoding; save the file as "
        "UTF-8 to hold it"
    )
    assert path.read_bytes().decode("cp1252") == "Record Id,Full Name\r\n1,Zoé\r\n"


def test_an_update_of_an_unknown_id_is_rejected_and_the_file_left_alone(tmp_path: Path) -> None:
    path = write_file(tmp_path / "stakeholders.csv", PEOPLE)
    before = path.stat().st_mtime_ns
    (result,) = push(connector(tmp_path), "stakeholders", _update("404", Email="x@y.z")).values()
    assert (result.outcome, result.code) == (WriteOutcome.REJECTED, "NOT_FOUND")
    assert path.stat().st_mtime_ns == before


def test_a_replayed_create_adopts_the_row_its_crmbridge_id_is_on(tmp_path: Path) -> None:
    # found by the fault drill: a create replayed after a kill -9 overwrote the row its first
    # attempt had written, and with it the edit a person had made there since
    path = write_file(tmp_path / "stakeholders.csv", "crmbridge_id,Full Name\r\nK1,Anna\r\n")
    create = WriteRequest("K1", WriteOp.CREATE, {"crmbridge_id": "K1", "Full Name": "Anna"})
    push(connector(tmp_path), "stakeholders", create)
    path.write_bytes(path.read_bytes().replace(b"Anna", b"Anna B"))  # a person's edit
    results = push(connector(tmp_path), "stakeholders", replace(create, resent=True))
    assert (results["K1"].outcome, results["K1"].external_id) == (WriteOutcome.CREATED, "K1")
    assert results["K1"].code == "ALREADY_CREATED"
    assert _rows(path) == [["crmbridge_id", "Full Name"], ["K1", "Anna B"]]


def test_a_file_without_ids_gets_an_id_column_and_keeps_the_ids_it_had(tmp_path: Path) -> None:
    path = write_file(
        tmp_path / "stakeholders.csv", "姓名,手机\r\n王伟,13800138000\r\n张三,13900139000\r\n"
    )
    remote = connector(tmp_path)
    first = records(pull(remote, "stakeholders"))
    wang = next(ext for ext, data in first.items() if data["姓名"] == "王伟")
    assert wang.startswith("row-")
    results = push(remote, "stakeholders", _update(wang, "w", **{"姓名": "王伟伟"}))
    assert results["w"].external_id == wang
    rows = _rows(path)
    assert rows[0] == ["姓名", "手机", "Record Id"]
    assert [r[2] for r in rows[1:]] == list(first)
    assert list(records(pull(remote, "stakeholders"))) == list(first)


def test_a_crmbridge_id_column_is_filled_for_the_rows_a_push_writes(tmp_path: Path) -> None:
    path = write_file(tmp_path / "stakeholders.csv", "crmbridge_id,Full Name\r\n,Anna\r\n,Ben\r\n")
    remote = connector(tmp_path)
    anna = next(
        e for e, d in records(pull(remote, "stakeholders")).items() if d["Full Name"] == "Anna"
    )
    results = push(remote, "stakeholders", _update(anna, "hub-anna", Email="anna@example.com"))
    assert results["hub-anna"].external_id == "hub-anna"
    assert _rows(path)[1:] == [["hub-anna", "Anna", "anna@example.com"], ["", "Ben", ""]]


def test_formulas_are_neutralised_and_come_back_exactly(tmp_path: Path) -> None:
    values = {
        "Full Name": "=SUM(A1)",
        "Mobile": "+8613800138000",
        "Title": "-5",
        "Department": "@team",
        "Description": "'quoted",
        "Tags": "'=not a formula",
        "Email": "plain@example.com",
    }
    remote = connector(tmp_path)
    push(remote, "stakeholders", WriteRequest("k", WriteOp.CREATE, values))
    header, row = _rows(tmp_path / "stakeholders.csv")
    cells = dict(zip(header, row, strict=True))
    assert cells["Full Name"] == "'=SUM(A1)"
    assert cells["Mobile"] == "'+8613800138000"
    assert (cells["Title"], cells["Department"]) == ("'-5", "'@team")
    assert (cells["Description"], cells["Tags"]) == ("'quoted", "''=not a formula")
    assert cells["Email"] == "plain@example.com"
    (back,) = records(pull(remote, "stakeholders")).values()
    assert {k: back[k] for k in values} == values


def test_neutralising_can_be_turned_off(tmp_path: Path) -> None:
    remote = connector(tmp_path, neutralise_formulas=False)
    push(remote, "stakeholders", WriteRequest("k", WriteOp.CREATE, {"Mobile": "+8613800138000"}))
    header, row = _rows(tmp_path / "stakeholders.csv")
    assert dict(zip(header, row, strict=True))["Mobile"] == "+8613800138000"


def test_rows_the_push_does_not_touch_keep_their_cells_exactly(tmp_path: Path) -> None:
    path = write_file(tmp_path / "stakeholders.csv", "Record Id,Full Name\r\n1,=1+1\r\n2,Ben\r\n")
    push(connector(tmp_path), "stakeholders", _update("2", **{"Full Name": "Benedikt"}))
    assert _rows(path)[1] == ["1", "=1+1"]


def test_rows_that_cannot_be_read_survive_a_rewrite(tmp_path: Path) -> None:
    path = write_file(
        tmp_path / "stakeholders.csv", "Record Id,Full Name\r\n1,Anna\r\n2,Ben,extra\r\n"
    )
    push(connector(tmp_path), "stakeholders", _update("1", **{"Full Name": "Anne"}))
    assert _rows(path)[1:] == [["1", "Anne"], ["2", "Ben", "extra"]]


def _crash_after_first_row(monkeypatch: pytest.MonkeyPatch, action: object) -> None:
    real = Table.rows

    def rows(self: Table) -> Iterator[Row]:
        for i, row in enumerate(real(self)):
            if i == 1:
                assert callable(action)
                action(self)
            yield row

    monkeypatch.setattr(Table, "rows", rows)


def test_a_crash_mid_write_leaves_the_old_file_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_file(tmp_path / "stakeholders.csv", PEOPLE)
    before = path.read_bytes()

    def crash(_: Table) -> None:
        raise KeyboardInterrupt  # the process dies here

    _crash_after_first_row(monkeypatch, crash)
    with pytest.raises(KeyboardInterrupt):
        push(connector(tmp_path), "stakeholders", _update("3", Email="new@example.com"))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != ".crmbridge") == [
        "stakeholders.csv"
    ]


def test_a_failure_before_the_rename_leaves_the_old_file_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_file(tmp_path / "stakeholders.csv", PEOPLE)
    before = path.read_bytes()

    def fail(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("connectors.csv.writer.os.fsync", fail)
    with pytest.raises(PermanentError) as failed:
        push(connector(tmp_path), "stakeholders", _update("3", Email="new@example.com"))
    assert failed.value.message == f"{path}: cannot rewrite the file: No space left on device"
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name != ".crmbridge"] == ["stakeholders.csv"]


def test_a_file_saved_by_someone_else_during_the_rewrite_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_file(tmp_path / "stakeholders.csv", PEOPLE)
    theirs = PEOPLE + "4,Dora,dora@example.com,pink\r\n"
    _crash_after_first_row(monkeypatch, lambda _: write_file(path, theirs))
    with pytest.raises(TransientError, match="changed while"):
        push(connector(tmp_path), "stakeholders", _update("3", Email="new@example.com"))
    assert path.read_bytes().decode() == theirs


def test_a_file_saved_by_someone_else_just_as_the_rewrite_opens_it_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the save lands after the rewrite opened the old file but before it looked at the path:
    # checked against the path, the new file seemed the one being rewritten, and was lost
    path = write_file(tmp_path / "stakeholders.csv", PEOPLE)
    theirs = PEOPLE + "4,Dora,dora@example.com,pink\r\n"
    real = Table.open

    def open_then_save(*args: object, **kwargs: object) -> Table:
        table = real(*args, **kwargs)  # type: ignore[arg-type]
        temp = path.with_name("saved.tmp")
        temp.write_bytes(theirs.encode())
        temp.replace(path)  # an editor's atomic save: a new file under the name
        return table

    monkeypatch.setattr(Table, "open", open_then_save)
    with pytest.raises(TransientError, match="changed while"):
        push(connector(tmp_path), "stakeholders", _update("3", Email="new@example.com"))
    assert path.read_bytes().decode() == theirs


@pytest.mark.skipif(not _EXCHANGES, reason="no atomic rename exchange on this system")
def test_a_file_saved_between_the_last_check_and_the_rename_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the check passes, then the save lands: only an atomic exchange can notice it
    path = write_file(tmp_path / "stakeholders.csv", PEOPLE)
    theirs = PEOPLE + "4,Dora,dora@example.com,pink\r\n"
    real = writer._is_file_read
    saves: list[Path] = []

    def check_then_save(name: Path, before: os.stat_result) -> bool:
        verdict = real(name, before)
        if not saves:
            saves.append(name)
            temp = path.with_name("saved.tmp")
            temp.write_bytes(theirs.encode())
            temp.replace(path)
        return verdict

    monkeypatch.setattr(writer, "_is_file_read", check_then_save)
    with pytest.raises(TransientError, match="changed while"):
        push(connector(tmp_path), "stakeholders", _update("3", Email="new@example.com"))
    assert path.read_bytes().decode() == theirs
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != ".crmbridge") == [
        "stakeholders.csv"
    ]


def test_writes_to_one_file_wait_for_each_other(tmp_path: Path) -> None:
    remote = connector(tmp_path)

    async def both() -> None:
        await asyncio.gather(
            *(
                remote.write(
                    "stakeholders", [WriteRequest(f"k{i}", WriteOp.CREATE, {"Full Name": f"P{i}"})]
                )
                for i in range(5)
            )
        )

    asyncio.run(both())
    assert sorted(records(pull(remote, "stakeholders"))) == [f"k{i}" for i in range(5)]
    assert last_cursor(pull(remote, "stakeholders")) is not None


def test_a_rewrite_keeps_the_lines_an_open_quote_took_in_as_they_are(tmp_path: Path) -> None:
    broken = 'S2,"Li Na,li@example.cn\r\nS3,Zhang San,zhang@example.cn\r\n'
    path = write_file(
        tmp_path / "stakeholders.csv",
        "Record Id,Full Name,Email\r\nS1,Wang Wei,wang@example.cn\r\n" + broken,
    )
    results = push(connector(tmp_path), "stakeholders", _update("S1", "wang", Email="w@new.cn"))
    assert results["wang"].outcome is WriteOutcome.UPDATED
    text = path.read_bytes().decode("utf-8")
    assert text == "Record Id,Full Name,Email\r\nS1,Wang Wei,w@new.cn\r\n" + broken


@pytest.mark.parametrize("pages", [1, 2])
def test_no_row_is_added_after_a_quote_the_file_leaves_open(tmp_path: Path, pages: int) -> None:
    text = 'Record Id,Full Name,Email\r\nS1,Wang Wei,wang@example.cn\r\nS2,"Li Na,li@example.cn\r\n'
    path = write_file(tmp_path / "stakeholders.csv", text)
    remote = connector(tmp_path)
    if pages == 2:
        pull(remote, "stakeholders")  # a read first, as a sync's pull stage makes
    create = WriteRequest("new", WriteOp.CREATE, {"Record Id": "S9", "Full Name": "Zhao Liu"})
    result = push(remote, "stakeholders", create)["new"]
    assert (result.outcome, result.code) == (WriteOutcome.REJECTED, "FILE_ENDS_IN_QUOTE")
    assert "line 3 opens a quote" in (result.message or "")
    assert path.read_bytes().decode("utf-8") == text


def test_a_change_to_a_row_an_open_quote_hides_waits_instead_of_dropping_the_row(
    tmp_path: Path,
) -> None:
    # found by exploratory testing: taken as NOT_FOUND, the update was dropped with the link,
    # and once the quote was mended the row's old value came back and won
    text = (
        "Record Id,Full Name,Email\r\nS1,Wang Wei,wang@example.cn\r\n"
        'S2,"Li Na,li@example.cn\r\nS3,Zhang San,zhang@example.cn\r\n'
    )
    path = write_file(tmp_path / "stakeholders.csv", text)
    results = push(
        connector(tmp_path),
        "stakeholders",
        _update("S3", "update", Email="z@new.cn"),
        WriteRequest("delete", WriteOp.DELETE, None, "S2"),
    )
    for key in ("update", "delete"):
        assert (results[key].outcome, results[key].code) == (
            WriteOutcome.REJECTED,
            "ROW_UNREADABLE",
        )
    assert "rows it cannot read that may hold it (line 3; a quote left open" in (
        results["update"].message or ""
    )
    assert "the change waits until they are mended" in (results["update"].message or "")
    assert path.read_bytes().decode("utf-8") == text


def test_a_row_gone_from_a_file_is_not_taken_as_hidden_by_an_unrelated_bad_row(
    tmp_path: Path,
) -> None:
    # one bad row must not hold every change to rows a person deleted until it is mended
    text = (
        "Record Id,Full Name,Email\r\nS1,Wang Wei,wang@example.cn\r\n"
        "S2,Li Na,li@example.cn,extra\r\n"
    )
    path = write_file(tmp_path / "stakeholders.csv", text)
    results = push(
        connector(tmp_path),
        "stakeholders",
        _update("S7", "gone", Email="z@new.cn"),
        _update("S2", "bad", Email="l@new.cn"),
    )
    assert (results["gone"].outcome, results["gone"].code) == (WriteOutcome.REJECTED, "NOT_FOUND")
    assert (results["bad"].outcome, results["bad"].code) == (
        WriteOutcome.REJECTED,
        "ROW_UNREADABLE",
    )
    assert "(line 3)" in (results["bad"].message or "")
    assert "quote" not in (results["bad"].message or "")
    assert path.read_bytes().decode("utf-8") == text


def test_a_file_that_quotes_every_cell_keeps_doing_so(tmp_path: Path) -> None:
    # as Zoho CRM exports are written
    text = (
        '"Record Id","Full Name","Email"\r\n'
        '"1","Anna","anna@example.com"\r\n'
        '"2","Ben","ben@example.com"\r\n'
    )
    path = write_file(tmp_path / "stakeholders.csv", text)
    remote = connector(tmp_path)
    push(remote, "stakeholders", _update("2", "ben", Email="ben@new.example.com"))
    push(
        remote,
        "stakeholders",
        WriteRequest("c", WriteOp.CREATE, {"Record Id": "3", "Full Name": "Carl"}),
    )
    assert path.read_bytes().decode("utf-8") == (
        '"Record Id","Full Name","Email"\r\n'
        '"1","Anna","anna@example.com"\r\n'
        '"2","Ben","ben@new.example.com"\r\n'
        '"3","Carl",""\r\n'
    )


def test_an_ascii_file_gets_a_bom_with_its_first_chinese_row(tmp_path: Path) -> None:
    # without it Excel on a Chinese Windows reads the UTF-8 as GBK: 寮犱笁 for 张三
    path = write_file(tmp_path / "stakeholders.csv", "Record Id,Full Name\r\n1,Anna\r\n")
    remote = connector(tmp_path)
    push(
        remote,
        "stakeholders",
        WriteRequest("b", WriteOp.CREATE, {"Record Id": "2", "Full Name": "Ben"}),
    )
    assert not path.read_bytes().startswith(codecs.BOM_UTF8)  # still ASCII: left as it is
    push(
        remote,
        "stakeholders",
        WriteRequest("z", WriteOp.CREATE, {"Record Id": "3", "Full Name": "张三"}),
    )
    data = path.read_bytes()
    assert data.startswith(codecs.BOM_UTF8)
    assert data.decode("utf-8-sig") == "Record Id,Full Name\r\n1,Anna\r\n2,Ben\r\n3,张三\r\n"


def test_a_row_short_by_unnamed_columns_stays_whole_when_a_push_adds_a_column(
    tmp_path: Path,
) -> None:
    path = write_file(
        tmp_path / "stakeholders.csv",
        "Record Id,Full Name,Email,,\n1,Anna,anna@example.com\n2,Ben,ben@example.com,,\n",
    )
    push(connector(tmp_path), "stakeholders", _update("2", Title="CEO"))
    assert path.read_text(encoding="utf-8").splitlines() == [
        "Record Id,Full Name,Email,,,Title",
        "1,Anna,anna@example.com,,,",
        "2,Ben,ben@example.com,,,CEO",
    ]
    remote = connector(tmp_path)
    assert sorted(records(pull(remote, "stakeholders"))) == ["1", "2"]
    assert remote.file_rejects == []
