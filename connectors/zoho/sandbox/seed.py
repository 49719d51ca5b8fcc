"""``--seed-records N``: a realistic, bilingual org, the same for the same seed.

N contacts (about half with Chinese names — family name in ``Last_Name``, given name
in ``First_Name`` — half Western), N/5 accounts (Chinese and international
companies), and notes, calls, meetings, tasks and change requests in proportion,
with +86 and other international phone numbers, stakeholder pick-lists
(Power / Interest / Influence) and Modified_Time spread over the last 90 days
(several records share a second, as they do in Zoho).
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from connectors.zoho.sandbox.state import SandboxState, StoredRecord

__all__ = ["seed"]

Json = dict[str, Any]
_SURNAMES = {
    "王": "wang",
    "李": "li",
    "张": "zhang",
    "刘": "liu",
    "陈": "chen",
    "杨": "yang",
    "黄": "huang",
    "赵": "zhao",
    "周": "zhou",
    "吴": "wu",
    "徐": "xu",
    "孙": "sun",
    "马": "ma",
    "朱": "zhu",
    "胡": "hu",
    "郭": "guo",
    "何": "he",
    "林": "lin",
    "高": "gao",
    "罗": "luo",
    "欧阳": "ouyang",
    "司马": "sima",
}
_GIVEN = {
    "伟": "wei",
    "芳": "fang",
    "娜": "na",
    "敏": "min",
    "静": "jing",
    "丽": "li",
    "强": "qiang",
    "磊": "lei",
    "军": "jun",
    "洋": "yang",
    "艳": "yan",
    "杰": "jie",
    "娟": "juan",
    "涛": "tao",
    "明": "ming",
    "超": "chao",
    "秀英": "xiuying",
    "志华": "zhihua",
    "晓东": "xiaodong",
    "雪梅": "xuemei",
}
_FIRST = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "Anna",
    "Lukas",
    "Sophie",
    "Hiroshi",
    "Yuki",
    "Olivia",
    "Mateo",
    "Chloé",
    "Søren",
    "Zoë",
]
_LAST = [
    "Smith",
    "Johnson",
    "Brown",
    "Müller",
    "Schmidt",
    "García",
    "Martin",
    "Rossi",
    "Tanaka",
    "Sato",
    "O'Brien",
    "Dubois",
    "Nowak",
    "Kowalski",
    "Andersen",
    "Boyle",
    "Nguyen",
    "Kim",
    "Silva",
    "van der Berg",
]
_TITLES = [
    "总经理",
    "采购经理",
    "技术总监",
    "项目经理",
    "CTO",
    "Head of Procurement",
    "Project Manager",
    "VP of Sales",
    "Engineer",
    "财务主管",
]
_DEPTS = ["采购部", "信息技术部", "财务部", "Operations", "Engineering", "Sales", "Legal", "运营部"]
_CN_COMPANIES = [
    "北京星云科技有限公司",
    "上海浦江制造有限公司",
    "深圳华创电子有限公司",
    "杭州西湖数据服务有限公司",
    "成都天府软件有限公司",
    "广州南方物流集团",
    "武汉光谷生物科技",
    "南京金陵建设工程有限公司",
]
_INTL_COMPANIES = [
    "Acme Corporation",
    "Globex GmbH",
    "Initech Ltd",
    "Umbrella KK",
    "Stark Industries",
    "Wayne Enterprises",
    "Zylker Corp",
    "Nordlicht AB",
]
_CITIES = [
    ("北京", "中国"),
    ("上海", "中国"),
    ("深圳", "中国"),
    ("杭州", "中国"),
    ("Berlin", "Germany"),
    ("London", "United Kingdom"),
    ("San Francisco", "United States"),
    ("Tokyo", "Japan"),
]
_LEVELS = ["Low", "Medium", "High"]
_CR_STATUS = ["Identified", "Analysed", "Approved", "Rejected", "Implemented"]
_SUBJECTS = [
    "跟进报价",
    "Follow up on quote",
    "需求澄清会议",
    "Requirements review",
    "合同续签",
    "Contract renewal",
    "季度回访",
    "Quarterly check-in",
]


def _phone(rng: random.Random, chinese: bool) -> str:
    if chinese or rng.random() < 0.3:
        # only ranges libphonenumber holds valid: a record with a number it refuses
        # cannot be matched to the hub's records in a migration
        if rng.random() < 0.7:
            return f"+86 1{rng.choice('38')}{rng.randint(0, 9)} {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}"
        return f"+86 {rng.choice(['10', '21', '755', '571'])} {rng.randint(2000, 7999)} {rng.randint(1000, 9999)}"
    return rng.choice(
        [
            f"+1 415 555 {rng.randint(1000, 9999)}",
            f"+44 20 7946 {rng.randint(1000, 9999)}",
            f"+49 30 {rng.randint(1000000, 9999999)}",
            f"+81 3 {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
        ]
    )


def _backdate(state: SandboxState, rec: StoredRecord, rng: random.Random) -> None:
    created = state.now() - timedelta(seconds=rng.randint(3600, 90 * 86400))
    rec.created = created
    rec.modified = min(
        state.now(),
        created + timedelta(seconds=rng.choice([0, 0, 1, 60, 3600, 86400 * rng.randint(1, 30)])),
    )


def seed(state: SandboxState, n: int, seed_value: int = 0) -> dict[str, int]:
    """Fill ``state`` with ``n`` contacts and related records; return counts per module."""
    rng = random.Random(seed_value)
    made: dict[str, list[StoredRecord]] = {}

    def add(module: str, values: Json, se_module: str | None = None) -> StoredRecord:
        rec = state.insert(module, values, state.admin, se_module=se_module)
        _backdate(state, rec, rng)
        made.setdefault(module, []).append(rec)
        return rec

    for i in range(max(1, n // 5) if n else 0):
        chinese = i % 2 == 0
        names = _CN_COMPANIES if chinese else _INTL_COMPANIES
        picked = rng.choice(names)
        city, country = rng.choice(_CITIES[:4] if chinese else _CITIES[4:])
        add(
            "Accounts",
            {
                # distinct names, as a migration's match takes two of one name for a duplicate
                "Account_Name": f"{picked} {i + 1}" if i >= 8 else names[i // 2],
                "Phone": _phone(rng, chinese),
                "Billing_City": city,
                "Billing_Country": country,
                "Industry": rng.choice(
                    ["Technology", "Manufacturing", "Finance", "Government/Military"]
                ),
                "Account_Type": rng.choice(["Customer", "Partner", "Supplier"]),
                "Employees": rng.randint(5, 5000),
                "Website": f"https://www.example{i}.com",
            },
        )
    accounts = made.get("Accounts", [])
    for i in range(n):
        chinese = rng.random() < 0.5
        if chinese:
            family, given = rng.choice(list(_SURNAMES)), rng.choice(list(_GIVEN))
            first, last = given, family
            email = f"{_GIVEN[given]}.{_SURNAMES[family]}{i}@example.cn"
        else:
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            email = f"{first.lower()}.{last.lower().replace(' ', '').replace(chr(39), '')}{i}@example.com"
        city, country = rng.choice(_CITIES[:4] if chinese else _CITIES)
        values: Json = {
            "First_Name": first,
            "Last_Name": last,
            "Email": email if rng.random() < 0.9 else None,
            "Phone": _phone(rng, chinese),
            "Mobile": _phone(rng, chinese) if rng.random() < 0.6 else None,
            "Title": rng.choice(_TITLES),
            "Department": rng.choice(_DEPTS),
            "Mailing_City": city,
            "Mailing_Country": country,
            "Power": rng.choice(_LEVELS),
            "Interest": rng.choice(_LEVELS),
            "Influence": rng.choice(_LEVELS),
        }
        if accounts:
            values["Account_Name"] = {"id": rng.choice(accounts).id}
        add("Contacts", values)
    contacts = made.get("Contacts", [])
    for _ in range(n // 2 if contacts else 0):
        parent = rng.choice(contacts)
        add(
            "Notes",
            {
                "Note_Title": rng.choice(["会议纪要", "Call notes", "客户反馈", "Follow-up"]),
                "Note_Content": rng.choice(
                    [
                        "客户希望提前交付。",
                        "Asked for a revised quote.",
                        "关注数据安全与合规。",
                        "Prefers WeChat over e-mail.",
                    ]
                ),
                "Parent_Id": {"id": parent.id},
            },
            "Contacts",
        )
    for _ in range(n // 4 if contacts else 0):
        who = rng.choice(contacts)
        minutes, seconds = rng.randint(0, 45), rng.randint(0, 59)
        values = {
            "Subject": rng.choice(_SUBJECTS),
            "Call_Type": rng.choice(["Inbound", "Outbound"]),
            "Call_Start_Time": state.fmt(state.now() - timedelta(days=rng.randint(1, 60))),
            "Call_Duration": f"{minutes:02d}:{seconds:02d}",
            "Who_Id": {"id": who.id},
        }
        se = None
        if accounts and rng.random() < 0.5:
            values["What_Id"], se = {"id": rng.choice(accounts).id}, "Accounts"
        add("Calls", values, se)
    for _ in range(n // 5 if contacts else 0):
        start = state.now() + timedelta(days=rng.randint(-30, 30), hours=rng.randint(0, 8))
        add(
            "Events",
            {
                "Event_Title": rng.choice(_SUBJECTS),
                "Start_DateTime": state.fmt(start),
                "End_DateTime": state.fmt(start + timedelta(hours=1)),
                "Venue": rng.choice(["线上会议", "Zoom", "客户现场", "HQ Room 3"]),
                "Who_Id": {"id": rng.choice(contacts).id},
            },
        )
    for _ in range(n // 4 if contacts else 0):
        due = (state.now() + timedelta(days=rng.randint(-10, 30))).date().isoformat()
        add(
            "Tasks",
            {
                "Subject": rng.choice(_SUBJECTS),
                "Due_Date": due,
                "Status": rng.choice(["Not Started", "In Progress", "Completed"]),
                "Priority": rng.choice(["High", "Normal", "Low"]),
                "Who_Id": {"id": rng.choice(contacts).id},
            },
        )
    for i in range(n // 10):
        values = {
            "Name": f"CR-{i + 1:04d} "
            + rng.choice(["调整交付时间", "Add SSO support", "变更报表格式", "Extend warranty"]),
            "Status": rng.choice(_CR_STATUS),
            "Priority": rng.choice(["Low", "Medium", "High", "Critical"]),
            "Reason": rng.choice(["客户业务调整", "Regulatory change", "Scope clarification"]),
            "Impact": rng.choice(["+2 weeks", "无影响", "+15% cost"]),
        }
        if contacts:
            values["Requested_By"] = {"id": rng.choice(contacts).id}
        add("Change_Requests", values)
    state.version += 1
    return {module: len(recs) for module, recs in made.items()}
