"""Test helpers shipped with crmbridge, for its own tests and for connector authors.

:class:`InMemoryConnector` is a complete connector that keeps its records in
memory: the engine's tests run against it, and a user's tests can too. It
registers as connector type ``memory``.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from crmbridge.connector import (
    Capabilities,
    ConnectorContext,
    ConnectorSettings,
    Cursor,
    Deletion,
    Page,
    RemoteRecord,
    WriteOp,
    WriteOutcome,
    WriteRequest,
    WriteResult,
)
from crmbridge.model import ENTITY_ORDER

__all__ = ["InMemoryConnector", "InMemorySettings", "MemoryRecord"]


class InMemorySettings(ConnectorSettings):
    """Settings of the in-memory connector: page and batch sizes."""

    page_size: int = 100
    batch_size: int = 100
    concurrency: int = 4


@dataclass(slots=True)
class MemoryRecord:
    """One record held by :class:`InMemoryConnector`; ``deleted`` keeps it as a tombstone."""

    external_id: str
    data: dict[str, Any]
    modified_at: datetime
    seq: int
    deleted: bool = False


class InMemoryConnector:
    """A connector over dictionaries, with a change log the engine reads incrementally.

    Its cursor is ``{"seq": N}``: the last change it has handed out. Tests edit
    it directly with :meth:`put` and :meth:`delete`, as a person would edit the
    remote CRM. A create carrying a key it has seen before updates the record
    that key created (an upsert on the crmbridge id), so a replayed batch never
    duplicates.
    """

    type_name: ClassVar[str] = "memory"
    capabilities: ClassVar[Capabilities] = Capabilities(
        entities=ENTITY_ORDER,
        read=True,
        write=True,
        delete=True,
        incremental=True,
        push_notifications=False,
        fetch_by_ids=True,
    )
    settings_model: ClassVar[type[ConnectorSettings]] = InMemorySettings

    def __init__(
        self,
        name: str = "memory",
        settings: ConnectorSettings | None = None,
        context: ConnectorContext | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        conf = (
            settings if isinstance(settings, InMemorySettings) else InMemorySettings(type="memory")
        )
        self.name = name
        self.context = context or ConnectorContext()
        self.page_size = conf.page_size
        self.batch_size = conf.batch_size
        self.concurrency = conf.concurrency
        self.clock = clock or (lambda: datetime.now(UTC))
        self.tables: dict[str, dict[str, MemoryRecord]] = {e: {} for e in ENTITY_ORDER}
        self.calls = 0
        self.by_key: dict[tuple[str, str], str] = {}
        self._seq = itertools.count(1)
        self._ids = itertools.count(1)

    async def open(self) -> None:
        """Nothing to open."""

    async def close(self) -> None:
        """Nothing to close."""

    def put(self, entity: str, data: dict[str, Any], external_id: str | None = None) -> str:
        """Create or replace a record as a remote user would; returns its external id."""
        ext = external_id or f"m{next(self._ids)}"
        self.tables[entity][ext] = MemoryRecord(ext, dict(data), self.clock(), next(self._seq))
        return ext

    def delete(self, entity: str, external_id: str) -> None:
        """Delete a record as a remote user would; it shows in the deletion feed."""
        record = self.tables[entity][external_id]
        record.deleted = True
        record.seq = next(self._seq)
        record.modified_at = self.clock()

    def live(self, entity: str) -> dict[str, dict[str, Any]]:
        """The records not deleted, by external id."""
        return {k: r.data for k, r in self.tables[entity].items() if not r.deleted}

    async def read_changes(self, entity: str, cursor: Cursor | None) -> AsyncIterator[Page]:
        """Pages of changes after ``cursor["seq"]``, oldest first."""
        after = int((cursor or {}).get("seq", 0))
        changed = sorted(
            (r for r in self.tables[entity].values() if r.seq > after), key=lambda r: r.seq
        )
        for start in range(0, len(changed), self.page_size):
            chunk = changed[start : start + self.page_size]
            self.calls += 1
            page = Page(cursor={"seq": chunk[-1].seq})
            for r in chunk:
                if r.deleted:
                    page.deletions.append(Deletion(r.external_id, r.modified_at))
                else:
                    page.records.append(RemoteRecord(r.external_id, dict(r.data), r.modified_at))
            yield page

    async def write(self, entity: str, requests: Sequence[WriteRequest]) -> list[WriteResult]:
        """Apply a batch; an update or delete of an unknown id is rejected with ``NOT_FOUND``."""
        self.calls += 1
        table = self.tables[entity]
        results: list[WriteResult] = []
        for req in requests:
            now = self.clock()
            if req.op is WriteOp.CREATE:
                known = self.by_key.get((entity, req.key))
                if known is not None and not table[known].deleted:
                    # a replayed create: upsert on the crmbridge id, as Zoho does
                    self.put(entity, {**table[known].data, **req.data}, known)
                    results.append(WriteResult(req.key, WriteOutcome.UPDATED, known, now))
                    continue
                ext = self.put(entity, dict(req.data))
                self.by_key[(entity, req.key)] = ext
                results.append(WriteResult(req.key, WriteOutcome.CREATED, ext, now))
                continue
            current = table.get(req.external_id or "")
            if current is None or current.deleted:
                results.append(
                    WriteResult(
                        req.key,
                        WriteOutcome.REJECTED,
                        req.external_id,
                        None,
                        "NOT_FOUND",
                        None,
                        f"no {entity} record {req.external_id}",
                    )
                )
            elif req.op is WriteOp.DELETE:
                self.delete(entity, current.external_id)
                results.append(WriteResult(req.key, WriteOutcome.DELETED, current.external_id, now))
            else:
                merged = {**current.data, **req.data}
                self.put(entity, merged, current.external_id)
                results.append(WriteResult(req.key, WriteOutcome.UPDATED, current.external_id, now))
        return results

    async def fetch(self, entity: str, external_ids: Sequence[str]) -> list[RemoteRecord]:
        """The live records among ``external_ids``."""
        self.calls += 1
        table = self.tables[entity]
        return [
            RemoteRecord(r.external_id, dict(r.data), r.modified_at)
            for ext in external_ids
            if (r := table.get(ext)) is not None and not r.deleted
        ]
