"""Regenerate the example data set in examples/data (deterministic: same seed, same files).

    python examples/make_examples.py

A bilingual CRM export of the kind teams start from: organisations (UTF-8,
English headers), stakeholders (GB18030, Chinese headers, as Excel saves them
in China), interactions (UTF-8 with BOM, semicolon-separated) and requirement
changes (UTF-8, Chinese headers), with a few deliberately bad rows that a
migration must reject alone and report.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent / "data"
RNG = random.Random(20261126)

SURNAMES = "王李张刘陈杨黄赵周吴徐孙马朱胡郭何林罗高"
GIVEN = ["伟", "芳", "娜", "敏", "静", "磊", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英", "建华", "晓东", "雪梅"]
COMPOUND = ["欧阳", "司马", "诸葛", "上官"]
WESTERN_FIRST = ["Anna", "James", "Maria", "Lukas", "Sophie", "Daniel", "Emma", "Oliver", "Hannah", "Thomas"]
WESTERN_LAST = ["Schmidt", "Smith", "Garcia", "Müller", "Dubois", "Rossi", "Johnson", "Novak", "Tanaka", "Kim"]
ORGS = [
    ("华为技术有限公司", "telecom", "深圳", "中国"), ("阿里巴巴集团", "e-commerce", "杭州", "中国"),
    ("腾讯科技", "internet", "深圳", "中国"), ("比亚迪股份有限公司", "automotive", "深圳", "中国"),
    ("宁德时代", "energy", "宁德", "中国"), ("美的集团", "appliances", "佛山", "中国"),
    ("招商银行", "banking", "深圳", "中国"), ("中国移动", "telecom", "北京", "中国"),
    ("国家电网", "utilities", "北京", "中国"), ("海尔集团", "appliances", "青岛", "中国"),
    ("Siemens AG", "industrial", "Munich", "Germany"), ("Nordwind GmbH", "logistics", "Hamburg", "Germany"),
    ("Acme Analytics Ltd", "software", "London", "United Kingdom"), ("Lumière SA", "retail", "Lyon", "France"),
    ("Pacific Freight Inc", "logistics", "Seattle", "United States"), ("Kobayashi Denki", "electronics", "Osaka", "Japan"),
    ("上海市经济和信息化委员会", "government", "上海", "中国"), ("深圳市市场监督管理局", "regulator", "深圳", "中国"),
    ("江苏苏宁物流", "logistics", "南京", "中国"), ("成都天府软件园", "software", "成都", "中国"),
]
TYPES = ["客户"] * 6 + ["最终用户", "供应商", "合作伙伴", "监管机构", "内部"]
LEVELS = ["高", "中", "低"]
TITLES = ["总经理", "采购经理", "项目经理", "技术总监", "财务总监", "工程师", "CTO", "Head of Procurement", "Product Owner"]
DEPTS = ["采购部", "信息技术部", "财务部", "运营部", "市场部", "Engineering", "Procurement"]


FOREIGN_MOBILES = ["+49 151 2345 6{:03d}", "+44 7911 123{:03d}", "+33 6 12 34 5{:03d}", "+1 206 555 0{:03d}", "+81 90 1234 5{:03d}"]


def unique_foreign_phone(i: int) -> str:
    """A mobile number of another country, different for every ``i`` below 1000."""
    return FOREIGN_MOBILES[i % len(FOREIGN_MOBILES)].format(i)


def person(i: int, orgs: list[str]) -> dict[str, str]:
    org_index = RNG.randrange(len(orgs))
    org = orgs[org_index]
    foreign = org_index in (10, 11, 12, 13, 14, 15)
    if foreign:
        name = f"{RNG.choice(WESTERN_FIRST)} {RNG.choice(WESTERN_LAST)}"
        mobile = unique_foreign_phone(i)
        email = f"{name.split()[0].lower()}.{i}@example.com"
    else:
        family = RNG.choice(COMPOUND) if i % 25 == 0 else RNG.choice(SURNAMES)
        name = family + RNG.choice(GIVEN)
        prefix = RNG.choice(["138", "139", "136", "150", "151", "158", "186", "188", "189", "177"])
        mobile = f"{prefix} {RNG.randrange(10000):04d} {RNG.randrange(10000):04d}"
        email = f"user{i}@example.cn"
    return {
        "编号": f"S{i:04d}",
        "姓名": name,
        "手机": mobile,
        "电话": "" if i % 4 else f"0755-8{RNG.randrange(1000000, 9999999)}",
        "邮箱": email,
        "公司": org,
        "职位": RNG.choice(TITLES),
        "部门": RNG.choice(DEPTS),
        "类型": RNG.choice(TYPES),
        "权力": RNG.choice(LEVELS),
        "关注度": RNG.choice(LEVELS),
        "影响力": RNG.choice(LEVELS),
        "期望": RNG.choice(["按期交付", "降低成本", "数据安全合规", "Faster onboarding", ""]),
        "标签": RNG.choice(["", "vip", "vip;决策者", "技术"]),
        "备注": "" if i % 7 else "首次接触于展会；\n对报价敏感",
    }


def write(name: str, rows: list[dict[str, str]], encoding: str, delimiter: str = ",") -> None:
    with (HERE / name).open("w", encoding=encoding, newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    HERE.mkdir(parents=True, exist_ok=True)
    orgs = [
        {"Account Name": n, "Industry": ind, "Phone": "", "Website": "", "Billing City": city, "Billing Country": country, "Tags": ""}
        for n, ind, city, country in ORGS
    ]
    for org in orgs[:10]:
        org["Phone"] = f"0755-{RNG.randrange(10000000, 99999999)}"
    write("organizations.csv", orgs, "utf-8")

    names = [o["Account Name"] for o in orgs]
    people = [person(i, names) for i in range(1, 301)]
    people[41]["手机"] = "12345"  # not a phone number
    people[87]["邮箱"] = "li.na@"  # not an email address
    people[133]["公司"] = "不存在的公司"  # refers to no organisation: waits, and is reported
    people[178]["姓名"] = ""  # no name at all
    write("stakeholders.csv", people, "gb18030")

    channels = ["call", "meeting", "email", "visit", "message", "note"]
    interactions = []
    for i in range(1, 601):
        who = RNG.sample(people[:40] + people[45:130], RNG.choice([1, 1, 1, 2]))
        day = RNG.randrange(1, 28)
        interactions.append(
            {
                "编号": f"I{i:04d}",
                "Channel": RNG.choice(channels),
                "Direction": RNG.choice(["inbound", "outbound"]),
                "Occurred At": f"2026-{RNG.randrange(1, 12):02d}-{day:02d} {RNG.randrange(8, 19):02d}:{RNG.randrange(60):02d}:00",
                "Duration (min)": str(RNG.choice([5, 15, 30, 45, 60, 90])),
                "Subject": RNG.choice(["季度回顾", "报价沟通", "Kick-off", "需求澄清", "Site visit", "合同续签"]),
                "Summary": RNG.choice(["客户关注交付周期", "Discussed the SLA", "对方要求补充材料", "同意进入试点"]),
                "Outcome": RNG.choice(["positive", "neutral", "需跟进"]),
                "Participants": ";".join(p["编号"] for p in who),
                "Account Name": who[0]["公司"],
            }
        )
    interactions[9]["Occurred At"] = "next Tuesday"  # not a date
    interactions[99]["Channel"] = "carrier pigeon"  # no such channel
    write("interactions.csv", interactions, "utf-8-sig", delimiter=";")

    statuses = ["已识别", "已分析", "已批准", "已拒绝", "已实施"]
    changes = [
        {
            "编号": f"C{i:03d}",
            "标题": RNG.choice(["增加导出PDF功能", "支持企业微信登录", "Add SSO via SAML", "报表按季度汇总", "缩短交付周期"]),
            "提出人": RNG.choice(people[:120])["编号"],
            "描述": "客户在评审会上提出",
            "原因": RNG.choice(["合规要求", "用户反馈", "Contract clause 4.2"]),
            "影响": RNG.choice(["工期+2周", "成本+5%", "none"]),
            "优先级": RNG.choice(["高", "中", "低", "紧急"]),
            "状态": RNG.choice(statuses),
        }
        for i in range(1, 81)
    ]
    write("requirement_changes.csv", changes, "utf-8")


if __name__ == "__main__":
    main()
