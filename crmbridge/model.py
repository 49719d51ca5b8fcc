"""The canonical stakeholder model: what the hub stores, whatever the CRM.

Five entities, named in configs and mappings by their plural:

``organizations``       :class:`Organization` — the account a stakeholder belongs to
``stakeholders``        :class:`Stakeholder` — a person who affects or is affected by the work
``interactions``        :class:`Interaction` — one communication (沟通记录)
``requirements``        :class:`Requirement` — something a stakeholder asked for
``requirement_changes`` :class:`RequirementChange` — a change request (需求变更) with its history

Phones are parsed to E.164 (an extension kept after ``;ext=``) with the default
region given in the validation context (``Stakeholder.model_validate(data, context={"phone_region": "CN"})``);
without one, a phone must carry its country code. Emails are validated and
normalised with email-validator. Fields holding another entity's id are
*relations* (see :func:`relation_fields`); connectors translate them through
the hub's links.
"""

from __future__ import annotations

import enum
import hashlib
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime
from functools import cache
from typing import Any, ClassVar, Final

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    computed_field,
    field_validator,
    model_validator,
)

from crmbridge.errors import InvalidTransition
from crmbridge.normalize import email as _fast_email
from crmbridge.normalize import normalize_email, normalize_phone
from crmbridge.normalize import phone as _fast_phone

__all__ = [
    "ENTITIES",
    "ENTITY_ORDER",
    "IDENTITY_FIELDS",
    "CanonicalRecord",
    "ChangeStatus",
    "Channel",
    "Direction",
    "Interaction",
    "Level",
    "Organization",
    "Priority",
    "Quadrant",
    "Requirement",
    "RequirementChange",
    "Stakeholder",
    "StakeholderType",
    "Transition",
    "content_hash",
    "entity_model",
    "identity_index_keys",
    "identity_value",
    "normalize_email",
    "normalize_phone",
    "quadrant_for",
    "relation_fields",
]


class Level(enum.StrEnum):
    """How much power, interest or influence a stakeholder has over the work."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Quadrant(enum.StrEnum):
    """The power/interest grid's advice on how to engage a stakeholder."""

    MANAGE_CLOSELY = "manage_closely"
    KEEP_SATISFIED = "keep_satisfied"
    KEEP_INFORMED = "keep_informed"
    MONITOR = "monitor"


class StakeholderType(enum.StrEnum):
    """Who a stakeholder is to the work."""

    CUSTOMER = "customer"
    END_USER = "end_user"
    SUPPLIER = "supplier"
    PARTNER = "partner"
    REGULATOR = "regulator"
    INTERNAL = "internal"
    OTHER = "other"


class Channel(enum.StrEnum):
    """How an interaction happened."""

    CALL = "call"
    MEETING = "meeting"
    EMAIL = "email"
    MESSAGE = "message"
    VISIT = "visit"
    NOTE = "note"


class Direction(enum.StrEnum):
    """Who started an interaction."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"


class Priority(enum.StrEnum):
    """How much a requirement matters."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class ChangeStatus(enum.StrEnum):
    """Where a requirement change stands in identified -> analysed -> approved|rejected -> implemented."""

    IDENTIFIED = "identified"
    ANALYSED = "analysed"
    APPROVED = "approved"
    REJECTED = "rejected"
    IMPLEMENTED = "implemented"


ALLOWED_TRANSITIONS: Final[Mapping[ChangeStatus, frozenset[ChangeStatus]]] = {
    ChangeStatus.IDENTIFIED: frozenset({ChangeStatus.ANALYSED}),
    ChangeStatus.ANALYSED: frozenset({ChangeStatus.APPROVED, ChangeStatus.REJECTED}),
    ChangeStatus.APPROVED: frozenset({ChangeStatus.IMPLEMENTED}),
    ChangeStatus.REJECTED: frozenset(),
    ChangeStatus.IMPLEMENTED: frozenset(),
}


def quadrant_for(power: Level | None, interest: Level | None) -> Quadrant | None:
    """Place a stakeholder on the power/interest grid.

    The grid splits each axis at its midpoint; ``medium`` sits on the line and
    counts as high, so nobody who might matter is left to "monitor".
    Unknown power or interest gives no quadrant.
    """
    if power is None or interest is None:
        return None
    strong = power is not Level.LOW
    engaged = interest is not Level.LOW
    if strong and engaged:
        return Quadrant.MANAGE_CLOSELY
    if strong:
        return Quadrant.KEEP_SATISFIED
    if engaged:
        return Quadrant.KEEP_INFORMED
    return Quadrant.MONITOR


def _new_id() -> str:
    return uuid.uuid4().hex


def _now() -> datetime:
    return datetime.now(UTC)


def _relation(entity: str) -> Any:
    return {"x-relation": entity}


class CanonicalRecord(BaseModel):
    """Fields every canonical record has: a stable id, timestamps and custom fields.

    ``custom`` holds fields the model does not name (a CRM's custom fields),
    keyed by the name the mapping gives them.
    """

    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, use_enum_values=False, str_strip_whitespace=True
    )

    entity: ClassVar[str]
    """The plural name configs and mappings use for this entity."""
    system_fields: ClassVar[frozenset[str]] = frozenset({"id", "created_at", "updated_at"})
    """Fields crmbridge keeps itself; they are not synced content."""

    id: str = Field(default_factory=_new_id, description="Stable crmbridge id.")
    created_at: datetime = Field(default_factory=_now)
    updated_at: datetime = Field(default_factory=_now)
    custom: dict[str, Any] = Field(default_factory=dict)
    archived: bool = Field(
        default=False,
        description="Deleted in a connected system under a job's `archive` policy; kept for history.",
    )

    @field_validator("created_at", "updated_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("needs a time zone (for example 2026-11-26T14:05:00+08:00)")
        return value

    def content(self) -> dict[str, Any]:
        """The synced content as JSON-ready data: every field but the system ones.

        Computed fields (a stakeholder's quadrant) are left out too: they follow
        from the content, and are not worked out only to be dropped.
        """
        return self.model_dump(mode="json", exclude=_not_content(type(self)))


@cache
def _not_content(model: type[CanonicalRecord]) -> set[str]:
    """What :meth:`CanonicalRecord.content` leaves out of a model's dump (shared: never change it)."""
    return set(model.system_fields) | set(model.model_computed_fields)


class _ContactDetails(CanonicalRecord):
    phone: str | None = None
    email: str | None = None

    @field_validator("email", "secondary_email", check_fields=False)
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return _fast_email(value.strip()) if value else None

    @field_validator("phone", "mobile", check_fields=False)
    @classmethod
    def _phone(cls, value: str | None, info: ValidationInfo) -> str | None:
        if not value:
            return None
        region = (info.context or {}).get("phone_region")
        return _fast_phone(value.strip(), region)


class Organization(_ContactDetails):
    """The account a stakeholder belongs to."""

    entity: ClassVar[str] = "organizations"

    name: str = Field(min_length=1)
    industry: str | None = None
    website: str | None = None
    address: str | None = None
    city: str | None = None
    country: str | None = None
    description: str | None = None
    owner: str | None = None
    tags: list[str] = Field(default_factory=list)


class Stakeholder(_ContactDetails):
    """A person who affects or is affected by the work (干系人).

    A name may come split (``given_name``/``family_name``) or whole
    (``full_name``, as CJK names usually are); at least one is required.
    """

    entity: ClassVar[str] = "stakeholders"

    full_name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    secondary_email: str | None = None
    mobile: str | None = None
    organization_id: str | None = Field(default=None, json_schema_extra=_relation("organizations"))
    title: str | None = None
    department: str | None = None
    type: StakeholderType = StakeholderType.CUSTOMER
    power: Level | None = None
    interest: Level | None = None
    influence: Level | None = None
    expectations: str | None = None
    needs: str | None = None
    owner: str | None = None
    tags: list[str] = Field(default_factory=list)
    notes: str | None = None

    @model_validator(mode="after")
    def _has_a_name(self) -> Stakeholder:
        if not (self.full_name or self.given_name or self.family_name):
            raise ValueError("a stakeholder needs full_name, or given_name and/or family_name")
        return self

    @computed_field  # type: ignore[prop-decorator]
    @property
    def quadrant(self) -> Quadrant | None:
        """Engagement advice from the power/interest grid (see :func:`quadrant_for`)."""
        return quadrant_for(self.power, self.interest)


class Interaction(CanonicalRecord):
    """One communication with stakeholders (沟通记录): call, meeting, email, message, visit or note."""

    entity: ClassVar[str] = "interactions"

    channel: Channel
    direction: Direction | None = None
    occurred_at: datetime
    duration_minutes: int | None = Field(default=None, ge=0)
    subject: str | None = None
    summary: str | None = None
    outcome: str | None = None
    follow_up: str | None = None
    follow_up_due: date | None = None
    participant_ids: list[str] = Field(
        default_factory=list, json_schema_extra=_relation("stakeholders")
    )
    organization_id: str | None = Field(default=None, json_schema_extra=_relation("organizations"))
    owner: str | None = None

    @field_validator("occurred_at")
    @classmethod
    def _occurred_aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("needs a time zone (for example 2026-11-26T14:05:00+08:00)")
        return value


class Requirement(CanonicalRecord):
    """Something a stakeholder asked of the work, with its priority."""

    entity: ClassVar[str] = "requirements"

    title: str = Field(min_length=1)
    description: str | None = None
    priority: Priority = Priority.MEDIUM
    stakeholder_id: str | None = Field(default=None, json_schema_extra=_relation("stakeholders"))
    organization_id: str | None = Field(default=None, json_schema_extra=_relation("organizations"))
    owner: str | None = None


class Transition(BaseModel):
    """One step in a requirement change's history: from, to, who, when and why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    from_status: ChangeStatus | None
    to_status: ChangeStatus
    by: str | None = None
    at: datetime
    note: str | None = None


class RequirementChange(CanonicalRecord):
    """A change request (需求变更) moving identified -> analysed -> approved|rejected -> implemented.

    Use :meth:`transition` to move it; every step is kept in ``history`` so the
    change stays traceable. A record that arrives with a history must have one
    that is legal and ends at its ``status``.
    """

    entity: ClassVar[str] = "requirement_changes"

    title: str = Field(min_length=1)
    requirement_id: str | None = Field(default=None, json_schema_extra=_relation("requirements"))
    requested_by_id: str | None = Field(default=None, json_schema_extra=_relation("stakeholders"))
    description: str | None = None
    reason: str | None = None
    impact: str | None = None
    priority: Priority = Priority.MEDIUM
    status: ChangeStatus = ChangeStatus.IDENTIFIED
    decided_by: str | None = None
    decided_at: datetime | None = None
    history: list[Transition] = Field(default_factory=list)

    @model_validator(mode="after")
    def _history_is_legal(self) -> RequirementChange:
        previous: ChangeStatus | None = None
        for step in self.history:
            if step.from_status != previous:
                raise ValueError(
                    f"history breaks at {step.to_status.value}: it starts from "
                    f"{step.from_status.value if step.from_status else 'nothing'}, "
                    f"but the status before was {previous.value if previous else 'nothing'}"
                )
            if previous is not None and step.to_status not in ALLOWED_TRANSITIONS[previous]:
                raise ValueError(f"history moves {previous.value} -> {step.to_status.value}")
            previous = step.to_status
        if previous is not None and previous != self.status:
            raise ValueError(
                f"status is {self.status.value} but the history ends at {previous.value}"
            )
        return self

    def transition(
        self,
        to: ChangeStatus,
        *,
        by: str | None = None,
        at: datetime | None = None,
        note: str | None = None,
    ) -> RequirementChange:
        """Return a copy moved to ``to``, with the step appended to its history.

        Raises :class:`~crmbridge.errors.InvalidTransition` for a move the
        workflow does not allow (for example identified -> implemented).
        """
        allowed = ALLOWED_TRANSITIONS[self.status]
        if to not in allowed:
            choices = ", ".join(sorted(s.value for s in allowed)) or "none: it is final"
            raise InvalidTransition(
                f"a requirement change cannot move from {self.status.value} to {to.value} "
                f"(allowed: {choices})",
                entity=self.entity,
                field="status",
            )
        when = at or _now()
        history = list(self.history)
        if not history:
            history.append(Transition(from_status=None, to_status=self.status, at=self.created_at))
        history.append(Transition(from_status=self.status, to_status=to, by=by, at=when, note=note))
        decided = to in (ChangeStatus.APPROVED, ChangeStatus.REJECTED)
        return self.model_copy(
            update={
                "status": to,
                "history": history,
                "decided_by": by if decided else self.decided_by,
                "decided_at": when if decided else self.decided_at,
                "updated_at": when,
            }
        )


ENTITIES: Final[Mapping[str, type[CanonicalRecord]]] = {
    model.entity: model
    for model in (Organization, Stakeholder, Interaction, Requirement, RequirementChange)
}
"""Every canonical entity by its plural name."""

ENTITY_ORDER: Final[tuple[str, ...]] = tuple(ENTITIES)
"""Parents before children: the order a sync visits entities in."""


def entity_model(entity: str) -> type[CanonicalRecord]:
    """The model class for an entity's plural name; :class:`KeyError` names the choices."""
    try:
        return ENTITIES[entity]
    except KeyError:
        raise KeyError(f"unknown entity {entity!r}; choose one of {', '.join(ENTITIES)}") from None


def relation_fields(entity: str) -> dict[str, str]:
    """Fields of ``entity`` that hold other records' ids, mapped to the entity they point at."""
    found: dict[str, str] = {}
    for name, info in entity_model(entity).model_fields.items():
        extra = info.json_schema_extra
        if isinstance(extra, dict) and isinstance(extra.get("x-relation"), str):
            found[name] = str(extra["x-relation"])
    return found


IDENTITY_FIELDS: Final[Mapping[str, Mapping[str, str]]] = {
    "organizations": {"name": "name", "email": "email", "phone": "phone"},
    "stakeholders": {
        "email": "email",
        "secondary_email": "email",
        "mobile": "phone",
        "phone": "phone",
    },
}
"""Fields that identify a record, by entity, each with the *kind* of key it gives.

The hub indexes these so a first sync can find a remote record's existing
twin: a remote email is looked for among both ``email`` and
``secondary_email``. A mapping's identity rules name fields from here, or
``id`` (the crmbridge id itself).
"""


_E164 = re.compile(r"\+[1-9][0-9]{1,14}")


def identity_value(kind: str, value: Any, region: str | None = None) -> str | None:
    """The comparable form of an identity value: emails and names case-folded, phones as E.164.

    A phone keeps its extension (``+861088880000;ext=1``): people behind one
    switchboard number are different people. A phone that does not parse is compared as written (it will not validate anyway).
    """
    if value is None:
        return None
    text = " ".join(str(value).split())
    if not text:
        return None
    if kind == "phone":
        try:
            return _fast_phone(text, region)
        except ValueError:
            return text
    return text if kind == "id" else text.casefold()


def identity_index_keys(entity: str, content: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The ``(kind, value)`` keys the hub indexes for one record's content."""
    keys: list[tuple[str, str]] = []
    for name, kind in IDENTITY_FIELDS.get(entity, {}).items():
        raw = content.get(name)
        if kind == "phone" and isinstance(raw, str) and _E164.fullmatch(raw):
            value: str | None = raw  # stored phones are validated E.164 already
        else:
            value = identity_value(kind, raw)
        if value is not None and (kind, value) not in keys:
            keys.append((kind, value))
    return keys


def content_hash(content: Mapping[str, Any]) -> str:
    """A stable hash of a record's synced content (key order and spacing do not matter)."""
    plain = content if type(content) is dict else dict(content)
    return hashlib.sha256(orjson.dumps(plain, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]
