"""Golden records: Fxiaoke-shaped records through mappings/fxiaoke.yaml to canonical values and back."""

from __future__ import annotations

from typing import Any

from crmbridge.mapping import DictResolver, load_mapping, shipped_mapping_path

from .http_support import fixture

FXIAOKE = load_mapping(shipped_mapping_path("fxiaoke"), phone_region="CN", timezone="Asia/Shanghai")
LINKS = DictResolver(
    {
        "organizations": {"org-1": "65f1a0c2e4b0a1b2c3d4e5f6"},
        "stakeholders": {"st-1": "5d27fe3642639b00017160e8"},
    }
)

#: a ContactObj row as data/query returns it: epoch ms, option codes, an owner list with
#: its expansion, numbers as text, null fields left out (fact sheet §5, §6, §9)
CONTACT: dict[str, Any] = {
    "_id": "5d27fe3642639b00017160e8",
    "name": "欧阳娜娜",
    "email": "NaNa@Example.COM",
    "mobile1": "138 0013 8000",
    "tel1": "010-62345678",
    "account_id": "65f1a0c2e4b0a1b2c3d4e5f6",
    "account_id__r": "分析机器有限公司",
    "job_title": "采购经理",
    "owner": ["1000"],
    "owner__r": {"id": "1000", "name": "张三"},
    "crmbridge_id__c": "st-1",
    "stakeholder_type__c": "regulator",
    "power__c": "high",
    "interest__c": "low",
    "last_modified_time": 1614065919394,
    "version": "4",
}


def test_the_documented_get_template_maps_to_an_organization() -> None:
    record = fixture("get_preset_response_template")["data"]
    flat = FXIAOKE.entity("organizations").to_canonical(record, LINKS)
    assert flat == {"name": "xxxxxx"}


def test_a_contact_row_maps_to_flat_canonical_values() -> None:
    flat = FXIAOKE.entity("stakeholders").to_canonical(CONTACT, LINKS)
    assert flat == {
        "id": "st-1",
        "full_name": "欧阳娜娜",
        "email": "NaNa@example.com",
        "mobile": "+8613800138000",
        "phone": "+861062345678",
        "organization_id": "org-1",
        "title": "采购经理",
        "owner": "张三",
        "type": "regulator",
        "power": "high",
        "interest": "low",
    }


def test_a_sales_record_maps_its_time_and_contacts() -> None:
    row = {
        "_id": "ar1",
        "active_record_content": "电话回访 客户同意续约",
        "interaction_channel__c": "call",
        "create_time": 1613923200000,
        "related_object_data": [
            {"describe_api_name": "AccountObj", "id": "65f1a0c2e4b0a1b2c3d4e5f6", "name": "x"},
            {"describe_api_name": "ContactObj", "id": "5d27fe3642639b00017160e8", "name": "y"},
        ],
        "account_id": "65f1a0c2e4b0a1b2c3d4e5f6",
    }
    flat = FXIAOKE.entity("interactions").to_canonical(row, LINKS)
    assert flat == {
        "summary": "电话回访 客户同意续约",
        "channel": "call",
        "occurred_at": "2021-02-21T16:00:00Z",  # 2021-02-22 00:00 in Shanghai
        "participant_ids": ["st-1"],
        "organization_id": "org-1",
    }
    back = FXIAOKE.entity("interactions").to_remote(flat, LINKS)
    assert back["occurred_at__c"] == 1613923200000
    assert back["related_object_data"] == [
        {"id": "5d27fe3642639b00017160e8", "describe_api_name": "ContactObj"}
    ]
    assert back["related_api_names"] == ["ContactObj"]


def test_pushing_a_stakeholder_writes_option_codes_and_leaves_pull_only_fields_out() -> None:
    values = {"id": "st-1", "full_name": "王伟", "power": "medium", "owner": "张三"}
    payload = FXIAOKE.entity("stakeholders").to_remote(values, LINKS)
    assert payload == {"crmbridge_id__c": "st-1", "name": "王伟", "power__c": "medium"}
