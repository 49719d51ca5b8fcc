"""Flat canonical values <-> the hub's stored content, validated by the canonical model.

The hub stores a record's content as :meth:`CanonicalRecord.content` gives it
(custom fields nested under ``custom``); the merge works on flat values
(``custom.<name>`` keys). A record only enters the hub after the model has
validated it, so the hub never holds a phone that is not E.164 or a
requirement change with an illegal history.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any

from pydantic import TypeAdapter, ValidationError

from crmbridge.errors import RecordRejected
from crmbridge.model import content_hash, entity_model

__all__ = [
    "blank_defaults",
    "flatten",
    "held_values",
    "project",
    "remote_fields",
    "said_fields",
    "unflatten",
    "validated_content",
]

_CUSTOM = "custom."
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def flatten(content: Mapping[str, Any]) -> dict[str, Any]:
    """Stored content -> flat values (``custom`` spread into ``custom.<name>`` keys)."""
    flat = {k: v for k, v in content.items() if k != "custom"}
    for name, value in (content.get("custom") or {}).items():
        flat[_CUSTOM + name] = value
    return flat


def unflatten(flat: Mapping[str, Any], blank_dropped: Collection[str] = ()) -> dict[str, Any]:
    """Flat values -> content shape (``custom.<name>`` keys gathered under ``custom``).

    A field named in ``blank_dropped`` is left out when its value is ``None``.
    """
    content: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    for key, value in flat.items():
        if value is None and key in blank_dropped:
            continue
        if key.startswith(_CUSTOM):
            custom[key[len(_CUSTOM) :]] = value
        else:
            content[key] = value
    if custom:
        content["custom"] = custom
    return content


def held_values(flat: Mapping[str, Any], content: Mapping[str, Any]) -> dict[str, Any]:
    """The stored values (``content``, validated) of just the fields ``flat`` holds, and its id.

    What a remote record says of the hub: a value the model normalises is no
    change, and a field the remote does not hold clears nothing.
    """
    # by flat's keys, fewer than the content's: what flatten(content) holds of them
    custom = content.get("custom") or {}
    held: dict[str, Any] = {}
    for key in flat:
        if key.startswith(_CUSTOM):
            name = key[len(_CUSTOM) :]
            if name in custom:
                held[key] = custom[name]
        elif key != "custom" and key in content:
            held[key] = content[key]
    if flat.get("id"):
        held["id"] = flat["id"]
    return held


def remote_fields(fields: Iterable[str], held: Mapping[str, Any]) -> dict[str, Any]:
    """What a remote record says of the mapping's ``fields``: those ``held`` holds.

    A pulled record's link keeps this as its shadow, the base of the next merge.
    """
    return {name: held[name] for name in fields if name in held}


def said_fields(
    fields: Iterable[str], flat: Mapping[str, Any], content: Mapping[str, Any]
) -> dict[str, Any]:
    """``remote_fields(fields, held_values(flat, content))`` in one pass, for a new record."""
    custom = content.get("custom") or {}
    said: dict[str, Any] = {}
    for name in fields:
        if name not in flat:
            continue
        if name.startswith(_CUSTOM):
            key = name[len(_CUSTOM) :]
            if key in custom:
                said[name] = custom[key]
        elif name != "custom" and name != "id" and name in content:
            said[name] = content[name]
    return said


def project(flat: Mapping[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    """Only ``fields`` of ``flat``; an absent field reads as ``None``."""
    return {name: flat.get(name) for name in fields}


@cache
def _blank_means_default(entity: str) -> frozenset[str]:
    """Fields of ``entity`` that cannot be blank but have a default, which a blank stands for.

    A stakeholder's ``type`` is one: a blank CSV cell or an emptied pick list maps to
    ``None``, and the record would otherwise be rejected on every run.
    """
    names = set()
    for name, info in entity_model(entity).model_fields.items():
        if info.is_required() or info.annotation is None:
            continue
        try:
            TypeAdapter(info.annotation).validate_python(None)
        except ValidationError:
            names.add(name)
    return frozenset(names)


@cache
def blank_defaults(entity: str) -> dict[str, Any]:
    """The default a blank stands for, by field (see :func:`validated_content`), as stored."""
    model = entity_model(entity)
    found: dict[str, Any] = {}
    for name in _blank_means_default(entity) - set(model.system_fields):
        info = model.model_fields[name]
        default = info.get_default(call_default_factory=True)
        found[name] = TypeAdapter(Any).dump_python(default, mode="json")
    return found


def validated_content(
    entity: str,
    flat: Mapping[str, Any],
    *,
    phone_region: str | None = None,
) -> tuple[dict[str, Any], str]:
    """Validate flat values with the canonical model; return stored content and its hash.

    A blank (``None``) in a field that cannot be blank but has a default takes the
    default. Raises :class:`RecordRejected` naming the first bad field and why.
    """
    data = unflatten(flat, _blank_means_default(entity))
    # system fields are left out of the content; fixed stand-ins spare their factories
    data.update(id="-", created_at=_EPOCH, updated_at=_EPOCH)
    try:
        record = entity_model(entity).model_validate(data, context={"phone_region": phone_region})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        raise RecordRejected(
            first["msg"].removeprefix("Value error, "),
            code="INVALID_VALUE",
            entity=entity,
            field=field,
        ) from None
    content = record.content()
    return content, content_hash(content)
