"""The canonical model: validation a user relies on when records come from anywhere."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from crmbridge.errors import InvalidTransition
from crmbridge.model import (
    ENTITIES,
    ChangeStatus,
    Interaction,
    Level,
    Organization,
    Quadrant,
    RequirementChange,
    Stakeholder,
    content_hash,
    quadrant_for,
    relation_fields,
)

CN = {"phone_region": "CN"}


def test_phone_with_default_region_becomes_e164() -> None:
    person = Stakeholder.model_validate({"full_name": "王伟", "phone": "138 0013 8000"}, context=CN)
    assert person.phone == "+8613800138000"


def test_international_phone_needs_no_region() -> None:
    person = Stakeholder(full_name="Anna Schmidt", mobile="+49 30 901820")
    assert person.mobile == "+4930901820"


def test_invalid_phone_names_field_and_value() -> None:
    with pytest.raises(ValidationError) as caught:
        Stakeholder.model_validate({"full_name": "李娜", "phone": "12345"}, context=CN)
    error = caught.value.errors()[0]
    assert error["loc"] == ("phone",)
    assert "'12345'" in error["msg"]


def test_local_phone_without_region_explains_why() -> None:
    with pytest.raises(ValidationError, match="no default phone region"):
        Stakeholder(full_name="李娜", phone="138 0013 8000")


def test_email_normalised_and_invalid_rejected() -> None:
    assert Stakeholder(full_name="A", email=" Li.Na@EXAMPLE.cn ").email == "Li.Na@example.cn"
    with pytest.raises(ValidationError) as caught:
        Stakeholder(full_name="A", email="li.na@")
    assert caught.value.errors()[0]["loc"] == ("email",)
    assert "'li.na@'" in caught.value.errors()[0]["msg"]


def test_cjk_name_without_split_is_enough_but_some_name_is_required() -> None:
    assert Stakeholder(full_name="欧阳娜娜").full_name == "欧阳娜娜"
    assert Stakeholder(family_name="Smith").family_name == "Smith"
    with pytest.raises(ValidationError, match="needs full_name"):
        Stakeholder(email="a@example.com")


@pytest.mark.parametrize(
    ("power", "interest", "expected"),
    [
        (Level.HIGH, Level.HIGH, Quadrant.MANAGE_CLOSELY),
        (Level.HIGH, Level.LOW, Quadrant.KEEP_SATISFIED),
        (Level.LOW, Level.HIGH, Quadrant.KEEP_INFORMED),
        (Level.LOW, Level.LOW, Quadrant.MONITOR),
        (Level.MEDIUM, Level.LOW, Quadrant.KEEP_SATISFIED),
        (None, Level.HIGH, None),
    ],
)
def test_quadrant_follows_power_and_interest(
    power: Level | None, interest: Level | None, expected: Quadrant | None
) -> None:
    person = Stakeholder(full_name="Chen Jie", power=power, interest=interest)
    assert person.quadrant == expected
    assert "quadrant" not in person.content()


@given(st.sampled_from(list(Level)), st.sampled_from(list(Level)))
def test_more_power_or_interest_never_means_less_attention(power: Level, interest: Level) -> None:
    rank = {Quadrant.MONITOR: 0, Quadrant.KEEP_INFORMED: 1, Quadrant.KEEP_SATISFIED: 1}
    rank[Quadrant.MANAGE_CLOSELY] = 2
    here = quadrant_for(power, interest)
    assert here is not None
    assert rank[quadrant_for(Level.HIGH, interest) or here] >= rank[here]
    assert rank[quadrant_for(power, Level.HIGH) or here] >= rank[here]


def test_requirement_change_walks_the_workflow_and_keeps_history() -> None:
    change = RequirementChange(title="Export reports as PDF")
    at = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
    done = (
        change.transition(ChangeStatus.ANALYSED, by="pm", at=at, note="2 days of work")
        .transition(ChangeStatus.APPROVED, by="sponsor", at=at)
        .transition(ChangeStatus.IMPLEMENTED, by="dev", at=at)
    )
    assert done.status is ChangeStatus.IMPLEMENTED
    assert [(t.from_status, t.to_status) for t in done.history] == [
        (None, ChangeStatus.IDENTIFIED),
        (ChangeStatus.IDENTIFIED, ChangeStatus.ANALYSED),
        (ChangeStatus.ANALYSED, ChangeStatus.APPROVED),
        (ChangeStatus.APPROVED, ChangeStatus.IMPLEMENTED),
    ]
    assert done.history[1].note == "2 days of work"
    assert (done.decided_by, done.decided_at) == ("sponsor", at)
    assert change.status is ChangeStatus.IDENTIFIED, "transition returns a copy"


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ([], ChangeStatus.IMPLEMENTED),
        ([], ChangeStatus.APPROVED),
        ([ChangeStatus.ANALYSED, ChangeStatus.REJECTED], ChangeStatus.IMPLEMENTED),
    ],
)
def test_illegal_transition_is_refused_clearly(
    path: list[ChangeStatus], target: ChangeStatus
) -> None:
    change = RequirementChange(title="x")
    for step in path:
        change = change.transition(step)
    with pytest.raises(InvalidTransition, match=f"cannot move from .* to {target.value}"):
        change.transition(target)


def test_record_with_inconsistent_history_is_rejected() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ValidationError, match="history moves identified -> implemented"):
        RequirementChange(
            title="x",
            status=ChangeStatus.IMPLEMENTED,
            history=[
                {"from_status": None, "to_status": "identified", "at": at},
                {"from_status": "identified", "to_status": "implemented", "at": at},
            ],
        )


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValidationError, match="needs a time zone"):
        Interaction(channel="call", occurred_at=datetime(2026, 11, 26, 14, 5))


def test_relations_are_declared() -> None:
    assert relation_fields("stakeholders") == {"organization_id": "organizations"}
    assert relation_fields("interactions") == {
        "participant_ids": "stakeholders",
        "organization_id": "organizations",
    }
    assert set(ENTITIES) == {
        "organizations",
        "stakeholders",
        "interactions",
        "requirements",
        "requirement_changes",
    }


def test_content_hash_ignores_key_order_and_system_fields() -> None:
    a = Organization(name="华为技术有限公司", custom={"区域": "华南"})
    b = Organization(name="华为技术有限公司", custom={"区域": "华南"})
    assert a.id != b.id
    assert content_hash(a.content()) == content_hash(b.content())
    reordered = dict(reversed(list(a.content().items())))
    assert content_hash(reordered) == content_hash(a.content())
    assert content_hash({**a.content(), "name": "华为"}) != content_hash(a.content())
