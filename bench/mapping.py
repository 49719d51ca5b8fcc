# ruff: noqa: E402
"""Mapping speed: 100,000 stakeholders through each shipped mapping, both ways, on one core.

Run ``python bench/mapping.py [--records N] [--runs R]``. Records are
realistic and varied: Chinese names (compound surnames included) and Western
ones, unique mobiles (+86 mostly, some +1/+44/+49/+81), an organisation's
switchboard as ``phone`` (shared by its staff, as in real address books),
emails, tags, pick-lists. Push maps canonical -> remote, pull maps that
remote payload back; phone and email caches are emptied before every run, so
pull pays for validating every new number and address. Prints records/s per
direction (median of the runs); the target is 50,000/s each way.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/csv.py would shadow the standard library's csv module: keep this folder off the path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import random
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import phonenumbers

from crmbridge import normalize as fastnorm
from crmbridge.mapping import (
    DictResolver,
    EntityMapper,
    load_mapping,
    shipped_mapping_path,
)
from crmbridge.model import normalize_phone

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
COMPOUND = ["欧阳", "司马", "诸葛", "上官", "东方", "慕容"]
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志强晓明"
WESTERN_GIVEN = [
    "John",
    "Mary",
    "Anna",
    "Peter",
    "Laura",
    "Hans",
    "Yuki",
    "Mary Ann",
    "Olivia",
    "Noah",
]
WESTERN_FAMILY = ["Smith", "Kingsley", "Müller", "Tanaka", "Brown", "García", "O'Neil", "Dubois"]
TAGS = ["VIP", "决策者", "renewal", "技术", "采购", "key-account", "华东", "newsletter"]
LEVELS = ["low", "medium", "high", None]
TYPES = ["customer", "end_user", "supplier", "partner", "regulator", "internal", "other"]
REGIONS = ["US", "GB", "DE", "JP"]


def _valid(make: Callable[[], str]) -> str:
    while True:
        number = make()
        try:
            return normalize_phone(number)
        except ValueError:
            continue


def _mobile(rng: random.Random, chinese: bool) -> str:
    if chinese or rng.random() < 0.5:
        return _valid(lambda: f"+861{rng.choice('3456789')}{rng.randrange(10**9):09d}")
    region = rng.choice(REGIONS)
    sample = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    assert sample is not None
    example = str(sample.national_number)
    code = phonenumbers.country_code_for_region(region)
    return _valid(lambda: f"+{code}{example[:-4]}{rng.randrange(10**4):04d}")


def generate(count: int, seed: int = 7) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """``count`` flat canonical stakeholders and the organisations' links (hub id -> Zoho id)."""
    rng = random.Random(seed)
    orgs = {f"org{i:05d}": f"41508680000{i:08d}" for i in range(max(1, count // 20))}
    switchboards = {
        org: _valid(lambda: f"+86{rng.choice(['10', '21', '755'])}{rng.randrange(10**8):08d}")
        for org in list(orgs)[:2000]
    }
    org_ids = list(orgs)
    records = []
    for i in range(count):
        chinese = rng.random() < 0.6
        if chinese:
            family = rng.choice(COMPOUND) if rng.random() < 0.1 else rng.choice(SURNAMES)
            full = family + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
            email_local = f"user{i}"
        else:
            full = f"{rng.choice(WESTERN_GIVEN)} {rng.choice(WESTERN_FAMILY)}"
            email_local = full.split()[0].lower() + f".{i}"
        org = rng.choice(org_ids)
        records.append(
            {
                "id": f"{i:032x}",
                "full_name": full,
                "given_name": None,
                "family_name": None,
                "email": f"{email_local}@{rng.choice(['example.com', 'corp.cn', 'mail.de'])}",
                "secondary_email": None,
                "phone": switchboards.get(org),
                "mobile": _mobile(rng, chinese) if rng.random() < 0.9 else None,
                "organization_id": org,
                "title": rng.choice(["VP of Sales", "总经理", "采购经理", None]),
                "department": rng.choice(["Engineering", "采购部", None]),
                "type": rng.choice(TYPES),
                "power": rng.choice(LEVELS),
                "interest": rng.choice(LEVELS),
                "influence": rng.choice(LEVELS),
                "expectations": None,
                "needs": rng.choice(["更快交付", None]),
                "owner": None,
                "tags": rng.sample(TAGS, rng.randrange(4)),
                "notes": rng.choice(["Primary decision maker", "重要客户", None]),
            }
        )
    return records, orgs


def _rate(run: Callable[[], object], count: int, runs: int) -> float:
    rates = []
    for _ in range(runs):
        fastnorm.phone.cache_clear()
        fastnorm.email.cache_clear()
        fastnorm.phone_format.cache_clear()
        start = time.perf_counter()
        run()
        rates.append(count / (time.perf_counter() - start))
    return statistics.median(rates)


def _push(
    mapper: EntityMapper, records: list[dict[str, Any]], resolver: DictResolver
) -> list[dict[str, Any]]:
    return [mapper.to_remote(record, resolver) for record in records]


def _pull(mapper: EntityMapper, payloads: list[dict[str, Any]], resolver: DictResolver) -> None:
    for payload in payloads:
        mapper.to_canonical(payload, resolver)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mappings", default="zoho,csv,webhook")
    args = parser.parse_args()
    records, orgs = generate(args.records)
    print(f"{len(records):,} stakeholders, {args.runs} runs each, median records/s on one core")
    for name in args.mappings.split(","):
        mapping = load_mapping(
            shipped_mapping_path(name), phone_region="CN", timezone="Asia/Shanghai"
        )
        mapper = mapping.entity("stakeholders")
        links = orgs if name == "zoho" else {org: org.upper() for org in orgs}
        resolver = DictResolver({"organizations": {hub: ext for hub, ext in links.items()}})
        remote = _push(mapper, records, resolver)
        push_rate = _rate(partial(_push, mapper, records, resolver), len(records), args.runs)
        pull_rate = _rate(partial(_pull, mapper, remote, resolver), len(records), args.runs)
        back = mapper.to_canonical(remote[0], resolver)
        assert all(
            back[k] == records[0][k] for k in back if k in records[0] and k not in mapper.pull_only
        )
        print(
            f"{name:8s} push (canonical -> remote) {push_rate:>10,.0f}/s   "
            f"pull (remote -> canonical) {pull_rate:>10,.0f}/s"
        )


if __name__ == "__main__":
    main()
