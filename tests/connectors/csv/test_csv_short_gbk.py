"""Short and repetitive GBK files: too few bytes to guess the codec by, so the header tells."""

from __future__ import annotations

from pathlib import Path

import pytest
from csv_support import connector, pull, push, records, write_file

from crmbridge.connector import WriteOp, WriteRequest
from crmbridge.errors import ConfigError

THREE_LINES = "姓名,邮箱,备注\r\n陈静,chen@example.cn,重要客户\r\n刘洋,liu@example.cn,\r\n"
ONE_ROW = "姓名,邮箱,公司\r\n李娜,ln@example.com,\r\n"
TWO_ROWS = "姓名,邮箱,备注\r\n陈静,cj@example.com,老客户\r\n刘洋,ly@example.com,需要跟进\r\n"
OTHER_ALIASES = "联系人,电子邮件,职务\r\n王芳,wf@example.com,销售经理\r\n"
FIFTY_ALIKE = "姓名,邮箱,备注\r\n" + "".join(
    f"陈静{i},cj{i}@example.com,老客户\r\n" for i in range(1, 51)
)


def _people(folder: Path, **settings: str) -> list[tuple[str, str]]:
    got = records(pull(connector(folder, **settings), "stakeholders"))
    return sorted((data["姓名"], data["邮箱"]) for data in got.values())


def _expected(text: str) -> list[tuple[str, str]]:
    rows = [line.split(",") for line in text.splitlines()[1:]]
    return sorted((cells[0], cells[1]) for cells in rows)


@pytest.mark.parametrize("encoding", ["gbk", "gb18030"])
@pytest.mark.parametrize(
    "text",
    [THREE_LINES, ONE_ROW, TWO_ROWS, FIFTY_ALIKE],
    ids=["3-lines", "1-row", "2-rows", "50-alike"],
)
def test_a_short_or_repetitive_gbk_file_reads_its_chinese_right(
    tmp_path: Path, text: str, encoding: str
) -> None:
    # charset-normalizer takes the short ones for Latin-1 or Cyrillic, the fifty rows for Korean
    write_file(tmp_path / "stakeholders.csv", text, encoding)
    assert _people(tmp_path) == _expected(text)


def test_every_cell_of_a_short_gbk_file_is_read_as_written(tmp_path: Path) -> None:
    write_file(tmp_path / "stakeholders.csv", THREE_LINES, "gbk")
    got = records(pull(connector(tmp_path), "stakeholders"))
    assert sorted((d["姓名"], d["邮箱"], d["备注"]) for d in got.values()) == [
        ("刘洋", "liu@example.cn", ""),
        ("陈静", "chen@example.cn", "重要客户"),
    ]


def test_a_short_gbk_file_with_other_chinese_aliases_reads_right(tmp_path: Path) -> None:
    write_file(tmp_path / "stakeholders.csv", OTHER_ALIASES, "gbk")
    got = records(pull(connector(tmp_path), "stakeholders"))
    assert [(d["联系人"], d["电子邮件"], d["职务"]) for d in got.values()] == [
        ("王芳", "wf@example.com", "销售经理")
    ]


def test_a_short_gbk_file_with_a_sep_line_and_semicolons_reads_right(tmp_path: Path) -> None:
    write_file(tmp_path / "stakeholders.csv", "sep=;\r\n" + TWO_ROWS.replace(",", ";"), "gbk")
    assert _people(tmp_path) == _expected(TWO_ROWS)


def test_a_stray_byte_in_a_row_does_not_turn_a_short_gbk_file_into_another_codec(
    tmp_path: Path,
) -> None:
    good = FIFTY_ALIKE.encode("gbk")
    broken = good.replace("陈静7,".encode("gbk"), b"\xff\xfe7,", 1)
    (tmp_path / "stakeholders.csv").write_bytes(broken)
    remote = connector(tmp_path)
    names = sorted(data["姓名"] for data in records(pull(remote, "stakeholders")).values())
    assert names == sorted(f"陈静{i}" for i in range(1, 51) if i != 7)
    assert [r["line"] for r in remote.file_rejects] == [8]


def test_a_row_pushed_into_a_short_gbk_file_is_written_in_gbk(tmp_path: Path) -> None:
    path = write_file(tmp_path / "stakeholders.csv", THREE_LINES, "gbk")
    new = WriteRequest("k1", WriteOp.CREATE, {"姓名": "王伟", "邮箱": "wang@example.cn"})
    push(connector(tmp_path), "stakeholders", new)
    lines = path.read_bytes().decode("gbk").splitlines()
    assert lines[0].startswith("姓名,邮箱,备注")
    assert [line.split(",")[:2] for line in lines[1:]] == [
        ["陈静", "chen@example.cn"],
        ["刘洋", "liu@example.cn"],
        ["王伟", "wang@example.cn"],
    ]


def test_a_declared_encoding_wins_over_the_header(tmp_path: Path) -> None:
    write_file(tmp_path / "stakeholders.csv", THREE_LINES, "gbk")
    with pytest.raises(ConfigError, match="none of the columns 'ÐÕÃû'"):
        pull(connector(tmp_path, encoding="latin-1"), "stakeholders")


def test_a_latin_file_with_an_english_header_keeps_its_codec(tmp_path: Path) -> None:
    # an ASCII header reads alike in every codec: the guess from the rows stands
    write_file(
        tmp_path / "stakeholders.csv", "Full Name,Email\r\nJürgen Müller,j@example.de\r\n", "cp1252"
    )
    got = records(pull(connector(tmp_path), "stakeholders"))
    assert [data["Full Name"] for data in got.values()] == ["Jürgen Müller"]
