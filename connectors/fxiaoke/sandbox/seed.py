"""Generated tenant data: accounts, contacts (CJK and Latin names), sales records and
custom change requests, deterministic for a given seed, created over the last 90 days."""

from __future__ import annotations

import random
from typing import Any

from connectors.fxiaoke.sandbox.state import SandboxState

__all__ = ["seed"]

Json = dict[str, Any]
_FAMILY = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
_GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "洋", "艳", "勇", "军", "杰", "涛", "明"]
_LATIN = ["Anna Schmidt", "James Miller", "Maria Rossi", "Kenji Sato", "Olga Ivanova", "Tom Berg"]
_COMPANIES = ["华东机电", "星河科技", "蓝海物流", "Nordwind GmbH", "Acme Ltd", "北辰医药"]
_TITLES = ["总经理", "采购经理", "技术总监", "Project Manager", "工程师", "财务"]
_DAY_MS = 86_400_000


def _name(rng: random.Random) -> str:
    if rng.random() < 0.8:
        return rng.choice(_FAMILY) + "".join(rng.choices(_GIVEN, k=rng.randint(1, 2)))
    return rng.choice(_LATIN)


def seed(
    state: SandboxState,
    *,
    accounts: int = 0,
    contacts: int = 0,
    activities: int = 0,
    custom: int = 0,
    seed: int = 0,
) -> dict[str, int]:
    """Add generated records; return how many of each object were made."""
    rng = random.Random(seed)
    now = state.now_ms()
    admin, remote = state.admin.employee_id, state.remote_user.employee_id

    def when() -> int:
        return now - rng.randint(1, 90 * _DAY_MS)

    def insert(api_name: str, values: Json) -> str:
        user = admin if rng.random() < 0.7 else remote
        created = when()
        rec = state.insert(api_name, values, user, create_time=created)
        rec.last_modified_time = rng.randint(created, now)
        return rec.id

    account_ids = [
        insert(
            "AccountObj",
            {
                "name": f"{rng.choice(_COMPANIES)}{i + 1}",
                "account_type": str(rng.randint(0, 5)),
                "account_level": str(rng.randint(1, 3)),
                "tel": f"021-{rng.randint(10_000_000, 99_999_999)}",
            },
        )
        for i in range(accounts)
    ]
    contact_ids: list[str] = []
    for i in range(contacts):
        values: Json = {
            "name": _name(rng),
            "mobile1": f"1{rng.choice('3589')}{rng.randint(100_000_000, 999_999_999)}",
            "email": f"contact{i + 1}@example.cn",
            "job_title": rng.choice(_TITLES),
            "stakeholder_type__c": rng.choice(["1", "2", "3", "4", "5", "6", "other"]),
            "influence__c": str(rng.randint(1, 5)),
        }
        if account_ids:
            values["account_id"] = rng.choice(account_ids)
        contact_ids.append(insert("ContactObj", values))
    for i in range(activities):
        links = []
        if contact_ids:
            links.append({"describe_api_name": "ContactObj", "id": rng.choice(contact_ids)})
        if account_ids:
            links.append({"describe_api_name": "AccountObj", "id": rng.choice(account_ids)})
        values = {
            "name": f"跟进 {i + 1}",
            "active_record_content": rng.choice(
                ["电话沟通需求", "现场拜访", "会议纪要", "邮件跟进"]
            ),
            "active_record_type": str(rng.randint(1, 6)),
            "related_object_data": links,
        }
        insert("ActiveRecordObj", values)
    custom_name = state.options.custom_object
    for i in range(custom):
        values = {
            "name": f"需求变更 {i + 1}",
            "change_status__c": rng.choice(
                ["identified", "analysed", "approved", "rejected", "implemented"]
            ),
            "priority__c": str(rng.randint(1, 3)),
            "reason__c": "客户提出新的要求",
            "effort__c": f"{rng.randint(1, 40)}.0",
        }
        if contact_ids:
            values["contact__c"] = rng.choice(contact_ids)
        insert(custom_name, values)
    return {
        "AccountObj": accounts,
        "ContactObj": contacts,
        "ActiveRecordObj": activities,
        custom_name: custom,
    }
