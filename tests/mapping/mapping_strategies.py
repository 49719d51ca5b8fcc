"""Hypothesis strategies for canonical records in canonical form (what the hub holds)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import phonenumbers
from hypothesis import strategies as st

from crmbridge.mapping.values import CanonicalField, canonical_datetime, canonical_fields
from crmbridge.model import normalize_email

LINKED: dict[str, dict[str, str]] = {
    entity: {f"{entity[:3]}-{i}": f"{4150868000000000000 + i * 7919}" for i in range(5)}
    for entity in ("organizations", "stakeholders", "requirements")
}
"""Hub id -> remote id for the records relations may point at."""

CJK = "欧阳娜司马诸葛亮李王小明张伟芳重要客户需求变更会议"
TEXT = (
    st.text(
        alphabet=st.one_of(
            st.sampled_from(CJK), st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"))
        ),
        min_size=1,
        max_size=24,
    )
    .map(str.strip)
    .filter(bool)
)
ITEM = TEXT.filter(lambda t: ";" not in t)


def _phones() -> list[str]:
    found = []
    for region in ("CN", "US", "GB", "DE", "JP", "IT", "FR", "SG"):
        for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE):
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                found.append(
                    phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
                )
    return found


PHONES = _phones()


def _email(text: str) -> str | None:
    try:
        return normalize_email(text)
    except ValueError:
        return None


EMAIL = st.one_of(
    st.emails().map(_email).filter(lambda e: e is not None),
    st.sampled_from(["Zhang.Wei@example.com", "na.na@corp.cn", "o'neil+crm@mail.de"]),
)
MOMENT = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)).map(
    lambda d: canonical_datetime(d.replace(microsecond=0, tzinfo=UTC))
)
HISTORY = st.lists(
    st.fixed_dictionaries(
        {
            "from_status": st.none() | st.sampled_from(["identified", "analysed"]),
            "to_status": st.sampled_from(["analysed", "approved"]),
            "at": MOMENT,
            "by": st.none() | TEXT,
            "note": st.none() | TEXT,
        }
    ),
    max_size=3,
)


def value_strategy(entity: str, field: CanonicalField) -> st.SearchStrategy[Any]:
    """Canonical values of one field, ``None`` included when the model allows it."""
    name, kind = field.name, field.kind
    if field.relation:
        ids = st.sampled_from(sorted(LINKED[field.relation]))
        return st.lists(ids, max_size=3) if kind == "list" else st.none() | ids
    if name in ("phone", "mobile"):
        base: st.SearchStrategy[Any] = st.sampled_from(PHONES)
    elif "email" in name:
        base = EMAIL
    elif name == "id":
        base = st.uuids().map(lambda u: u.hex)
    elif kind == "enum":
        base = st.sampled_from(field.choices)
    elif kind == "datetime":
        base = MOMENT
    elif kind == "date":
        base = st.dates(min_value=datetime(1900, 1, 1).date()).map(lambda d: d.isoformat())
    elif kind == "integer":
        base = st.integers(min_value=0, max_value=100_000)
    elif kind == "boolean":
        base = st.booleans()
    elif kind == "list":
        return st.lists(ITEM, max_size=4)
    elif kind == "json":
        return HISTORY
    else:
        base = TEXT
    required = field.required or (kind == "enum" and name in ("type", "priority", "status"))
    return base if required else st.none() | base


def records(entity: str) -> st.SearchStrategy[dict[str, Any]]:
    """Flat canonical records of ``entity``."""
    fields = canonical_fields(entity)
    return st.fixed_dictionaries({name: value_strategy(entity, f) for name, f in fields.items()})
