"""What the engine needs from a mapping, and what it offers it: the seams of the sync runner.

The runner works on *flat* canonical values: a dict keyed by canonical field
name, custom fields as ``custom.<name>``, values JSON-ready. A mapping turns a
remote record into such values and back; relations (an interaction's
participants, a stakeholder's organisation) go through a
:class:`RelationResolver`, which the runner backs with the hub's links.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Protocol

from crmbridge.errors import RecordRejected

__all__ = ["EntityMapper", "RelationPending", "RelationResolver"]


class RelationPending(RecordRejected):
    """A record refers to records not linked yet; it waits and is retried, never dropped.

    ``missing`` lists ``(entity, id)`` pairs: external ids on pull, crmbridge ids on push.
    """

    def __init__(self, message: str, *, missing: Sequence[tuple[str, str]], **context: Any) -> None:
        super().__init__(message, code="PENDING_RELATION", **context)
        self.missing = list(missing)


class RelationResolver(Protocol):
    """Translates references between crmbridge ids and one connector's external ids."""

    def to_remote(self, entity: str, record_id: str) -> str | None:
        """The external id linked to hub record ``record_id``, or ``None``."""
        ...

    def to_canonical(self, entity: str, external_id: str) -> str | None:
        """The hub id linked to ``external_id``, or ``None``."""
        ...


class EntityMapper(Protocol):
    """One entity's compiled mapping, as the runner uses it."""

    @property
    def entity(self) -> str:
        """The canonical entity mapped."""
        ...

    @property
    def identity(self) -> Sequence[str]:
        """Canonical fields that identify a record, in the order they are tried."""
        ...

    @property
    def fields(self) -> Sequence[str]:
        """Every canonical field this mapping syncs (flat names)."""
        ...

    @property
    def pull_only(self) -> frozenset[str]:
        """Fields that only come from the remote."""
        ...

    @property
    def push_only(self) -> frozenset[str]:
        """Fields that only go to the remote."""
        ...

    @property
    def refers_to(self) -> frozenset[str]:
        """The entities this mapping's records may refer to (its relation fields' targets)."""
        ...

    def references(self, data: Mapping[str, Any]) -> list[tuple[str, str]]:
        """The ``(entity, external id)`` pairs a remote record refers to, for prefetching links."""
        ...

    def to_canonical(self, data: Mapping[str, Any], resolver: RelationResolver) -> dict[str, Any]:
        """Flat canonical values of a remote record.

        Raises :class:`~crmbridge.errors.RecordRejected` naming the field, or
        :class:`RelationPending`.
        """
        ...

    def to_remote(
        self,
        values: Mapping[str, Any],
        resolver: RelationResolver,
        only: Collection[str] | None = None,
    ) -> dict[str, Any]:
        """A remote payload for flat canonical ``values`` (restricted to ``only`` when given)."""
        ...
