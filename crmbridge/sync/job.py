"""A sync job as the runner sees it, and the counts its report carries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from crmbridge.model import ENTITY_ORDER
from crmbridge.names import COUNT_KEYS
from crmbridge.sync.merge import ConflictPolicy, Policy

__all__ = ["COUNT_KEYS", "Counts", "SyncJob"]


@dataclass(frozen=True, slots=True)
class SyncJob:
    """What one job syncs, which way, and by which rules.

    ``entities`` are visited parents first (organisations, stakeholders,
    interactions, requirements, requirement changes) whatever order the
    config lists them in.
    """

    name: str
    connector: str
    entities: tuple[str, ...] = ENTITY_ORDER
    direction: str = "both"
    conflicts: ConflictPolicy = field(default_factory=ConflictPolicy)
    deletes: str = "ignore"
    mass_delete_fraction: float = 0.2
    mass_delete_count: int = 500
    max_record_failures: int = 5
    batch_size: int | None = None
    phone_region: str | None = None
    migrating_from: str | None = None
    """Set on a migration's *match* leg, to the connector migrated from: the pull then
    lists every record of this connector (its target) and only links those with a twin
    in the hub, merging them, and creates nothing; a field the source never held keeps
    the target's value. A record it cannot read or map is passed over, not rejected."""

    def __post_init__(self) -> None:
        ordered = tuple(e for e in ENTITY_ORDER if e in self.entities)
        object.__setattr__(self, "entities", ordered)

    @property
    def pulls(self) -> bool:
        """Whether remote changes come into the hub."""
        return self.direction in ("pull", "both")

    @property
    def pull_creates(self) -> bool:
        """Whether a pulled record with no twin in the hub is created there (not in a match leg)."""
        return self.migrating_from is None

    @property
    def pushes(self) -> bool:
        """Whether hub changes go out to the connector."""
        return self.direction in ("push", "both")

    @classmethod
    def from_config(cls, name: str, job: Any, *, phone_region: str | None = None) -> SyncJob:
        """Build from a validated :class:`crmbridge.config.JobConfig`."""
        return cls(
            name=name,
            connector=job.connector,
            entities=tuple(job.entities),
            direction=job.direction,
            conflicts=ConflictPolicy(
                Policy(job.conflicts.policy),
                {f: Policy(p) for f, p in job.conflicts.fields.items()},
            ),
            deletes=job.deletes,
            mass_delete_fraction=job.mass_delete.max_fraction,
            mass_delete_count=job.mass_delete.max_count,
            max_record_failures=job.max_record_failures,
            batch_size=job.batch_size,
            phone_region=phone_region,
        )


@dataclass(slots=True)
class Counts:
    """What a run did, per entity; :meth:`total` sums them."""

    by_entity: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, entity: str, key: str, n: int = 1) -> None:
        """Count ``n`` more ``key`` outcomes for ``entity``."""
        bucket = self.by_entity.get(entity)
        if bucket is None:
            bucket = self.by_entity[entity] = dict.fromkeys(COUNT_KEYS, 0)
        bucket[key] = bucket.get(key, 0) + n

    def total(self) -> dict[str, int]:
        """Every count summed over the entities (all keys present, zero if nothing happened)."""
        summed = dict.fromkeys(COUNT_KEYS, 0)
        for bucket in self.by_entity.values():
            for key, n in bucket.items():
                summed[key] = summed.get(key, 0) + n
        return summed

    def as_dict(self) -> Mapping[str, dict[str, int]]:
        """The per-entity counts, JSON-ready."""
        return {entity: dict(bucket) for entity, bucket in self.by_entity.items()}
