"""The Fxiaoke (纷享销客 / ShareCRM) connector: entities to objects, cursors, the deletion scan."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx

from connectors.fxiaoke.client import FxiaokeClient
from connectors.fxiaoke.metadata import Described, check_mapping_against, describe
from connectors.fxiaoke.reads import ID, LMT, lookup, millis, read_changed, time_of
from connectors.fxiaoke.scan import KnownIds, confirm_gone, gone_row, live_ids
from connectors.fxiaoke.settings import FxiaokeSettings
from connectors.fxiaoke.writes import BATCH, ObjectWriter
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
from crmbridge.errors import ConfigError
from crmbridge.mapping import REMOTE_KEY, CompiledMapping, load_connector_mapping

__all__ = ["DEFAULT_OBJECTS", "FxiaokeConnector"]

log = logging.getLogger(__name__)

#: the object of each entity when the mapping does not say
DEFAULT_OBJECTS: dict[str, str] = {
    "organizations": "AccountObj",
    "stakeholders": "ContactObj",
    "interactions": "ActiveRecordObj",
    "requirement_changes": "object_requirement_change__c",
}


def _now() -> datetime:
    return datetime.now(UTC)


def _remote_names(pairs: Sequence[Any]) -> list[str]:
    names: list[str] = []
    for pair in pairs:
        if pair.remove:
            continue
        aliases = (
            [*pair.remote_parts[0], *pair.remote_parts[1]] if pair.remote_parts else pair.remote
        )
        for alias in aliases:
            top = str(alias).split(".", 1)[0]
            if top and not top.startswith("$"):
                names.append(top)
    return names


class FxiaokeConnector:
    """Fxiaoke CRM over its OpenAPI v2: reads by ``last_modified_time``, writes one record a call.

    Cursors are ``{"object", "since_ms", "scan_at", "known"}``: the apiName
    read, the newest ``last_modified_time`` committed (the next read starts
    ``overlap_s`` before it, inclusive), when the last deletion scan ran, and
    the ids read so far (:mod:`connectors.fxiaoke.scan`). Each entity maps to
    one object. The mapping is checked against the object's description
    before its first read or write. ``api_calls`` counts this instance's
    calls; retries and throttling are reported to ``context.api_events``.

    ``transport`` replaces the network (tests, the sandbox); ``mapping`` a
    compiled mapping instead of loading the configured one; ``clock`` the
    wall clock, ``monotonic`` and ``sleep`` the token, limiter and backoff
    timers.
    """

    type_name: ClassVar[str] = "fxiaoke"
    capabilities: ClassVar[Capabilities] = Capabilities(
        entities=tuple(DEFAULT_OBJECTS),
        read=True,
        write=True,
        delete=True,
        incremental=True,
        push_notifications=False,
        fetch_by_ids=True,
        lists_records=True,
    )
    settings_model: ClassVar[type[ConnectorSettings]] = FxiaokeSettings

    def __init__(
        self,
        name: str = "fxiaoke",
        settings: ConnectorSettings | None = None,
        context: ConnectorContext | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        mapping: CompiledMapping | None = None,
        clock: Callable[[], datetime] = _now,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        if not isinstance(settings, FxiaokeSettings):
            raise ConfigError("the fxiaoke connector needs its settings", connector=name)
        self.name = name
        self.settings = settings
        self.context = context or ConnectorContext()
        self.batch_size = BATCH
        self.concurrency = settings.concurrency
        self.clock = clock
        extra: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
        self.client = FxiaokeClient(
            settings,
            connector=name,
            transport=transport,
            events=self.context.api_events,
            clock=monotonic,
            now=clock,
            shared=self.context.shared,
            **extra,
        )
        self.scans: list[dict[str, Any]] = []
        self._mapping = mapping
        self._described: dict[str, Described] = {}

    @property
    def api_calls(self) -> int:
        """HTTP calls sent to the Fxiaoke API by this instance (retries included)."""
        return self.client.api_calls

    def usage(self) -> dict[str, Any]:
        """What this instance spent, for the run report: calls by endpoint and deletion scans."""
        used: dict[str, Any] = {"calls_by_endpoint": dict(self.client.calls)}
        if self.client.limiter.waited_s:
            used["rate_limit_wait_s"] = round(self.client.limiter.waited_s, 1)
        if self.scans:
            used["deletion_scans"] = [dict(s) for s in self.scans]
        return used

    @property
    def mapping(self) -> CompiledMapping:
        """The compiled mapping (loaded by :meth:`open`)."""
        if self._mapping is None:
            ctx = self.context
            self._mapping = load_connector_mapping(
                self.name,
                self.type_name,
                ctx.mapping,
                base_dir=ctx.base_dir,
                phone_region=ctx.phone_region,
                timezone=ctx.timezone,
            )
        return self._mapping

    async def open(self) -> None:
        """Load the mapping and create the HTTP client (the token comes with the first call)."""
        _ = self.mapping
        await self.client.open()

    async def close(self) -> None:
        """Close the HTTP client."""
        await self.client.close()

    # -- entities and objects ---------------------------------------------------------

    def target(self, entity: str) -> tuple[str, str, list[str]]:
        """``(mapping remote name, Fxiaoke apiName, remote fields read)`` of ``entity``."""
        spec = self.mapping.spec.entities.get(entity)
        if spec is None:
            if entity not in DEFAULT_OBJECTS:
                raise ConfigError(f"the fxiaoke connector has no entity {entity}", entity=entity)
            remote = DEFAULT_OBJECTS[entity]
            return remote, self.settings.object_for(entity, remote), []
        if spec.variants:
            raise ConfigError(
                f"the fxiaoke connector maps {entity} to one object; its mapping has variants",
                entity=entity,
                connector=self.name,
            )
        remote = spec.remote or DEFAULT_OBJECTS.get(entity, "")
        fields = list(dict.fromkeys(_remote_names(spec.fields)))
        return remote, self.settings.object_for(entity, remote), fields

    async def _checked(self, entity: str) -> Described:
        """Describe ``entity``'s object and check the mapping against it, once per instance."""
        remote, api_name, _ = self.target(entity)
        found = self._described.get(api_name)
        if found is not None:
            return found
        setting = (
            "requirement_change_object" if entity == "requirement_changes" else f"objects.{entity}"
        )
        found = await describe(self.client, api_name, remote, setting=setting)
        check_mapping_against(
            self.mapping,
            [found],
            id_field=self.settings.crmbridge_id_field,
            writes=[api_name] if self.mapping.spec.entities.get(entity) else [],
            connector=self.name,
        )
        self._described[api_name] = found
        return found

    # -- reads ------------------------------------------------------------------------

    async def read_changes(self, entity: str, cursor: Cursor | None) -> AsyncIterator[Page]:
        """Pages of records modified since the cursor (less ``overlap_s``), then a deletion scan when due.

        Bounds are inclusive and overlap: the engine drops what it has applied.
        """
        _, api_name, fields = self.target(entity)
        await self._checked(entity)
        state = dict(cursor or {})
        if state.get("object") not in (None, api_name):
            log.warning(
                "%s: %s now reads %s; reading it from the start", self.name, entity, api_name
            )
            state = {}
        since = state.get("since_ms") if isinstance(state.get("since_ms"), int) else None
        scan_at = state.get("scan_at")
        known = KnownIds.from_cursor(state.get("known"))
        first = since is None and scan_at is None
        started = self.clock().astimezone(UTC)
        start = None if since is None else max(0, since - self.settings.overlap_s * 1000)
        wanted = [*fields, "life_status", "is_deleted"]
        async for rows in read_changed(
            self.client, api_name, wanted, start, limit=self.settings.page_size
        ):
            records: list[RemoteRecord] = []
            gone: list[Deletion] = []
            for row in rows:
                ms = millis(row, LMT)
                if ms is not None and (since is None or ms > since):
                    since = ms
                if gone_row(row):
                    gone.append(Deletion(str(row[ID]), time_of(ms)))
                elif row.get(ID):
                    records.append(RemoteRecord(str(row[ID]), row, time_of(ms)))
            known.add(r.external_id for r in records)
            known.discard(d.external_id for d in gone)
            yield Page(records, gone, self._cursor(api_name, since, scan_at, known))
        if first:
            yield Page(cursor=self._cursor(api_name, since, started.isoformat(), known))
            return
        if self._scan_due(scan_at, started):
            deletions = await self._scan(api_name, known, started)
            yield Page(
                deletions=deletions,
                cursor=self._cursor(api_name, since, started.isoformat(), known),
            )

    def _cursor(self, api_name: str, since: int | None, scan_at: Any, known: KnownIds) -> Cursor:
        return {
            "object": api_name,
            "since_ms": since,
            "scan_at": scan_at,
            "known": known.to_cursor(),
        }

    def _scan_due(self, scan_at: Any, now: datetime) -> bool:
        try:
            last = datetime.fromisoformat(str(scan_at)) if scan_at else None
        except ValueError:
            last = None
        every = timedelta(seconds=self.settings.deletions_scan_every_s)
        return last is None or now - last >= every

    async def _scan(self, api_name: str, known: KnownIds, now: datetime) -> list[Deletion]:
        """List every live id; the known ones missing and confirmed gone are deletions.

        The listing may stop early, so the missing ids are looked up by ``_id``
        first: only those not found live are reported (the engine's guard decides).
        """
        calls = self.client.api_calls
        size = self.settings.page_size
        live = await live_ids(self.client, api_name, limit=size)
        missing = known.all() - live
        gone = sorted(await confirm_gone(self.client, api_name, missing, limit=size))
        known.replace(live | (missing - set(gone)))
        self.scans.append(
            {"object": api_name, "api_calls": self.client.api_calls - calls, "deleted": len(gone)}
        )
        if gone:
            log.info("%s: %d %s records gone since the last scan", self.name, len(gone), api_name)
        return [Deletion(i, now) for i in gone]

    async def fetch(self, entity: str, external_ids: Sequence[str]) -> list[RemoteRecord]:
        """The live records among ``external_ids`` (unknown ids are left out)."""
        _, api_name, fields = self.target(entity)
        await self._checked(entity)
        rows = await lookup(self.client, api_name, ID, list(external_ids), [*fields, "life_status"])
        by_id = {str(r[ID]): r for r in rows if r.get(ID) and not gone_row(r)}
        return [
            RemoteRecord(i, by_id[i], time_of(millis(by_id[i], LMT)))
            for i in dict.fromkeys(external_ids)
            if i in by_id
        ]

    # -- writes -----------------------------------------------------------------------

    async def write(self, entity: str, requests: Sequence[WriteRequest]) -> list[WriteResult]:
        """Write one batch: creates (looked up first when they may exist), updates, deletes."""
        _, api_name, _ = self.target(entity)
        described = await self._checked(entity)
        writer = ObjectWriter(
            self.client, api_name, self.settings.crmbridge_id_field in described.unique
        )
        results: list[WriteResult] = []
        creates: list[tuple[WriteRequest, dict[str, Any]]] = []
        updates: list[tuple[WriteRequest, dict[str, Any]]] = []
        deletes: list[WriteRequest] = []
        for request in requests:
            data = {k: v for k, v in request.data.items() if k != REMOTE_KEY}
            if request.op is WriteOp.CREATE:
                creates.append((request, data))
            elif not request.external_id:
                results.append(
                    WriteResult(
                        request.key,
                        WriteOutcome.REJECTED,
                        code="NO_EXTERNAL_ID",
                        message=f"a {request.op.value} needs the record's Fxiaoke _id",
                    )
                )
            elif request.op is WriteOp.UPDATE:
                updates.append((request, data))
            else:
                deletes.append(request)
        for start in range(0, len(creates), BATCH):
            results += await writer.create(creates[start : start + BATCH])
        for start in range(0, len(updates), BATCH):
            results += await writer.update(updates[start : start + BATCH])
        for start in range(0, len(deletes), BATCH):
            results += await writer.delete(deletes[start : start + BATCH])
        return results
