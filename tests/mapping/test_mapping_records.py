"""Mapping records: batches with a bad record, relations through links, variants, partial records."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from crmbridge.errors import RecordRejected
from crmbridge.mapping import (
    REMOTE_KEY,
    DictResolver,
    PendingRelation,
    RelationPending,
    from_model,
    load_mapping,
    shipped_mapping_path,
)
from crmbridge.model import Stakeholder
from crmbridge.sync.ports import EntityMapper

ZOHO = load_mapping(shipped_mapping_path("zoho"), phone_region="CN", timezone="Asia/Shanghai")
CSV = load_mapping(shipped_mapping_path("csv"), phone_region="CN", timezone="Asia/Shanghai")
LINKS = DictResolver(
    {
        "organizations": {"org-1": "4150868000000624001"},
        "stakeholders": {"st-1": "5725767000011356002", "st-2": "5725767000011356003"},
    }
)


def test_a_zoho_contact_maps_to_flat_canonical_values() -> None:
    contact = {
        "id": "4970762000000335192",
        "First_Name": "Kris",
        "Last_Name": "Marrier",
        "Email": "KrisMarrier@Gmail.com",
        "Mobile": "+1 415 555 2671",
        "Account_Name": {"name": "King (Sample)", "id": "4150868000000624001"},
        "Tag": [{"name": "VIP", "id": "1"}],
        "Owner": {"name": "Jean", "id": "1", "email": "jean@example.com"},
        "Power": "High",
        "Description": None,
        "Modified_Time": "2021-08-03T14:49:10+03:00",
    }
    flat = ZOHO.entity("stakeholders").to_canonical(contact, LINKS)
    assert flat == {
        "full_name": "Kris Marrier",
        "given_name": "Kris",
        "family_name": "Marrier",
        "email": "KrisMarrier@gmail.com",
        "mobile": "+14155552671",
        "organization_id": "org-1",
        "tags": ["VIP"],
        "owner": "jean@example.com",
        "power": "high",
        "notes": None,
    }


def test_push_builds_nested_zoho_payloads_and_splits_a_chinese_name() -> None:
    payload = ZOHO.entity("stakeholders").to_remote(
        {"id": "c1", "full_name": "欧阳娜娜", "organization_id": "org-1", "tags": ["重要"]}, LINKS
    )
    assert payload == {
        "crmbridge_id": "c1",
        "First_Name": "娜娜",
        "Last_Name": "欧阳",
        "Account_Name": {"id": "4150868000000624001"},
        "Tag": [{"name": "重要"}],
    }


def test_push_prefers_the_given_and_family_names_when_the_record_has_them() -> None:
    payload = ZOHO.entity("stakeholders").to_remote(
        {
            "full_name": "Ludwig van Beethoven",
            "given_name": "Ludwig",
            "family_name": "van Beethoven",
        },
        LINKS,
    )
    assert (payload["First_Name"], payload["Last_Name"]) == ("Ludwig", "van Beethoven")


def test_a_bad_value_rejects_its_record_only() -> None:
    rows = [
        ("1", {"姓名": "王伟", "手机": "138 0013 8000"}),
        ("2", {"姓名": "李娜", "手机": "not a phone"}),
        ("3", {"Full Name": "John Smith", "Power": "extreme"}),
        ("4", {"姓名": "张敏", "邮箱": "zhang.min@Example.cn"}),
    ]
    result = CSV.entity("stakeholders").map_batch("pull", rows, LINKS)
    assert [key for key, _ in result.mapped] == ["1", "4"]
    assert result.mapped[0][1] == {"full_name": "王伟", "mobile": "+8613800138000"}
    (phone_key, phone_error), (power_key, power_error) = result.rejected
    assert (phone_key, phone_error.field, phone_error.code) == ("2", "mobile", "INVALID_VALUE")
    assert "not a phone" in phone_error.message
    assert (power_key, power_error.field, power_error.code) == ("3", "power", "UNMAPPED_VALUE")
    assert "extreme" in power_error.message
    assert power_error.entity == "stakeholders"


def test_a_required_field_sent_empty_is_rejected() -> None:
    with pytest.raises(RecordRejected) as caught:
        CSV.entity("organizations").to_canonical({"公司": "  "}, LINKS)
    assert (caught.value.field, caught.value.code) == ("name", "REQUIRED")


def test_absent_columns_are_left_out_but_empty_ones_are_cleared() -> None:
    mapper = CSV.entity("stakeholders")
    assert mapper.to_canonical({"姓名": "王伟"}, LINKS) == {"full_name": "王伟"}
    assert mapper.to_canonical({"姓名": "王伟", "邮箱": "", "标签": ""}, LINKS) == {
        "full_name": "王伟",
        "email": None,
        "tags": [],
    }


def test_records_of_many_shapes_each_map_every_column_they_hold() -> None:
    # the mapper remembers which fields a record of given columns can hold: a record with
    # other columns, or the same in another order, must not be read as the first was
    mapper = ZOHO.entity("stakeholders")
    first = {"id": "1", "Last_Name": "Wang", "Email": "wang@example.cn"}
    assert mapper.to_canonical(first, LINKS) == {
        "family_name": "Wang",
        "full_name": "Wang",
        "email": "wang@example.cn",
    }
    other = {"id": "2", "Last_Name": "Li", "Mobile": "13800138000", "Title": "CTO"}
    assert mapper.to_canonical(other, LINKS) == {
        "family_name": "Li",
        "full_name": "Li",
        "mobile": "+8613800138000",
        "title": "CTO",
    }
    reordered = {"Email": "li@example.cn", "Last_Name": "Li", "id": "3"}
    assert mapper.to_canonical(reordered, LINKS)["email"] == "li@example.cn"
    for i in range(200):  # more shapes than it remembers: still each read whole
        varied = {"id": str(i), "Last_Name": "Zhao", f"Extra_{i}": "x", "Email": f"z{i}@ex.cn"}
        assert mapper.to_canonical(varied, LINKS)["email"] == f"z{i}@ex.cn"


def test_references_are_translated_through_links_both_ways() -> None:
    mapper = ZOHO.entity("interactions")
    meeting = {
        "channel": "meeting",
        "occurred_at": "2026-11-26T06:05:00Z",
        "duration_minutes": 45,
        "participant_ids": ["st-1", "st-2"],
        "organization_id": "org-1",
    }
    payload = mapper.to_remote(meeting, LINKS)
    assert payload[REMOTE_KEY] == "Events"
    assert payload["Participants"] == [
        {"participant": "5725767000011356002", "type": "contact"},
        {"participant": "5725767000011356003", "type": "contact"},
    ]
    assert payload["What_Id"] == {"id": "4150868000000624001"}
    assert payload["$se_module"] == "Accounts"
    assert payload["Start_DateTime"] == "2026-11-26T14:05:00+08:00"
    assert payload["End_DateTime"] == "2026-11-26T14:50:00+08:00"
    assert mapper.references(payload) == [
        ("stakeholders", "5725767000011356002"),
        ("stakeholders", "5725767000011356003"),
        ("organizations", "4150868000000624001"),
    ]
    assert mapper.to_canonical(payload, LINKS) == meeting


def test_an_unlinked_reference_is_pending_not_dropped() -> None:
    mapper = CSV.entity("interactions")
    row = {
        "渠道": "电话",
        "时间": "2026/11/26 14:05",
        "参与人": "5725767000011356002;999",
        "公司": "Nowhere Ltd",
    }
    with pytest.raises(PendingRelation) as caught:
        mapper.to_canonical(row, DictResolver({"stakeholders": {"st-1": "5725767000011356002"}}))
    pending = caught.value
    assert isinstance(pending, RelationPending)
    assert pending.code == "PENDING_RELATION"
    assert pending.missing == [("stakeholders", "999"), ("organizations", "Nowhere Ltd")]
    assert pending.data == {"channel": "call", "occurred_at": "2026-11-26T06:05:00Z"}
    result = mapper.map_batch("pull", [("r1", row)], DictResolver())
    assert [key for key, _ in result.pending] == ["r1"]


def test_push_of_a_reference_not_pushed_yet_is_pending() -> None:
    with pytest.raises(PendingRelation) as caught:
        ZOHO.entity("stakeholders").to_remote({"organization_id": "org-9"}, LINKS)
    assert caught.value.missing == [("organizations", "org-9")]


def test_variants_pick_the_zoho_module_by_channel() -> None:
    mapper = ZOHO.entity("interactions")
    assert mapper.remotes == ("Calls", "Events", "Tasks", "Notes")
    call = {
        "channel": "call",
        "occurred_at": "2026-01-20T15:00:00Z",
        "duration_minutes": 20,
        "direction": "outbound",
    }
    payload = mapper.to_remote(call, LINKS)
    assert payload == {
        "Call_Type": "Outbound",
        "Call_Start_Time": "2026-01-20T23:00:00+08:00",
        "Call_Duration": "20:00",
        REMOTE_KEY: "Calls",
    }
    assert mapper.to_canonical(payload, LINKS) == call
    note = mapper.to_canonical(
        {
            REMOTE_KEY: "Notes",
            "Note_Title": "Contacted",
            "Created_Time": "2022-03-22T10:17:56+02:00",
        },
        LINKS,
    )
    assert note == {
        "channel": "note",
        "subject": "Contacted",
        "occurred_at": "2022-03-22T08:17:56Z",
    }
    with pytest.raises(RecordRejected) as caught:
        mapper.to_remote({"channel": "call", "participant_ids": ["st-1", "st-2"]}, LINKS)
    assert caught.value.field == "participant_ids"


def test_only_limits_push_to_changed_fields() -> None:
    payload = ZOHO.entity("stakeholders").to_remote(
        {"email": "a@b.cn", "title": "CTO", "full_name": "王伟"}, LINKS, only=["title"]
    )
    assert payload == {"Title": "CTO"}


def test_remote_constants_and_canonical_defaults(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            connector: webhook
            entities:
              organizations:
                remote: company
                fields:
                  - {canonical: name, remote: name}
                  - {canonical: country, remote: country, default: CN}
                  - {remote: source, const: crmbridge}
                  - {canonical: industry, const: software}
            """
        ),
        encoding="utf-8",
    )
    mapper = load_mapping(path).entity("organizations")
    assert mapper.to_remote({"name": "Acme", "country": None}, LINKS) == {
        "name": "Acme",
        "country": "CN",
        "source": "crmbridge",
    }
    assert mapper.to_canonical({"name": "Acme", "country": ""}, LINKS) == {
        "name": "Acme",
        "country": "CN",
        "industry": "software",
    }


def test_a_mapper_is_what_the_sync_engine_expects() -> None:
    mapper: EntityMapper = ZOHO.entity("stakeholders")
    assert mapper.identity == ("id", "email", "mobile")
    assert "id" not in mapper.fields
    assert {"given_name", "family_name", "owner"} <= mapper.pull_only


def test_what_pull_gives_is_valid_for_the_canonical_model() -> None:
    person = Stakeholder.model_validate(
        {
            "full_name": "欧阳娜娜",
            "mobile": "138 0013 8000",
            "power": "high",
            "organization_id": "org-1",
        },
        context={"phone_region": "CN"},
    )
    mapper = ZOHO.entity("stakeholders")
    back = mapper.to_canonical(mapper.to_remote(from_model(person), LINKS), LINKS)
    again = Stakeholder.model_validate({k: v for k, v in back.items() if k != "id"})
    assert from_model(again)["full_name"] == "欧阳娜娜"
    assert again.quadrant is None
    assert from_model(again)["family_name"] == "欧阳"
