"""Reading the files people actually have: encodings, delimiters, headers, bad rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from csv_support import connector, pull, push, records, write_file

from connectors.csv.dialect import detect_dialect
from crmbridge.connector import WriteOp, WriteRequest
from crmbridge.errors import ConfigError, PermanentError
from crmbridge.mapping.validate import load_connector_mapping

PEOPLE_CN = (
    "编号,姓名,手机,邮箱,公司,职位,备注\r\n"
    "S1,王伟,138 0013 8000,wang@example.cn,华为技术有限公司,采购经理,关键决策人\r\n"
    "S2,欧阳娜娜,+86 139 0013 9000,ouyang@example.cn,腾讯科技,工程师,\r\n"
)


def _names(folder: Path) -> dict[str, str]:
    got = records(pull(connector(folder), "stakeholders"))
    return {ext: data["姓名"] for ext, data in got.items()}


@pytest.mark.parametrize("encoding", ["gb18030", "gbk", "utf-8", "utf-8-sig", "utf-16"])
def test_chinese_headers_read_right_in_every_encoding(tmp_path: Path, encoding: str) -> None:
    write_file(tmp_path / "stakeholders.csv", PEOPLE_CN, encoding)
    assert _names(tmp_path) == {"S1": "王伟", "S2": "欧阳娜娜"}


def test_gb18030_rows_map_to_canonical_values(tmp_path: Path) -> None:
    write_file(tmp_path / "stakeholders.csv", PEOPLE_CN, "gb18030")
    got = records(pull(connector(tmp_path), "stakeholders"))
    mapper = load_connector_mapping("files", "csv", None, phone_region="CN").entity("stakeholders")
    flat = mapper.to_canonical({k: v for k, v in got["S1"].items() if k != "公司"}, None)  # type: ignore[arg-type]
    assert flat["full_name"] == "王伟"
    assert flat["mobile"] == "+8613800138000"
    assert flat["email"] == "wang@example.cn"
    assert flat["title"] == "采购经理"
    assert flat["notes"] == "关键决策人"


def test_a_short_gb18030_file_is_not_taken_for_korean(tmp_path: Path) -> None:
    write_file(tmp_path / "stakeholders.csv", "姓名,手机\r\n张三,13800138000\r\n", "gb18030")
    assert [d["姓名"] for d in records(pull(connector(tmp_path), "stakeholders")).values()] == [
        "张三"
    ]


@pytest.mark.parametrize("encoding", ["gbk", "utf-8"])
def test_chinese_rows_after_a_long_english_start_read_right(tmp_path: Path, encoding: str) -> None:
    # the first 64 KiB are plain ASCII, which any codec decodes: the rows further down tell
    english = "".join(f"S{i},Person {i},+44 20 7946 {i % 10000:04d}\r\n" for i in range(3000))
    names = "王伟 欧阳娜娜 李娜 张伟 刘洋 陈静 杨帆 赵磊 黄丽 周杰 吴敏 徐强 孙悦 马超 朱琳 胡斌 郭敏 何静 高峰 林涛"
    chinese = "".join(f"C{i},{n},138 0013 80{i:02d}\r\n" for i, n in enumerate(names.split(), 1))
    write_file(
        tmp_path / "stakeholders.csv",
        "Record Id,Full Name,Mobile\r\n" + english + chinese,
        encoding,
    )
    remote = connector(tmp_path)
    got = records(pull(remote, "stakeholders"))
    assert len(got) == 3020
    assert (got["C1"]["Full Name"], got["C20"]["Full Name"]) == ("王伟", "林涛")
    assert remote.file_rejects == []


UNCLOSED = 'Record Id,Full Name,Email\r\nS1,"Wang Wei,wang@example.cn\r\nS2,Li Na,li@example.cn\r\nS3,"Zhang, San",zhang@example.cn\r\n'


def test_a_quote_never_closed_is_one_reject_naming_the_lines_it_took(tmp_path: Path) -> None:
    write_file(tmp_path / "stakeholders.csv", UNCLOSED + "S4,Zhao Liu,zhao@example.cn\r\n")
    remote = connector(tmp_path)
    got = records(pull(remote, "stakeholders"))
    # the rows the open quote took in are not read, never read wrong; the row after is read
    assert {ext: data["Full Name"] for ext, data in got.items()} == {"S4": "Zhao Liu"}
    (bad,) = remote.file_rejects
    assert bad["line"] == 2
    assert "runs from line 2 to line 4" in bad["reason"]


def test_rows_a_stray_quote_reads_into_one_cell_are_pointed_out(tmp_path: Path) -> None:
    write_file(
        tmp_path / "stakeholders.csv",
        "编号,姓名,邮箱,备注\n"
        'S1,王伟,wang@example.cn,"VIP\n'
        "S2,李娜,li@example.cn,new\n"
        'S3,赵六,zhao@example.cn,wants 27"\n'
        'S4,钱七,qian@example.cn,"met twice, at the expo\nand in Beijing, later"\n',
        "utf-8",
    )
    pages = pull(connector(tmp_path), "stakeholders")
    assert list(records(pages)) == ["S1", "S4"]  # valid CSV: S2 and S3 are in S1's note
    assert [w for page in pages for w in page.warnings] == [
        "stakeholders.csv: the row on line 2 runs to line 4 inside one quoted cell whose lines "
        "look like rows of their own (a quote left open on line 2?); they were read as one "
        "row: check that row"
    ]


def test_a_quote_left_open_to_the_end_of_the_file_is_a_reject(tmp_path: Path) -> None:
    text = 'Record Id,Full Name,Email\r\nS1,Wang Wei,"wang@example.cn\r\nS2,Li Na,li@example.cn\r\n'
    write_file(tmp_path / "stakeholders.csv", text)
    remote = connector(tmp_path)
    assert records(pull(remote, "stakeholders")) == {}
    (bad,) = remote.file_rejects
    assert "unexpected end of data" in bad["reason"]
    assert "runs from line 2 to line 3" in bad["reason"]


def test_a_declared_encoding_wins(tmp_path: Path) -> None:
    write_file(tmp_path / "stakeholders.csv", PEOPLE_CN, "gb18030")
    got = records(pull(connector(tmp_path, encoding="gb18030"), "stakeholders"))
    assert got["S1"]["公司"] == "华为技术有限公司"


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_the_delimiter_is_sniffed(tmp_path: Path, delimiter: str) -> None:
    d = delimiter
    text = f'Record Id{d}Full Name{d}Tags{d}Description\n1{d}Anna Schmidt{d}"vip;a,b"{d}"x{d}y"\n'
    write_file(tmp_path / "stakeholders.csv", text)
    got = records(pull(connector(tmp_path), "stakeholders"))
    assert got["1"]["Full Name"] == "Anna Schmidt"
    assert got["1"]["Tags"] == "vip;a,b"
    assert got["1"]["Description"] == f"x{delimiter}y"


def test_a_file_with_classic_mac_line_ends_reads_and_keeps_them(tmp_path: Path) -> None:
    text = 'Record Id;Full Name;Email\r1;Anna Schmidt;anna@example.com\r2;"Ben\rBauer";ben@example.com\r'
    path = write_file(tmp_path / "stakeholders.csv", text)
    remote = connector(tmp_path)
    got = records(pull(remote, "stakeholders"))
    assert (got["1"]["Full Name"], got["2"]["Full Name"]) == ("Anna Schmidt", "Ben\rBauer")
    assert got["2"]["$line"] == 3
    push(remote, "stakeholders", WriteRequest("a", WriteOp.UPDATE, {"Email": "a@new.de"}, "1"))
    written = path.read_bytes().decode("utf-8-sig")
    assert "\n" not in written
    assert written.startswith("Record Id;Full Name;Email\r1;Anna Schmidt;a@new.de\r")


def test_excel_sep_line_declares_the_delimiter(tmp_path: Path) -> None:
    write_file(tmp_path / "stakeholders.csv", "sep=;\r\nRecord Id;Full Name\r\n7;Anna,Smith\r\n")
    pages = pull(connector(tmp_path), "stakeholders")
    assert records(pages)["7"]["Full Name"] == "Anna,Smith"
    assert records(pages)["7"]["$line"] == 3


def test_quoted_newlines_stay_in_their_cell_and_lines_count_right(tmp_path: Path) -> None:
    text = (
        "Record Id,Full Name,Description\r\n"
        '1,Anna,"first line\r\nsecond line\r\nthird"\r\n'
        "2,Ben,plain\r\n"
    )
    write_file(tmp_path / "stakeholders.csv", text)
    got = records(pull(connector(tmp_path), "stakeholders"))
    assert got["1"]["Description"] == "first line\r\nsecond line\r\nthird"
    assert (got["1"]["$line"], got["2"]["$line"]) == (2, 5)
    assert got["2"]["$file"] == str(tmp_path / "stakeholders.csv")


def test_a_zoho_export_reads_with_its_own_headers(tmp_path: Path) -> None:
    text = (
        "Record Id,First Name,Last Name,Account Name,Email,Mobile,Contact Owner\n"
        "zcrm_4876876000000123001,Anna,Schmidt,Siemens AG,anna@example.com,+49 30 90182001,Li Lei\n"
    )
    write_file(tmp_path / "stakeholders.csv", text)
    got = records(pull(connector(tmp_path), "stakeholders"))
    row = got["zcrm_4876876000000123001"]
    mapper = load_connector_mapping("files", "csv", None).entity("stakeholders")
    flat = mapper.to_canonical({k: v for k, v in row.items() if k != "Account Name"}, None)  # type: ignore[arg-type]
    assert (flat["given_name"], flat["family_name"]) == ("Anna", "Schmidt")
    assert flat["mobile"] == "+493090182001"
    assert flat["owner"] == "Li Lei"


def test_headers_match_case_insensitively_and_ignore_spaces(tmp_path: Path) -> None:
    write_file(tmp_path / "stakeholders.csv", "record id , EMAIL,full name\n9,a@example.com,Anna\n")
    got = records(pull(connector(tmp_path), "stakeholders"))
    assert got["9"]["Email"] == "a@example.com"
    assert got["9"]["Full Name"] == "Anna"


class _Names:
    """Relations resolved to ``org:<name>``."""

    def to_canonical(self, entity: str, external_id: str) -> str | None:
        return f"org:{external_id}"


def test_common_chinese_header_variants_are_read(tmp_path: Path) -> None:
    write_file(
        tmp_path / "stakeholders.csv",
        "编号,姓名,手机号码,电子邮箱,公司名称\nS1,王伟,138 0013 8000,wang@example.cn,华为\n",
        "gb18030",
    )
    pages = pull(connector(tmp_path), "stakeholders")
    mapper = load_connector_mapping("files", "csv", None, phone_region="CN").entity("stakeholders")
    flat = mapper.to_canonical(records(pages)["S1"], _Names())
    assert (flat["mobile"], flat["email"]) == ("+8613800138000", "wang@example.cn")
    assert flat["organization_id"] == "org:华为"
    assert [w for page in pages for w in page.warnings] == []


def test_columns_that_are_not_read_are_named_once_before_the_rows(tmp_path: Path) -> None:
    write_file(
        tmp_path / "stakeholders.csv",
        "编号,姓名,微信,邮箱,Email,QQ\nS1,王伟,wx1,wang@example.cn,other@example.cn,123\n",
        "utf-8",
    )
    pages = pull(connector(tmp_path), "stakeholders")
    assert [w for page in pages for w in page.warnings] == [
        "stakeholders.csv: the mapping of stakeholders reads no column named '微信' or 'QQ', so "
        "their values are not synced; to sync them, add the names as aliases in the "
        "connector's mapping (see mappings/csv.yaml)",
        "stakeholders.csv: 'Email' and '邮箱' are one field of stakeholders; 'Email' is read, "
        "not '邮箱'",
    ]


def test_a_duplicated_header_is_an_error_naming_the_file_and_header(tmp_path: Path) -> None:
    path = write_file(
        tmp_path / "stakeholders.csv", "Record Id,Email,手机,Email\n1,a@x.cn,1,b@x.cn\n"
    )
    with pytest.raises(ConfigError) as caught:
        pull(connector(tmp_path), "stakeholders")
    text = str(caught.value)
    assert str(path) in text
    assert "'Email' twice" in text


def test_a_header_the_mapping_does_not_know_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = write_file(tmp_path / "organizations.csv", "foo,bar\n1,2\n")
    with pytest.raises(ConfigError) as caught:
        pull(connector(tmp_path), "organizations")
    assert str(path) in str(caught.value)
    assert "Account Name" in str(caught.value)


def test_organisations_need_their_name_column(tmp_path: Path) -> None:
    write_file(tmp_path / "organizations.csv", "Industry,Phone\ntelecom,1\n")
    with pytest.raises(ConfigError, match="external id"):
        pull(connector(tmp_path), "organizations")


def test_bad_rows_are_reported_with_line_and_reason_and_the_rest_go_on(tmp_path: Path) -> None:
    raw = (
        "Record Id,Full Name,Email\r\n"
        "1,Anna 安娜 (华为),anna@example.com\r\n"
        "2,Ben\r\n"  # a cell short
        "3,Carl,carl@example.com,extra\r\n"  # a cell too many
        "1,Anna again,x@example.com\r\n"  # an id already used
        "\r\n"
        ",,\r\n"  # blank rows are no data
        "4,Dora,dora@example.com,\r\n"  # a trailing empty cell is fine
    ).encode() + "5,Ed\udcff,ed@example.com\r\n6,王芳 Fay,fay@example.com\r\n".encode(
        "utf-8", "surrogateescape"
    )
    (tmp_path / "stakeholders.csv").write_bytes(raw)
    remote = connector(tmp_path)
    got = records(pull(remote, "stakeholders"))
    assert sorted(got) == ["1", "4", "6"]
    assert got["1"]["Full Name"] == "Anna 安娜 (华为)"
    found = {(r["line"], r["column"]): r["reason"] for r in remote.file_rejects}
    assert set(found) == {(3, ""), (4, ""), (5, "Record Id"), (9, "Full Name")}
    assert "2 cells" in found[(3, "")]
    assert "4 cells" in found[(4, "")]
    assert "line 2" in found[(5, "Record Id")]
    assert "utf-8" in found[(9, "Full Name")]
    assert all(r["file"] == str(tmp_path / "stakeholders.csv") for r in remote.file_rejects)


@pytest.mark.parametrize("encoding", ["auto", "utf-8"])
def test_a_nul_byte_rejects_its_row_alone_in_a_small_file(tmp_path: Path, encoding: str) -> None:
    (tmp_path / "stakeholders.csv").write_bytes(
        b"Record Id,Full Name,Email\n1,An\x00na,anna@example.com\n2,Ben,ben@example.com\n"
    )
    remote = connector(tmp_path, encoding=encoding)
    assert sorted(records(pull(remote, "stakeholders"))) == ["2"]
    (reject,) = remote.file_rejects
    assert (reject["line"], reject["column"], reject["reason"]) == (
        2,
        "Full Name",
        "holds a NUL byte",
    )


def test_rows_short_only_by_unnamed_columns_at_the_end_are_whole(tmp_path: Path) -> None:
    write_file(
        tmp_path / "stakeholders.csv",
        "Record Id,Full Name,Email,,\n1,Anna,anna@example.com\n2,Ben\n3,Carl,c@example.com,,\n",
    )
    remote = connector(tmp_path)
    got = records(pull(remote, "stakeholders"))
    assert sorted(got) == ["1", "3"]
    assert got["1"]["Email"] == "anna@example.com"
    assert [(r["line"], r["reason"]) for r in remote.file_rejects] == [
        (3, "has 2 cells where the header has 5")
    ]


def test_rejects_of_a_read_replace_those_of_the_previous_read(tmp_path: Path) -> None:
    path = write_file(tmp_path / "stakeholders.csv", "Record Id,Full Name\n1,Anna\n2\n")
    remote = connector(tmp_path)
    pull(remote, "stakeholders")
    assert len(remote.file_rejects) == 1
    write_file(path, "Record Id,Full Name\n1,Anna\n2,Ben\n")
    pull(remote, "stakeholders")
    assert remote.file_rejects == []


def test_a_missing_or_empty_file_has_no_rows(tmp_path: Path) -> None:
    assert pull(connector(tmp_path), "stakeholders") == []
    write_file(tmp_path / "stakeholders.csv", "")
    assert pull(connector(tmp_path), "stakeholders") == []


def test_a_file_that_is_not_text_is_a_permanent_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "stakeholders.csv"
    path.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(PermanentError, match=r"is it a CSV file\?") as caught:
        pull(connector(tmp_path), "stakeholders")
    assert str(path) in str(caught.value)


WESTERN = (
    "Record Id,Full Name,Billing City\r\n1,François Lefèvre,Genève\r\n2,Zoë Ångström,Malmö\r\n"
)


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        (WESTERN, "cp1252"),
        ("Record Id,Full Name,City\r\n1,Łukasz Śliwiński,Łódź\r\n2,Jiří Dvořák,Brno\r\n", "cp1250"),
        ("Record Id,Full Name\r\n1,Şükrü Öztürk\r\n2,Ayşe Yılmaz\r\n", "cp1254"),  # noqa: RUF001 (Turkish dotless i)
        ("Record Id,Full Name\r\n1,山田 太郎\r\n2,やまだ はなこ\r\n", "cp932"),
        ("Record Id,Full Name\r\n1,김민준\r\n2,이서연\r\n", "cp949"),
        ("Record Id,Full Name\r\n1,Мария Смирнова\r\n2,Иван Петров\r\n", "cp1251"),
        ("Record Id,Full Name\r\n1,Μαρία Κωνσταντίνου\r\n2,Γιάννης Παππάς\r\n", "cp1253"),
    ],
)
def test_codecs_that_tie_are_told_apart_by_the_letters_they_read(
    tmp_path: Path, text: str, encoding: str
) -> None:
    # charset-normalizer scores cp1252 and cp1250 (cp932 and cp949) alike on such files
    write_file(tmp_path / "stakeholders.csv", text, encoding)
    got = records(pull(connector(tmp_path), "stakeholders"))
    assert [data["Full Name"] for data in got.values()] == [
        line.split(",")[1] for line in text.splitlines()[1:]
    ]


def test_a_file_common_codecs_read_alike_takes_the_western_one(tmp_path: Path) -> None:
    write_file(
        tmp_path / "stakeholders.csv", "Record Id,Full Name\r\n1,Jürgen Müller\r\n", "cp1252"
    )
    remote = connector(tmp_path)
    assert records(pull(remote, "stakeholders"))["1"]["Full Name"] == "Jürgen Müller"
    assert detect_dialect(tmp_path / "stakeholders.csv").encoding == "cp1252"


def test_the_files_setting_names_another_file(tmp_path: Path) -> None:
    write_file(tmp_path / "contacts.txt", "Record Id,Full Name\n1,Anna\n")
    remote = connector(tmp_path, files={"stakeholders": "contacts.txt"})
    assert list(records(pull(remote, "stakeholders"))) == ["1"]


def test_a_long_gb18030_file_reads_though_its_first_64_kib_end_mid_character(
    tmp_path: Path,
) -> None:
    names = ["黄婷", "赵磊", "张敏", "王伟", "李娜", "刘洋"]
    companies = ["腾讯科技", "海尔集团", "华为技术有限公司"]
    rows = "".join(
        f"S{i:04d},{names[i % 6]},138{i:08d},u{i}@example.cn,{companies[i % 3]},项目经理,"
        "需要在第三季度前完成系统对接\r\n"
        for i in range(3000)
    )

    def content(pad: int) -> bytes:
        return ("编号,姓名,手机,邮箱,公司,职位,备注" + "x" * pad + "\r\n" + rows).encode("gb18030")

    def cut_mid_character(data: bytes) -> bool:
        try:
            data[:65536].decode("gb18030")
        except UnicodeDecodeError:
            return True
        return False

    pad = next(p for p in range(4) if cut_mid_character(content(p)))
    (tmp_path / "stakeholders.csv").write_bytes(content(pad))
    got = records(pull(connector(tmp_path), "stakeholders"))
    assert len(got) == 3000
    assert got["S2999"]["姓名"] == "刘洋"


def test_a_stray_quote_on_one_line_reads_as_lenient_readers_read_it(tmp_path: Path) -> None:
    text = (
        "Record Id,Full Name,Email\r\n"
        'S1,"Liu Yang" ,liu@example.cn\r\n'  # a space after the closing quote
        'S2,"Zhang "Tiger" Min",zhang@example.cn\r\n'  # quotes a naive exporter left bare
        "S3,Wang Wei,wang@example.cn\r\n"
    )
    write_file(tmp_path / "stakeholders.csv", text)
    remote = connector(tmp_path)
    got = records(pull(remote, "stakeholders"))
    assert set(got) == {"S1", "S2", "S3"}
    assert got["S3"]["Full Name"] == "Wang Wei"
    assert got["S1"]["Full Name"].startswith("Liu Yang")
    assert remote.file_rejects == []
