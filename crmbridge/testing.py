"""Test helpers shipped with crmbridge, for its own tests and for connector authors.

:class:`InMemoryConnector` is a complete connector that keeps its records in
memory: the engine's tests run against it, and a user's tests can too. It
registers as connector type ``memory``.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal

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
    list_records,
)
from crmbridge.model import ENTITIES, ENTITY_ORDER, IDENTITY_FIELDS, relation_fields
from crmbridge.sync.ports import RelationPending

__all__ = [
    "ConnectorContract",
    "FakeClock",
    "InMemoryConnector",
    "InMemorySettings",
    "MemoryRecord",
    "PassThroughMapper",
]


class FakeClock:
    """A clock frozen at ``start`` that moves only when told to; pass it as ``now=`` or ``clock=``."""

    def __init__(self, start: datetime = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, seconds: float = 0, **kwargs: float) -> datetime:
        """Move the clock forward (``advance(30)``, ``advance(days=2)``) and return the new time."""
        self.current += timedelta(seconds=seconds, **kwargs)
        return self.current


class InMemorySettings(ConnectorSettings):
    """Settings of the in-memory connector.

    ``cursor: modified_time`` makes it behave like a CRM read by modified time
    at one-second resolution (as Zoho's ``Modified_Time`` is): inclusive
    bounds, ``overlap_s`` seconds read again, so the engine must dedupe.
    """

    page_size: int = 100
    batch_size: int = 100
    concurrency: int = 4
    cursor: Literal["seq", "modified_time"] = "seq"
    overlap_s: int = 0


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
        lists_records=True,
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
        conf = settings if isinstance(settings, InMemorySettings) else InMemorySettings()
        self.name = name
        self.context = context or ConnectorContext()
        self.page_size = conf.page_size
        self.batch_size = conf.batch_size
        self.concurrency = conf.concurrency
        self.cursor_mode = conf.cursor
        self.overlap = timedelta(seconds=conf.overlap_s)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.tables: dict[str, dict[str, MemoryRecord]] = {e: {} for e in ENTITY_ORDER}
        self.api_calls = 0
        self.by_key: dict[tuple[str, str], str] = {}
        self._seq = itertools.count(1)
        self._ids = itertools.count(1)

    @classmethod
    def default_mappers(cls) -> dict[str, PassThroughMapper]:
        """Pass-through mappers for every entity, used when the config names no mapping."""
        mappers: dict[str, PassThroughMapper] = {}
        for entity in ENTITY_ORDER:
            model = ENTITIES[entity]
            fields = [
                f
                for f in model.model_fields
                if f not in model.system_fields and f not in ("custom", "archived")
            ]
            mappers[entity] = PassThroughMapper(
                entity, fields, identity=list(IDENTITY_FIELDS.get(entity, {}))
            )
        return mappers

    async def open(self) -> None:
        """Nothing to open."""

    async def close(self) -> None:
        """Nothing to close."""

    def put(self, entity: str, data: dict[str, Any], external_id: str | None = None) -> str:
        """Create or replace a record as a remote user would; returns its external id."""
        ext = external_id or f"m{next(self._ids)}"
        self.tables[entity][ext] = MemoryRecord(ext, dict(data), self._stamp(), next(self._seq))
        return ext

    def _stamp(self) -> datetime:
        now = self.clock()
        return now.replace(microsecond=0) if self.cursor_mode == "modified_time" else now

    def delete(self, entity: str, external_id: str) -> None:
        """Delete a record as a remote user would; it shows in the deletion feed."""
        record = self.tables[entity][external_id]
        record.deleted = True
        record.seq = next(self._seq)
        record.modified_at = self._stamp()

    def live(self, entity: str) -> dict[str, dict[str, Any]]:
        """The records not deleted, by external id."""
        return {k: r.data for k, r in self.tables[entity].items() if not r.deleted}

    async def read_changes(self, entity: str, cursor: Cursor | None) -> AsyncIterator[Page]:
        """Pages of changes since ``cursor``, oldest first."""
        if self.cursor_mode == "modified_time":
            since_text = (cursor or {}).get("since")
            since = datetime.fromisoformat(since_text) - self.overlap if since_text else None
            changed = sorted(
                (
                    r
                    for r in self.tables[entity].values()
                    if since is None or r.modified_at >= since
                ),
                key=lambda r: (r.modified_at, r.external_id),
            )
        else:
            after = int((cursor or {}).get("seq", 0))
            changed = sorted(
                (r for r in self.tables[entity].values() if r.seq > after), key=lambda r: r.seq
            )
        for start in range(0, len(changed), self.page_size):
            chunk = changed[start : start + self.page_size]
            self.api_calls += 1
            if self.cursor_mode == "modified_time":
                # inclusive: the last second may have more records on the next page or run
                page = Page(cursor={"since": chunk[-1].modified_at.isoformat()})
            else:
                page = Page(cursor={"seq": chunk[-1].seq})
            for r in chunk:
                if r.deleted:
                    page.deletions.append(Deletion(r.external_id, r.modified_at))
                else:
                    page.records.append(RemoteRecord(r.external_id, dict(r.data), r.modified_at))
            yield page

    async def write(self, entity: str, requests: Sequence[WriteRequest]) -> list[WriteResult]:
        """Apply a batch; an update or delete of an unknown id is rejected with ``NOT_FOUND``."""
        self.api_calls += 1
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
        self.api_calls += 1
        table = self.tables[entity]
        return [
            RemoteRecord(r.external_id, dict(r.data), r.modified_at)
            for ext in external_ids
            if (r := table.get(ext)) is not None and not r.deleted
        ]


class PassThroughMapper:
    """An :class:`~crmbridge.sync.ports.EntityMapper` whose remote names are the canonical ones.

    Relation fields hold external ids on the remote side and crmbridge ids in
    the hub, translated through the resolver; a reference not linked yet
    raises :class:`~crmbridge.sync.ports.RelationPending`. With the in-memory
    connector it lets tests drive the engine without a mapping file.
    """

    def __init__(
        self,
        entity: str,
        fields: Sequence[str],
        identity: Sequence[str] = ("email", "mobile"),
        *,
        pull_only: frozenset[str] = frozenset(),
        push_only: frozenset[str] = frozenset(),
    ) -> None:
        self.entity = entity
        self.fields = list(fields)
        self.identity = list(identity)
        self.pull_only = pull_only
        self.push_only = push_only
        self.relations = {f: e for f, e in relation_fields(entity).items() if f in self.fields}
        self.refers_to = frozenset(self.relations.values())

    def references(self, data: Mapping[str, Any]) -> list[tuple[str, str]]:
        """External ids this remote record points at."""
        return [
            (target, str(value))
            for name, target in self.relations.items()
            for value in _listed(data.get(name))
        ]

    def to_canonical(self, data: Mapping[str, Any], resolver: Any) -> dict[str, Any]:
        """The record's mapped fields, relations translated to hub ids."""
        flat = {name: data[name] for name in self.fields if name in data}
        if data.get("id"):
            flat["id"] = data["id"]
        missing: list[tuple[str, str]] = []
        for name, target in self.relations.items():
            if name not in data:
                continue
            value = data.get(name)
            ids = [resolver.to_canonical(target, str(v)) for v in _listed(value)]
            missing += [
                (target, str(v)) for v, i in zip(_listed(value), ids, strict=True) if i is None
            ]
            flat[name] = ids if isinstance(value, list) else (ids[0] if ids else None)
        if missing:
            raise RelationPending(
                f"refers to records not linked yet: {missing}", missing=missing, entity=self.entity
            )
        return flat

    def to_remote(
        self, values: Mapping[str, Any], resolver: Any, only: Collection[str] | None = None
    ) -> dict[str, Any]:
        """The record's fields as the remote keeps them, relations as external ids."""
        names = [f for f in self.fields if f not in self.pull_only and (only is None or f in only)]
        data = {name: values.get(name) for name in names}
        if "id" in values:
            data["id"] = values["id"]
        for name, target in self.relations.items():
            if name not in data:
                continue
            value = values.get(name)
            ext = [resolver.to_remote(target, str(v)) for v in _listed(value)]
            missing = [
                (target, str(v)) for v, e in zip(_listed(value), ext, strict=True) if e is None
            ]
            if missing:
                raise RelationPending(
                    f"refers to records not pushed yet: {missing}",
                    missing=missing,
                    entity=self.entity,
                )
            data[name] = ext if isinstance(value, list) else (ext[0] if ext else None)
        return data


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


class ConnectorContract:
    """The contract every connector passes, built-in or third-party.

    Subclass it in a test module (the class name must start with ``Test`` for
    pytest to collect it) and give it a fresh connector and remote-shaped
    records::

        class TestMyCrm(ConnectorContract):
            entity = "stakeholders"

            def new_connector(self) -> Connector: ...
            def sample(self, i: int) -> dict[str, Any]: ...

    Every check runs against a fresh connector; none needs pytest fixtures,
    so this module imports nothing beyond crmbridge.
    """

    entity: ClassVar[str] = "stakeholders"

    def new_connector(self) -> Any:
        """A fresh connector over an empty remote; override it."""
        raise NotImplementedError("ConnectorContract subclasses must define new_connector()")

    def sample(self, i: int) -> dict[str, Any]:
        """Remote-shaped data for record number ``i`` of :attr:`entity`; override it."""
        raise NotImplementedError("ConnectorContract subclasses must define sample()")

    @staticmethod
    def _run(coro: Any) -> Any:
        import asyncio

        return asyncio.run(coro)

    async def _with(self, action: Callable[[Any], Any]) -> Any:
        connector = self.new_connector()
        await connector.open()
        try:
            return await action(connector)
        finally:
            await connector.close()

    async def _read_all(
        self, connector: Any, cursor: Cursor | None
    ) -> tuple[list[Page], Cursor | None]:
        pages = [page async for page in connector.read_changes(self.entity, cursor)]
        last = cursor
        for page in pages:
            last = page.cursor if page.cursor is not None else last
        return pages, last

    def test_declares_what_it_can_do(self) -> None:
        """Type name, capabilities, settings model, batch size and concurrency are declared."""
        connector = self.new_connector()
        assert isinstance(connector.type_name, str)
        assert connector.type_name
        assert self.entity in connector.capabilities.entities
        assert issubclass(connector.settings_model, ConnectorSettings)
        assert connector.batch_size >= 1
        assert connector.concurrency >= 1

    def test_one_result_per_request_matched_by_key(self) -> None:
        """A batch of creates gets one result per record, each carrying its request's key."""

        async def check(connector: Any) -> None:
            requests = [WriteRequest(f"key-{i}", WriteOp.CREATE, self.sample(i)) for i in range(3)]
            results = await connector.write(self.entity, requests)
            assert sorted(r.key for r in results) == ["key-0", "key-1", "key-2"]
            assert all(r.outcome is WriteOutcome.CREATED and r.external_id for r in results)
            assert len({r.external_id for r in results}) == 3

        self._run(self._with(check))

    def test_reads_back_what_was_written_then_later_changes(self) -> None:
        """A read from no cursor returns the records; one from its cursor includes a later change.

        Bounds are inclusive, so records of the cursor's instant may come again.
        """

        async def check(connector: Any) -> None:
            made = await connector.write(
                self.entity,
                [WriteRequest(f"k{i}", WriteOp.CREATE, self.sample(i)) for i in range(2)],
            )
            pages, cursor = await self._read_all(connector, None)
            seen = {r.external_id for p in pages for r in p.records}
            assert {r.external_id for r in made} <= seen
            more = await connector.write(
                self.entity, [WriteRequest("k9", WriteOp.CREATE, self.sample(9))]
            )
            later, _ = await self._read_all(connector, cursor)
            again = {r.external_id for p in later for r in p.records}
            assert more[0].external_id in again

        self._run(self._with(check))

    def test_replayed_create_does_not_duplicate(self) -> None:
        """The same create sent twice (a replayed batch, marked ``resent``) leaves one record."""

        async def check(connector: Any) -> None:
            request = WriteRequest("same-key", WriteOp.CREATE, self.sample(1))
            first = await connector.write(self.entity, [request])
            replayed = WriteRequest("same-key", WriteOp.CREATE, self.sample(1), resent=True)
            second = await connector.write(self.entity, [replayed])
            assert first[0].external_id == second[0].external_id
            pages, _ = await self._read_all(connector, None)
            ids = [r.external_id for p in pages for r in p.records]
            assert ids.count(first[0].external_id) == 1

        self._run(self._with(check))

    def test_update_of_a_missing_record_is_a_rejected_result(self) -> None:
        """Updating an id the remote does not have is a rejected result, not an exception."""

        async def check(connector: Any) -> None:
            request = WriteRequest(
                "k", WriteOp.UPDATE, self.sample(1), external_id="no-such-id-404"
            )
            (result,) = await connector.write(self.entity, [request])
            assert result.outcome is WriteOutcome.REJECTED
            assert result.code

        self._run(self._with(check))

    def test_deletes_show_in_the_deletion_feed(self) -> None:
        """A delete appears as a deletion on the next read (for connectors that delete)."""

        async def check(connector: Any) -> None:
            if not connector.capabilities.delete:
                return
            (made,) = await connector.write(
                self.entity, [WriteRequest("d", WriteOp.CREATE, self.sample(3))]
            )
            _, cursor = await self._read_all(connector, None)
            (gone,) = await connector.write(
                self.entity, [WriteRequest("d", WriteOp.DELETE, external_id=made.external_id)]
            )
            assert gone.outcome is WriteOutcome.DELETED
            pages, _ = await self._read_all(connector, cursor)
            assert made.external_id in {d.external_id for p in pages for d in p.deletions}

        self._run(self._with(check))

    def test_lists_every_record_it_holds_and_again(self) -> None:
        """With ``lists_records``, every listing yields every record, a read since changing nothing."""

        async def check(connector: Any) -> None:
            if not connector.capabilities.lists_records:
                return
            made = await connector.write(
                self.entity,
                [WriteRequest(f"l{i}", WriteOp.CREATE, self.sample(i)) for i in range(3)],
            )
            wanted = {r.external_id for r in made}
            for _ in range(2):  # a listing leaves nothing behind that hides records from the next
                pages = [page async for page in list_records(connector, self.entity)]
                assert wanted <= {r.external_id for p in pages for r in p.records}

        self._run(self._with(check))

    def test_fetch_by_ids_returns_the_live_ones(self) -> None:
        """``fetch`` returns the asked-for records and leaves out unknown ids."""

        async def check(connector: Any) -> None:
            if not connector.capabilities.fetch_by_ids:
                return
            (made,) = await connector.write(
                self.entity, [WriteRequest("f", WriteOp.CREATE, self.sample(4))]
            )
            found = await connector.fetch(self.entity, [made.external_id, "no-such-id-404"])
            assert [r.external_id for r in found] == [made.external_id]

        self._run(self._with(check))
