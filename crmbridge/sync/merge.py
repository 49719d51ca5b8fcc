"""Field-level three-way merge: base = shadow, ours = hub, theirs = remote.

A pure function of its inputs. For each mapped field:

- both sides hold the same value: nothing to do (this is how our own write,
  coming back, is recognised as an echo);
- only one side moved away from the base: that side's value wins;
- both moved, to different values: a *conflict*, settled by the field's
  policy or, under ``manual``, held for a person while the rest of the record
  still syncs.

Policies: ``newest`` (the side modified last; on a tie the hub wins, so the
outcome never depends on timing), ``hub``, ``remote``, ``prefer_non_empty``
(the side holding a value; if both do, as ``newest``), ``manual``.

A field synced one way only follows its source: a ``pull`` field takes the
remote's value whenever the two differ, a ``push`` field the hub's.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

__all__ = [
    "MISSING",
    "ConflictPolicy",
    "FieldConflict",
    "MergeResult",
    "Policy",
    "is_empty",
    "merge",
]


class _Missing(enum.Enum):
    MISSING = "missing"

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing.MISSING
"""A field the base does not hold (a record never synced before)."""


class Policy(enum.StrEnum):
    """How a conflicting field is settled."""

    NEWEST = "newest"
    HUB = "hub"
    REMOTE = "remote"
    PREFER_NON_EMPTY = "prefer_non_empty"
    MANUAL = "manual"


@dataclass(frozen=True, slots=True)
class ConflictPolicy:
    """A job's conflict rules: one default and per-field overrides."""

    default: Policy = Policy.NEWEST
    fields: Mapping[str, Policy] = field(default_factory=dict)

    def for_field(self, name: str) -> Policy:
        """The policy that settles ``name``."""
        return self.fields.get(name, self.default)


@dataclass(frozen=True, slots=True)
class FieldConflict:
    """One field changed on both sides, with the three values and how it was settled.

    ``winner`` is ``"hub"`` or ``"remote"``, or ``None`` when it is held for a person.
    """

    field: str
    base: Any
    hub: Any
    remote: Any
    policy: Policy
    winner: str | None


@dataclass(slots=True)
class MergeResult:
    """What a merge decided.

    ``to_hub`` are values the hub must take, ``to_remote`` values the remote
    must take, ``shadow`` the values both sides will agree on once those are
    written, ``conflicts`` every field changed on both sides (settled or held).
    """

    to_hub: dict[str, Any] = field(default_factory=dict)
    to_remote: dict[str, Any] = field(default_factory=dict)
    shadow: dict[str, Any] = field(default_factory=dict)
    conflicts: list[FieldConflict] = field(default_factory=list)

    @property
    def held(self) -> list[FieldConflict]:
        """Conflicts waiting for a person."""
        return [c for c in self.conflicts if c.winner is None]


def is_empty(value: Any) -> bool:
    """``None``, an empty string or an empty collection: no value worth keeping."""
    return value is None or value is MISSING or (isinstance(value, str | list | dict) and not value)


def _settle(
    policy: Policy, hub: Any, remote: Any, hub_at: datetime | None, remote_at: datetime | None
) -> str | None:
    if policy is Policy.HUB:
        return "hub"
    if policy is Policy.REMOTE:
        return "remote"
    if policy is Policy.MANUAL:
        return None
    if policy is Policy.PREFER_NON_EMPTY:
        hub_empty, remote_empty = is_empty(hub), is_empty(remote)
        if hub_empty != remote_empty:
            return "remote" if hub_empty else "hub"
    if hub_at is not None and remote_at is not None and remote_at > hub_at:
        return "remote"
    if hub_at is None and remote_at is not None:
        return "remote"
    return "hub"


def merge(
    base: Mapping[str, Any] | None,
    hub: Mapping[str, Any],
    remote: Mapping[str, Any],
    *,
    fields: Iterable[str],
    policy: ConflictPolicy,
    hub_modified_at: datetime | None = None,
    remote_modified_at: datetime | None = None,
    pull_only: frozenset[str] = frozenset(),
    push_only: frozenset[str] = frozenset(),
) -> MergeResult:
    """Merge one record's ``fields`` three ways; see the module docstring for the rules.

    ``base`` is ``None`` for a record never synced (every difference is then a
    conflict, settled by policy). Absent keys read as ``None`` on the hub and
    remote sides and as :data:`MISSING` on the base side.
    """
    shadow_base = base or {}
    result = MergeResult()
    for name in fields:
        b = shadow_base.get(name, MISSING)
        h = hub.get(name)
        r = remote.get(name)
        if h == r:
            result.shadow[name] = h
            continue
        if name in pull_only:
            result.to_hub[name] = r
            result.shadow[name] = r
            continue
        if name in push_only:
            result.to_remote[name] = h
            result.shadow[name] = h
            continue
        if h == b:
            result.to_hub[name] = r
            result.shadow[name] = r
            continue
        if r == b:
            result.to_remote[name] = h
            result.shadow[name] = h
            continue
        rule = policy.for_field(name)
        winner = _settle(rule, h, r, hub_modified_at, remote_modified_at)
        result.conflicts.append(FieldConflict(name, b, h, r, rule, winner))
        if winner == "hub":
            result.to_remote[name] = h
            result.shadow[name] = h
        elif winner == "remote":
            result.to_hub[name] = r
            result.shadow[name] = r
        elif b is not MISSING:
            result.shadow[name] = b
    return result
