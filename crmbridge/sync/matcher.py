"""Matching remote records to hub records: by link, else by ordered identity rules.

A pure decision over what the store found. A remote record is

- ``linked`` when a link already ties its external id to a hub record;
- ``matched`` when the first identity rule that finds anything finds exactly
  one hub record not yet linked to another record of this connector;
- ``new`` when no rule finds anything: it will be created in the hub;
- ``ambiguous`` when a rule finds several hub records, when the hub record it
  finds is linked to another remote record already, or when several remote
  records of one batch find the same hub record or share a key while new.
  Ambiguous matches go to the inbox; nothing is merged or created blindly.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from crmbridge.model import IDENTITY_FIELDS, identity_value

__all__ = ["Candidate", "Match", "MatchKind", "decide_matches", "identity_keys"]


class MatchKind(enum.StrEnum):
    """How a remote record was tied to the hub."""

    LINKED = "linked"
    MATCHED = "matched"
    NEW = "new"
    AMBIGUOUS = "ambiguous"


# not frozen (read-only by convention): one is made per record of a bulk sync, and a frozen
# dataclass's __init__ costs four times as much
@dataclass(slots=True, unsafe_hash=True)
class Candidate:
    """A remote record waiting to be matched: its external id and its identity keys, in rule order."""

    external_id: str
    keys: Sequence[tuple[str, str]]


@dataclass(slots=True, unsafe_hash=True)
class Match:
    """The decision for one remote record; ``record_id`` is set for linked and matched ones.

    ``linked_to`` is, for a record left ambiguous because its one identity
    match is linked to another remote record, that remote record's id.
    """

    external_id: str
    kind: MatchKind
    record_id: str | None = None
    rule: str | None = None
    candidates: tuple[str, ...] = field(default_factory=tuple)
    reason: str | None = None
    linked_to: str | None = None


def identity_keys(
    entity: str, rules: Iterable[str], record: Mapping[str, Any], region: str | None = None
) -> list[tuple[str, str]]:
    """A record's ``(kind, value)`` identity keys in rule order, skipping empty values.

    A rule names a field of :data:`~crmbridge.model.IDENTITY_FIELDS` (an email
    rule finds a hub record by its email or secondary email), or ``id``.
    """
    fields = IDENTITY_FIELDS.get(entity, {})
    keys: list[tuple[str, str]] = []
    for rule in rules:
        kind = "id" if rule == "id" else fields.get(rule)
        if kind is None:
            continue
        value = identity_value(kind, record.get(rule), region)
        if value is not None and (kind, value) not in keys:
            keys.append((kind, value))
    return keys


def decide_matches(
    candidates: Sequence[Candidate],
    *,
    linked: Mapping[str, str],
    index: Mapping[tuple[str, str], set[str]],
    linked_elsewhere: Mapping[str, str],
) -> dict[str, Match]:
    """Decide every candidate of one batch.

    ``linked`` maps external ids to hub ids for records already linked;
    ``index`` maps identity keys to the hub records holding them;
    ``linked_elsewhere`` maps hub ids to the external id they are linked to in
    this connector (a hub record can be linked to one remote record only).
    """
    decisions: dict[str, Match] = {}
    claims: dict[str, list[str]] = defaultdict(list)
    new_keys: dict[tuple[str, str], list[str]] = defaultdict(list)
    for cand in candidates:
        if cand.external_id in linked:
            decisions[cand.external_id] = Match(
                cand.external_id, MatchKind.LINKED, linked[cand.external_id]
            )
            continue
        decision = _by_identity(cand, index, linked_elsewhere)
        decisions[cand.external_id] = decision
        if decision.kind is MatchKind.MATCHED and decision.record_id is not None:
            claims[decision.record_id].append(cand.external_id)
        elif decision.kind is MatchKind.NEW:
            for key in cand.keys:
                new_keys[key].append(cand.external_id)
    for record_id, external_ids in claims.items():
        if len(external_ids) > 1:
            for ext in external_ids:
                decisions[ext] = Match(
                    ext,
                    MatchKind.AMBIGUOUS,
                    candidates=(record_id,),
                    reason=f"{len(external_ids)} remote records match hub record {record_id}",
                )
    for (rule, _value), external_ids in new_keys.items():
        if len(external_ids) > 1:
            for ext in external_ids:
                decisions[ext] = Match(
                    ext,
                    MatchKind.AMBIGUOUS,
                    rule=rule,
                    reason=f"{len(external_ids)} new remote records share one {rule}",
                )
    return decisions


def _by_identity(
    cand: Candidate,
    index: Mapping[tuple[str, str], set[str]],
    linked_elsewhere: Mapping[str, str],
) -> Match:
    for key in cand.keys:
        found = index.get(key)
        if not found:
            continue
        rule = key[0]
        if len(found) > 1:
            return Match(
                cand.external_id,
                MatchKind.AMBIGUOUS,
                rule=rule,
                candidates=tuple(sorted(found)),
                reason=f"{len(found)} hub records share this {rule}",
            )
        (record_id,) = found
        other = linked_elsewhere.get(record_id)
        if other is not None and other != cand.external_id:
            return Match(
                cand.external_id,
                MatchKind.AMBIGUOUS,
                rule=rule,
                candidates=(record_id,),
                reason=f"hub record {record_id} is already linked to remote record {other}",
                linked_to=other,
            )
        return Match(cand.external_id, MatchKind.MATCHED, record_id, rule)
    return Match(cand.external_id, MatchKind.NEW)
