"""Canonical fields and their values, as a mapping sees them.

A mapping works on *flat canonical values*: a dict keyed by canonical field
name (custom fields as ``custom.<name>``), holding JSON-ready values in one
representation, the one :meth:`CanonicalRecord.content` gives once the hub
has stored a record:

=============  ===============================================================
kind           canonical value
=============  ===============================================================
``text``       a stripped, non-empty ``str`` (an empty string becomes ``None``)
``enum``       the member's string value (``"high"``)
``integer``    ``int``; ``number`` a ``float`` or ``int``; ``boolean`` ``bool``
``date``       ``"YYYY-MM-DD"``
``datetime``   ISO 8601 in UTC with a ``Z``: ``"2026-11-26T06:05:00Z"``
               (microseconds only when not zero, as pydantic writes them)
``list``       a list of non-empty strings, ``[]`` when empty (never ``None``)
``json``       any JSON value, passed through untouched
=============  ===============================================================

Relation fields (see :func:`crmbridge.model.relation_fields`) are ``text``
or ``list`` fields holding crmbridge ids. :func:`from_model` turns a model
instance into flat values; :func:`to_canonical_value` normalises one value.
"""

from __future__ import annotations

import enum
import functools
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from typing import Any, Final

from crmbridge.model import CanonicalRecord, entity_model, relation_fields

__all__ = [
    "CUSTOM_PREFIX",
    "KINDS",
    "CanonicalField",
    "canonical_datetime",
    "canonical_fields",
    "custom_field",
    "from_model",
    "lookup_field",
    "normalise_value",
    "to_canonical_value",
]

CUSTOM_PREFIX: Final = "custom."
KINDS: Final = ("text", "enum", "integer", "number", "boolean", "date", "datetime", "list", "json")
"""Every value kind; a custom field declares one of these with ``type:`` (default ``json``)."""


@dataclass(frozen=True, slots=True)
class CanonicalField:
    """One canonical field: its kind, allowed choices, whether the model requires it, its relation."""

    name: str
    kind: str
    choices: tuple[str, ...] = ()
    required: bool = False
    relation: str | None = None


def _kind_of(annotation: Any) -> tuple[str, tuple[str, ...], bool]:
    """(kind, enum choices, optional) of a pydantic field annotation."""
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    optional = False
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        optional = len(rest) < len(args)
        annotation = rest[0] if len(rest) == 1 else annotation
        origin = typing.get_origin(annotation)
    if origin is list:
        (item,) = typing.get_args(annotation)
        return ("list" if item is str else "json"), (), optional
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "enum", tuple(str(m.value) for m in annotation), optional
    simple = {str: "text", int: "integer", float: "number", bool: "boolean"}
    if annotation in simple:
        return simple[annotation], (), optional
    if annotation is datetime:
        return "datetime", (), optional
    if annotation is date:
        return "date", (), optional
    return "json", (), optional


@functools.cache
def canonical_fields(entity: str) -> Mapping[str, CanonicalField]:
    """Every field of ``entity`` a mapping may name: its content fields and ``id``.

    Raises :class:`KeyError` naming the entities for an unknown one.
    """
    model = entity_model(entity)
    relations = relation_fields(entity)
    fields: dict[str, CanonicalField] = {"id": CanonicalField("id", "text")}
    for name, info in model.model_fields.items():
        if name in model.system_fields or name == "custom":
            continue
        kind, choices, optional = _kind_of(info.annotation)
        required = info.is_required() and not optional
        fields[name] = CanonicalField(name, kind, choices, required, relations.get(name))
    return types.MappingProxyType(fields)


def custom_field(name: str, kind: str = "json") -> CanonicalField:
    """The description of custom field ``custom.<name>`` of the given kind."""
    return CanonicalField(name, kind)


def lookup_field(entity: str, name: str, kind: str | None = None) -> CanonicalField | None:
    """The canonical field ``name`` of ``entity`` (``custom.x`` fields of ``kind``), or ``None``."""
    if name.startswith(CUSTOM_PREFIX) and len(name) > len(CUSTOM_PREFIX):
        return custom_field(name, kind or "json")
    return canonical_fields(entity).get(name)


def canonical_datetime(value: datetime | str, zone: tzinfo = UTC) -> str:
    """An instant as canonical text: ISO 8601 in UTC with ``Z``; naive values are read in ``zone``."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    text = moment.astimezone(UTC).isoformat()
    return text[:-6] + "Z"


def to_canonical_value(entity: str, name: str, value: Any) -> Any:
    """``value`` of canonical field ``name`` in its canonical representation (see the module doc).

    Raises :class:`ValueError` when the value cannot be one of that field.
    """
    field = lookup_field(entity, name)
    if field is None:
        raise ValueError(f"{entity} has no field {name!r}")
    return normalise_value(field, value)


def normalise_value(field: CanonicalField, value: Any) -> Any:
    """``value`` in the canonical representation of ``field``'s kind; :class:`ValueError` if it cannot be."""
    kind = field.kind
    if kind == "list":
        if value is None:
            return []
        items = [str(v.value if isinstance(v, enum.Enum) else v).strip() for v in value]
        return [item for item in items if item]
    if kind == "json":
        return value
    if isinstance(value, str):
        value = value.strip() or None
    if value is None:
        return None
    if isinstance(value, enum.Enum):
        value = value.value
    if kind == "datetime":
        return canonical_datetime(value)
    if kind == "date":
        return (value if isinstance(value, date) else date.fromisoformat(str(value))).isoformat()
    if kind == "enum" and str(value) not in field.choices:
        raise ValueError(f"{value!r} is not one of {', '.join(field.choices)}")
    return str(value) if kind in ("text", "enum") else value


def from_model(record: CanonicalRecord) -> dict[str, Any]:
    """A model instance as flat canonical values: content fields, ``custom.<name>`` and ``id``."""
    content = record.content()
    fields = canonical_fields(record.entity)
    flat: dict[str, Any] = {"id": record.id}
    for name, value in content.items():
        if name == "custom":
            for key, item in value.items():
                flat[CUSTOM_PREFIX + key] = item
        elif name in fields:
            flat[name] = normalise_value(fields[name], value)
    return flat
