"""A pulled row reads as the dict it was, and reaches the mapping worker as one."""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from csv_support import connector, pull, write_file

from crmbridge.cells import neutralise
from crmbridge.connector import FILE_KEY, LINE_KEY


def _as_json_row(row: Any) -> dict[str, Any]:
    """What the mapping worker reads of a row that crossed as JSON."""
    keys, values = row.json_row()
    return dict(zip(keys, values, strict=True))


def _rows(folder: Path) -> dict[str, Mapping[str, Any]]:
    return {
        r.external_id: r.data
        for page in pull(connector(folder), "stakeholders")
        for r in page.records
    }


def test_a_row_reads_as_its_cells_by_column_name_with_file_and_line(tmp_path: Path) -> None:
    path = write_file(
        tmp_path / "stakeholders.csv",
        "Record Id,Full Name,Mobile\r\nS1,王伟,+8613800138000\r\n",
    )
    row = _rows(tmp_path)["S1"]
    expected = {
        "Record Id": "S1",
        "Full Name": "王伟",
        "Mobile": "+8613800138000",
        FILE_KEY: str(path),
        LINE_KEY: 2,
    }
    assert row == expected
    assert dict(row) == expected
    assert row.get("Email", "none") == "none"
    assert "Mobile" in row
    assert "Email" not in row


def test_a_row_pickles_as_a_plain_dict(tmp_path: Path) -> None:
    write_file(tmp_path / "stakeholders.csv", "Record Id,Full Name\r\nS1,Ada\r\n")
    row = _rows(tmp_path)["S1"]
    again = pickle.loads(pickle.dumps(row))
    assert type(again) is dict
    assert again == dict(row)


@pytest.mark.parametrize(
    "text",
    [
        "Record Id,,Full Name\r\nS1,stray,Ada\r\n",
        # a spreadsheet's export often ends its header with an empty cell
        "Record Id,Full Name,\r\nS1,Ada,stray\r\n",
    ],
)
def test_unnamed_columns_are_left_out_and_the_rest_keep_their_cells(
    tmp_path: Path, text: str
) -> None:
    write_file(tmp_path / "stakeholders.csv", text)
    row = _rows(tmp_path)["S1"]
    assert {k: v for k, v in row.items() if k not in (FILE_KEY, LINE_KEY)} == {
        "Record Id": "S1",
        "Full Name": "Ada",
    }
    assert _as_json_row(row) == dict(row)
    assert pickle.loads(pickle.dumps(row)) == dict(row)


def test_neutralised_cells_read_back_as_written_and_others_untouched(tmp_path: Path) -> None:
    formula, phone = neutralise("=SUM(A1)"), neutralise("+8613800138000")
    write_file(
        tmp_path / "stakeholders.csv",
        f"Record Id,Full Name,Mobile,Notes\r\nS1,{formula},{phone},'quoted by hand\r\n",
    )
    row = _rows(tmp_path)["S1"]
    assert row["Full Name"] == "=SUM(A1)"
    assert row["Mobile"] == "+8613800138000"
    assert row["Notes"] == "'quoted by hand"


def test_a_column_named_as_the_file_or_line_gives_way_to_them(tmp_path: Path) -> None:
    path = write_file(tmp_path / "stakeholders.csv", "Record Id,$file,$line\r\nS1,x,y\r\n")
    row = _rows(tmp_path)["S1"]
    expected = {"Record Id": "S1", FILE_KEY: str(path), LINE_KEY: 2}
    assert dict(row) == expected
    assert len(row) == 3
    assert pickle.loads(pickle.dumps(row)) == expected  # the worker reads the same
    assert _as_json_row(row) == expected


def test_rows_of_files_with_other_columns_map_as_their_dicts_do(tmp_path: Path) -> None:
    from crmbridge.mapping import load_mapping, shipped_mapping_path
    from crmbridge.sync.prepare import _Lookups

    mapper = load_mapping(shipped_mapping_path("csv"), phone_region="CN").entity("stakeholders")
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    write_file(first / "stakeholders.csv", "Record Id,Full Name,Email\r\nS1,王伟,w@ex.cn\r\n")
    write_file(
        second / "stakeholders.csv",
        "Mobile,Record Id,职位,Full Name\r\n13800138000,S2,工程师,李娜\r\n",
    )
    # the mapping remembers which fields a row of one file can hold: a row of another
    # file, with other columns in another order, is read for its own
    for folder, ext in ((first, "S1"), (second, "S2"), (first, "S1")):
        row = _rows(folder)[ext]
        assert row.crmbridge_keys == tuple(row)
        mapped = mapper.to_canonical(row, _Lookups({}))
        assert mapped == mapper.to_canonical(dict(row), _Lookups({}))
    assert mapper.to_canonical(_rows(second)["S2"], _Lookups({})) == {
        "full_name": "李娜",
        "mobile": "+8613800138000",
        "title": "工程师",
    }
