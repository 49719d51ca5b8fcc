"""An in-memory :class:`~crmbridge.sync.ports.RelationResolver`, for tests and for links loaded up front."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["DictResolver"]


class DictResolver:
    """Translates references through ``links[entity][crmbridge id] = external id``.

    :meth:`link` adds one; both directions are answered from memory. The
    engine can fill one per batch from :meth:`EntityMapper.references
    <crmbridge.mapping.EntityMapper.references>` and one query.
    """

    def __init__(self, links: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self._remote: dict[str, dict[str, str]] = {}
        self._canonical: dict[str, dict[str, str]] = {}
        for entity, pairs in (links or {}).items():
            for record_id, external_id in pairs.items():
                self.link(entity, record_id, external_id)

    def link(self, entity: str, record_id: str, external_id: str) -> None:
        """Record that hub record ``record_id`` of ``entity`` is ``external_id`` remotely."""
        self._remote.setdefault(entity, {})[record_id] = external_id
        self._canonical.setdefault(entity, {})[external_id] = record_id

    def to_remote(self, entity: str, record_id: str) -> str | None:
        """The external id linked to ``record_id``, or ``None``."""
        return self._remote.get(entity, {}).get(record_id)

    def to_canonical(self, entity: str, external_id: str) -> str | None:
        """The crmbridge id linked to ``external_id``, or ``None``."""
        return self._canonical.get(entity, {}).get(external_id)
