"""The parsed form of a mapping file: pairs, entities, variants, and the keys each may have.

:func:`crmbridge.mapping.parse.parse_file` builds these from YAML;
:mod:`crmbridge.mapping.shipped` merges a file over the one it ``extends``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from crmbridge.mapping.problems import Loc
from crmbridge.mapping.values import lookup_field, normalise_value

__all__ = [
    "DIRECTIONS",
    "NOT_SET",
    "EntitySpec",
    "FieldPair",
    "FileSpec",
    "Step",
    "VariantSpec",
    "canonical_value",
]

DIRECTIONS: Final = ("both", "pull", "push")
TOP_KEYS: Final = ("connector", "extends", "description", "defaults", "entities")
DEFAULT_KEYS: Final = (
    "timezone",
    "phone_region",
    "date_format",
    "datetime_format",
    "list_separator",
    "nested_paths",
)
ENTITY_KEYS: Final = (
    "remote",
    "remote_id",
    "identity",
    "fields",
    "variant_by",
    "remote_key",
    "variants",
    "description",
)
VARIANT_KEYS: Final = ("remote", "when", "fields", "description")
PAIR_KEYS: Final = (
    "canonical",
    "remote",
    "direction",
    "transform",
    "const",
    "default",
    "type",
    "remote_custom",
    "with",
    "note",
    "remove",
)
PARTS: Final = ("given", "family")


class _NotSet(enum.Enum):
    NOT_SET = "not set"


NOT_SET: Final = _NotSet.NOT_SET


@dataclass(frozen=True, slots=True)
class Step:
    """One transform of a pair, with its arguments."""

    name: str
    args: Mapping[str, Any]
    loc: Loc


@dataclass(frozen=True, slots=True)
class FieldPair:
    """One canonical field (or name parts) paired with a remote field (or aliases, or name parts)."""

    loc: Loc
    canonical: str | None = None
    canonical_parts: tuple[str, str] | None = None
    remote: tuple[str, ...] = ()
    remote_parts: tuple[tuple[str, ...], tuple[str, ...]] | None = None
    direction: str = "both"
    steps: tuple[Step, ...] = ()
    const: Any = NOT_SET
    default: Any = NOT_SET
    kind: str | None = None
    remote_custom: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)
    note: str | None = None
    remove: bool = False

    @property
    def key(self) -> str:
        """What a pair in an extending file overrides: the canonical side, else the remote side."""
        if self.canonical_parts:
            return "+".join(self.canonical_parts)
        if self.canonical:
            return self.canonical
        return "remote:" + (self.remote[0] if self.remote else "")

    @property
    def pulls(self) -> bool:
        """Whether the pair maps remote -> canonical."""
        return self.direction != "push" and self.canonical_side

    @property
    def pushes(self) -> bool:
        """Whether the pair maps canonical -> remote."""
        return self.direction != "pull" and self.remote_side

    @property
    def canonical_side(self) -> bool:
        """Whether the pair has a canonical side."""
        return bool(self.canonical or self.canonical_parts)

    @property
    def remote_side(self) -> bool:
        """Whether the pair has a remote side."""
        return bool(self.remote or self.remote_parts)

    def remote_label(self) -> str:
        """The remote side as shown in tables."""
        if self.remote_parts:
            return f"given: {' | '.join(self.remote_parts[0])}, family: {' | '.join(self.remote_parts[1])}"
        return " | ".join(self.remote)

    def canonical_label(self) -> str:
        """The canonical side as shown in tables."""
        if self.canonical_parts:
            return f"given: {self.canonical_parts[0]}, family: {self.canonical_parts[1]}"
        return self.canonical or ""


@dataclass(frozen=True, slots=True)
class VariantSpec:
    """One remote object of an entity mapped to several (Zoho Calls, Events ... for interactions)."""

    name: str
    loc: Loc
    remote: str | None = None
    when: tuple[str, ...] = ()
    fields: tuple[FieldPair, ...] = ()


@dataclass(frozen=True, slots=True)
class EntitySpec:
    """One entity's section; ``None`` means "not given here" (an extending file inherits it)."""

    entity: str
    loc: Loc
    remote: str | None = None
    remote_id: tuple[str, ...] | None = None
    identity: tuple[str, ...] | None = None
    fields: tuple[FieldPair, ...] = ()
    variant_by: str | None = None
    remote_key: str | None = None
    variants: Mapping[str, VariantSpec] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FileSpec:
    """One mapping file as written, before ``extends`` is applied."""

    path: Path
    loc: Loc
    connector: str | None = None
    extends: str | None = None
    defaults: Mapping[str, tuple[Any, Loc]] = field(default_factory=dict)
    entities: Mapping[str, EntitySpec] = field(default_factory=dict)


def canonical_value(entity: str, name: str, kind: str | None, value: Any) -> Any:
    """``value`` checked as a canonical value of field ``name``; :class:`ValueError` if it cannot be one."""
    info = lookup_field(entity, name, kind)
    if info is None:
        raise ValueError(f"no field {name!r}")
    return normalise_value(info, value)
