"""Every transform both ways, with the examples users bring: phones, Chinese dates, epoch ms, names."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmbridge.mapping.names import join_name, split_name
from crmbridge.mapping.transforms import TRANSFORMS, Env, Invalid

SHANGHAI = Env(timezone=ZoneInfo("Asia/Shanghai"), phone_region="CN")


def both(
    name: str, args: dict[str, Any] | None = None, kind: str = "text", env: Env = SHANGHAI
) -> tuple[Any, Any]:
    return TRANSFORMS[name].build(args or {}, env, kind)


def test_phone_reads_a_chinese_mobile_as_e164_and_writes_it_back() -> None:
    pull, push = both("phone")
    assert pull("138 0013 8000") == "+8613800138000"
    assert push("+8613800138000") == "+8613800138000"


def test_phone_national_format_only_for_numbers_of_the_region() -> None:
    pull, push = both("phone", {"format": "national"})
    assert push("+8613800138000") == "138 0013 8000"
    assert pull(push("+8613800138000")) == "+8613800138000"
    assert push("+14155552671") == "+1 415-555-2671"
    assert pull(push("+14155552671")) == "+14155552671"


def test_phone_rejects_what_is_not_a_number() -> None:
    pull, _ = both("phone")
    with pytest.raises(Invalid, match="not a"):
        pull("call me maybe")


def test_email_is_normalised_on_pull_and_kept_on_push() -> None:
    pull, push = both("email")
    assert pull(" Zhang.Wei@Example.COM ") == "Zhang.Wei@example.com"
    assert push("Zhang.Wei@example.com") == "Zhang.Wei@example.com"
    with pytest.raises(Invalid):
        pull("not-an-address")


def test_date_in_chinese_format_both_ways() -> None:
    pull, push = both("date", {"format": ["%Y年%m月%d日", "iso"]}, "date")
    assert pull("2026年11月26日") == "2026-11-26"
    assert pull("2026-11-26") == "2026-11-26"
    assert push("2026-11-26") == "2026年11月26日"


def test_local_datetime_in_shanghai_becomes_utc() -> None:
    pull, push = both("datetime", {"format": "%Y/%m/%d %H:%M"}, "datetime")
    assert pull("2026/11/26 14:05") == "2026-11-26T06:05:00Z"
    assert push("2026-11-26T06:05:00Z") == "2026/11/26 14:05"


def test_iso_datetime_with_offset_as_zoho_writes_it() -> None:
    pull, push = both("datetime", {"timezone": "Asia/Shanghai"}, "datetime")
    assert pull("2019-05-02T15:06:43+05:30") == "2019-05-02T09:36:43Z"
    assert push("2019-05-02T09:36:43Z") == "2019-05-02T17:36:43+08:00"


def test_epoch_milliseconds_as_fxiaoke_writes_them() -> None:
    pull, push = both("datetime", {"format": "epoch_ms"}, "datetime")
    assert pull(1795673100000) == "2026-11-26T06:05:00Z"
    assert pull("1795673100000") == "2026-11-26T06:05:00Z"
    assert push("2026-11-26T06:05:00Z") == 1795673100000


def test_datetime_outside_the_declared_formats_is_rejected_with_them() -> None:
    pull, _ = both("datetime", {"format": ["%Y/%m/%d %H:%M"]}, "datetime")
    with pytest.raises(Invalid, match="%Y/%m/%d %H:%M"):
        pull("26.11.2026")


def test_split_joins_tags_and_refuses_a_tag_holding_the_separator() -> None:
    pull, push = both("split", {}, "list")
    assert pull(" VIP; 重要;; ") == ["VIP", "重要"]
    assert push(["VIP", "重要"]) == "VIP;重要"
    with pytest.raises(Invalid, match="separator"):
        push(["a;b"])


def test_objects_reads_zoho_tags_and_event_participants() -> None:
    pull, push = both("objects", {"key": "name"}, "list")
    assert pull([{"name": "VIP", "id": "1"}]) == ["VIP"]
    assert push(["VIP"]) == [{"name": "VIP"}]
    pull, push = both("objects", {"key": "participant", "with": {"type": "contact"}}, "list")
    people = [{"type": "contact", "participant": "1"}, {"type": "user", "participant": "9"}]
    assert pull(people) == ["1"]
    assert push(["1"]) == [{"participant": "1", "type": "contact"}]


def test_number_parsing_with_grouping_marks() -> None:
    pull, push = both("number", {"text": True}, "integer")
    assert pull("1,234") == 1234
    assert push(1234) == "1234"
    with pytest.raises(Invalid, match="whole"):
        pull("1.5")
    pull, _ = both("number", {"decimal": ",", "thousands": "."}, "number")
    assert pull("1.234,5") == 1234.5


def test_boolean_words_in_two_languages() -> None:
    pull, push = both("boolean", {"true": ["是", "yes"], "false": ["否", "no"]}, "boolean")
    assert pull("是") is True
    assert pull("NO") is False
    assert push(True) == "是"
    with pytest.raises(Invalid):
        pull("maybe")


def test_duration_as_zoho_call_duration() -> None:
    pull, push = both("duration", {"unit": "mm:ss"}, "integer")
    assert pull("20:00") == 20
    assert pull("01:00") == 1
    assert push(45) == "45:00"


@pytest.mark.parametrize(
    ("policy", "value", "expected"),
    [("keep", "Very High", "Very High"), ({"default": "low"}, "Very High", "low")],
)
def test_map_policies_for_unmapped_values(policy: Any, value: str, expected: str) -> None:
    pull, _ = both("map", {"values": {"low": "Low", "high": ["High", "高"]}, "unmapped": policy})
    assert pull(value) == expected


def test_map_reads_aliases_and_any_case_and_writes_the_first() -> None:
    pull, push = both("map", {"values": {"low": "Low", "high": ["High", "高"]}})
    assert pull("高") == "high"
    assert pull("HIGH") == "high"
    assert push("high") == "High"
    with pytest.raises(Invalid, match="not in the value map") as caught:
        pull("Very High")
    assert caught.value.code == "UNMAPPED_VALUE"


def test_json_text_both_ways() -> None:
    pull, push = both("json", {}, "json")
    assert pull(push([{"to_status": "approved"}])) == [{"to_status": "approved"}]


@pytest.mark.parametrize(
    ("full", "given", "family"),
    [
        ("欧阳娜娜", "娜娜", "欧阳"),
        ("诸葛亮", "亮", "诸葛"),
        ("司马相如", "相如", "司马"),
        ("李娜", "娜", "李"),
        ("John Smith", "John", "Smith"),
        ("Mary Ann Smith", "Mary Ann", "Smith"),
        ("Cher", None, "Cher"),
    ],
)
def test_names_split_and_join_back(full: str, given: str | None, family: str | None) -> None:
    assert split_name(full) == (given, family)
    assert join_name(given, family) == full


@given(st.text(min_size=1).map(str.strip).filter(bool))
def test_joining_a_split_name_gives_it_back(name: str) -> None:
    assert join_name(*split_name(name)) == name


@given(st.text(alphabet="欧阳娜司马诸葛亮李王小明·", min_size=1, max_size=6))
def test_joining_a_split_chinese_name_gives_it_back(name: str) -> None:
    assert join_name(*split_name(name)) == name
