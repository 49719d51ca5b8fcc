"""The Zoho CRM connector: entities to modules, cursors, and the run's first-write check."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx

from connectors.zoho.channels import renew
from connectors.zoho.client import ZohoClient
from connectors.zoho.metadata import check_mapping_against, load_users, remote_fields
from connectors.zoho.notes import NOTES, deleted_notes, forget, remember, strip_marker
from connectors.zoho.reads import (
    NotSupported,
    fetch_by_ids,
    parse_time,
    read_deleted,
    read_module,
)
from connectors.zoho.settings import ZohoSettings
from connectors.zoho.writes import BATCH, NO_UPSERT, ModuleWriter
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

__all__ = ["DEFAULT_MODULES", "ZohoConnector"]

log = logging.getLogger(__name__)

#: the modules of each entity when the mapping does not say
DEFAULT_MODULES: dict[str, tuple[str, ...]] = {
    "organizations": ("Accounts",),
    "stakeholders": ("Contacts",),
    "interactions": ("Calls", "Events", "Tasks", "Notes"),
    "requirement_changes": ("Change_Requests",),
}
#: modules without a ``/deleted`` feed (Zoho's Deleted Records API does not list Notes)
NO_DELETED_FEED = frozenset({"Notes"})


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


class ZohoConnector:
    """Zoho CRM over its REST API (v7 by default): reads by ``Modified_Time``, writes by upsert.

    Cursors are ``{"module", "since", "deleted_since"}`` for an entity held in
    one module, and ``{"modules": {Module: {"since", "deleted_since"}}}`` for
    one held in several (interactions: Calls, Events, Tasks, Notes), whose
    records carry ``"$remote": Module``. ``api_calls`` and ``credits_used``
    count this instance's calls and Zoho API credits; ``read_modes`` says per
    module whether Get Records (``records``), COQL or both served the reads.

    Retries and 429 answers are reported to ``context.api_events``.

    ``transport`` replaces the network (tests, the in-process sandbox);
    ``mapping`` a compiled mapping instead of loading the configured one.
    """

    type_name: ClassVar[str] = "zoho"
    capabilities: ClassVar[Capabilities] = Capabilities(
        entities=tuple(DEFAULT_MODULES),
        read=True,
        write=True,
        delete=True,
        incremental=True,
        push_notifications=False,
        fetch_by_ids=True,
        lists_records=True,
    )
    settings_model: ClassVar[type[ConnectorSettings]] = ZohoSettings

    def __init__(
        self,
        name: str = "zoho",
        settings: ConnectorSettings | None = None,
        context: ConnectorContext | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        mapping: CompiledMapping | None = None,
        clock: Callable[[], datetime] = _now,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        if not isinstance(settings, ZohoSettings):
            raise ConfigError("the zoho connector needs its settings", connector=name)
        self.name = name
        self.settings = settings
        self.context = context or ConnectorContext()
        self.batch_size = BATCH
        self.concurrency = settings.max_concurrency()
        self.clock = clock
        events = self.context.api_events
        self.client = (
            ZohoClient(settings, connector=name, transport=transport, sleep=sleep, events=events)
            if sleep is not None
            else ZohoClient(settings, connector=name, transport=transport, events=events)
        )
        self.read_modes: dict[str, str] = {}
        self.warnings: list[str] = []
        self._mapping = mapping
        self._checked = False
        self._fields: dict[str, set[str]] = {}
        self._unique: dict[str, set[str]] = {}
        self._users: dict[str, dict[str, Any]] | None = None
        self._module_of: dict[str, str] = {}
        self.notes_checks: list[dict[str, Any]] = []

    @property
    def api_calls(self) -> int:
        """HTTP calls sent to the Zoho CRM API by this instance (retries included)."""
        return self.client.api_calls

    @property
    def credits_used(self) -> int:
        """Zoho API credits this instance's calls cost."""
        return self.client.credits_used

    def usage(self) -> dict[str, Any]:
        """What this instance spent, for the run report: credits, read modes, Notes checks.

        ``notes_deletion_checks`` lists each check for deleted Notes with its
        mode (``sweep`` or ``per_parent``), the API calls and credits it cost
        (already counted in the totals) and the deletions it found.
        """
        used: dict[str, Any] = {"credits": self.credits_used, "read_modes": dict(self.read_modes)}
        if self.notes_checks:
            used["notes_deletion_checks"] = [dict(c) for c in self.notes_checks]
        return used

    async def renew_channels(self, now: datetime) -> datetime | None:
        """Renew the notification channels carrying ``notify_token`` that expire soon.

        A channel within ``channel_renew_margin_s`` of its expiry is updated
        (``PATCH /actions/watch``, same id, events, URL and token) to expire a
        week (less an hour) later. Returns when to check again: the margin
        before the earliest expiry; ``None`` without a ``notify_token`` or a
        channel carrying it.
        """
        token = self.settings.notify_token
        if token is None or not token.get_secret_value():
            return None
        margin = timedelta(seconds=self.settings.channel_renew_margin_s)
        renewed, upcoming = await renew(self.client, token.get_secret_value(), now, margin)
        for channel in renewed:
            log.info(
                "%s: notification channel %s renewed until %s",
                self.name,
                channel.channel_id,
                channel.expiry.isoformat(),
            )
        return upcoming

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
        self._checked = False
        await self.client.open()

    async def close(self) -> None:
        """Close the HTTP client."""
        await self.client.close()

    # -- entities and modules -------------------------------------------------------

    def _module(self, entity: str, remote: str) -> str:
        overrides = self.settings.modules
        return overrides.get(remote) or overrides.get(entity) or remote

    def modules(self, entity: str) -> list[tuple[str, str, list[str]]]:
        """``(mapping remote name, Zoho module, remote fields read)`` for each module of ``entity``."""
        spec = self.mapping.spec.entities.get(entity)
        if spec is None:
            if entity not in DEFAULT_MODULES:
                raise ConfigError(f"the zoho connector has no entity {entity}", entity=entity)
            return [(m, self._module(entity, m), []) for m in DEFAULT_MODULES[entity]]
        shared = _remote_names(spec.fields)
        if spec.variants:
            return [
                (
                    str(v.remote),
                    self._module(entity, str(v.remote)),
                    list(dict.fromkeys(shared + _remote_names(v.fields))),
                )
                for v in spec.variants.values()
            ]
        remote = spec.remote or DEFAULT_MODULES.get(entity, ("",))[0]
        return [(remote, self._module(entity, remote), list(dict.fromkeys(shared)))]

    def _multi(self, entity: str) -> bool:
        spec = self.mapping.spec.entities.get(entity)
        return bool(spec and spec.variants) or len(self.modules(entity)) > 1

    # -- reads ------------------------------------------------------------------------

    def _state(self, entity: str, cursor: Cursor | None) -> dict[str, dict[str, Any]]:
        if not cursor:
            return {}
        if isinstance(cursor.get("modules"), dict):
            return {m: dict(v) for m, v in cursor["modules"].items() if isinstance(v, dict)}
        module = cursor.get("module") or self.modules(entity)[0][1]
        return {str(module): {k: v for k, v in cursor.items() if k != "module"}}

    def _cursor(self, entity: str, state: dict[str, dict[str, Any]], module: str) -> Cursor:
        if self._multi(entity):
            return {"modules": {m: _copy(v) for m, v in state.items()}}
        return {"module": module, **_copy(state.get(module, {}))}

    def _since(self, value: Any) -> datetime | None:
        parsed = parse_time(value)
        return parsed - timedelta(seconds=self.settings.overlap_s) if parsed else None

    async def read_changes(self, entity: str, cursor: Cursor | None) -> AsyncIterator[Page]:
        """Pages of records modified since the cursor (less ``overlap_s``), then deletions.

        Bounds are inclusive and overlap: the engine drops what it has applied.
        """
        state = self._state(entity, cursor)
        started = self.clock().astimezone(UTC).isoformat()
        multi = self._multi(entity)
        for remote, module, fields in self.modules(entity):
            own = state.setdefault(module, {})
            first = "since" not in own and "deleted_since" not in own
            try:
                async for rows in read_module(
                    self.client,
                    module,
                    fields,
                    self._since(own.get("since")),
                    mode=self.settings.read_mode,
                    per_page=self.settings.page_size,
                    modes=self.read_modes,
                ):
                    if module == NOTES:
                        remember(own.setdefault("notes", {}), rows)
                    records = await self._records(rows, remote if multi else None, module)
                    newest = max((r.modified_at for r in records if r.modified_at), default=None)
                    old = parse_time(own.get("since"))
                    if newest is not None and (old is None or newest > old):
                        own["since"] = newest.isoformat()
                    yield Page(records=records, cursor=self._cursor(entity, state, module))
            except NotSupported as exc:
                message = f"{module} skipped: {exc.message}"
                log.warning("%s: %s", self.name, message)
                self.warnings.append(message)
                continue
            if module == NOTES:
                if first:
                    own["notes_checked"] = started
                    continue
                async for gone in self._note_deletions(own):
                    yield Page(deletions=gone, cursor=self._cursor(entity, state, module))
                continue
            if module in NO_DELETED_FEED:
                continue
            if first:
                own["deleted_since"] = started
                yield Page(cursor=self._cursor(entity, state, module))
                continue
            async for page in self._deletions(module, own):
                yield Page(deletions=page, cursor=self._cursor(entity, state, module))

    async def _deletions(self, module: str, own: dict[str, Any]) -> AsyncIterator[list[Deletion]]:
        since = self._since(own.get("deleted_since"))
        async for rows in read_deleted(self.client, module, since):
            gone = [Deletion(str(r["id"]), parse_time(r.get("deleted_time"))) for r in rows]
            newest = max((d.deleted_at for d in gone if d.deleted_at), default=None)
            old = parse_time(own.get("deleted_since"))
            if newest is not None and (old is None or newest > old):
                own["deleted_since"] = newest.isoformat()
            yield gone

    async def _note_deletions(self, own: dict[str, Any]) -> AsyncIterator[list[Deletion]]:
        """Deleted Notes, by diffing the notes the cursor remembers with those Zoho still has."""
        known: dict[str, list[str]] = own.setdefault("notes", {})
        now = self.clock().astimezone(UTC)
        last = parse_time(own.get("notes_checked"))
        every = timedelta(seconds=self.settings.notes_deletions_every_s)
        if not known or (last is not None and now - last < every):
            return
        calls, credits = self.client.api_calls, self.client.credits_used
        check: dict[str, Any] = {"mode": None, "api_calls": 0, "credits": 0, "deleted": 0}
        self.notes_checks.append(check)
        batches: list[list[str]] = []
        async for mode, gone in deleted_notes(self.client, known):
            check["mode"] = mode
            batches.append(gone)
        check["api_calls"] = self.client.api_calls - calls
        check["credits"] = self.client.credits_used - credits
        own["notes_checked"] = now.isoformat()
        for gone in batches:
            forget(known, gone)
            check["deleted"] += len(gone)
            if gone:
                yield [Deletion(i, now) for i in gone]
        if not any(batches):
            yield []

    async def _records(
        self, rows: list[dict[str, Any]], remote: str | None, module: str
    ) -> list[RemoteRecord]:
        if any(_bare(r.get("Owner")) for r in rows):
            if self._users is None:
                self._users = await load_users(self.client)
            for row in rows:
                owner = row.get("Owner")
                if isinstance(owner, dict) and _bare(owner):
                    row["Owner"] = self._users.get(str(owner["id"]), owner)
        records: list[RemoteRecord] = []
        for row in rows:
            data = dict(row)
            if module == NOTES and "Note_Content" in data:
                # the create marker is crmbridge's business, not the hub's
                data["Note_Content"], _ = strip_marker(data["Note_Content"])
            if remote is not None:
                data[REMOTE_KEY] = remote
            ext = str(row["id"])
            self._module_of[ext] = module
            records.append(RemoteRecord(ext, data, parse_time(row.get("Modified_Time"))))
        return records

    async def fetch(self, entity: str, external_ids: Sequence[str]) -> list[RemoteRecord]:
        """The records among ``external_ids`` (looked for in each module of the entity)."""
        multi = self._multi(entity)
        left = list(dict.fromkeys(external_ids))
        found: list[RemoteRecord] = []
        for remote, module, fields in self.modules(entity):
            if not left:
                break
            rows = await fetch_by_ids(self.client, module, fields, left)
            records = await self._records(rows, remote if multi else None, module)
            found += records
            got = {r.external_id for r in records}
            left = [i for i in left if i not in got]
        return found

    # -- writes -----------------------------------------------------------------------

    async def _ensure_checked(self) -> None:
        """Check the mapping against Zoho's field lists once per run, before the first write."""
        if self._checked:
            return
        modules = list(
            dict.fromkeys(m for e in self.mapping.spec.entities for _, m, _ in self.modules(e))
        )
        described, unique = await remote_fields(self.client, modules)
        self._fields = {r.remote: set(r.fields) for r in described}
        self._unique = unique
        check_mapping_against(
            self.mapping,
            [r for r in described if r.remote in self._mapping_remotes()],
            unique,
            id_field=self.settings.crmbridge_id_field,
            upsert_modules=[m for m in modules if m not in NO_UPSERT],
            connector=self.name,
        )
        self._checked = True

    def _mapping_remotes(self) -> set[str]:
        # check_against_remote names objects as the mapping does; overridden modules are skipped
        return {r for e in self.mapping.spec.entities for r, m, _ in self.modules(e) if r == m}

    def _writer(self, module: str) -> ModuleWriter:
        id_field = self.settings.crmbridge_id_field
        known = self._fields.get(module)
        has = id_field in known if known is not None else module != "Notes"
        return ModuleWriter(
            self.client,
            module,
            id_field,
            has,
            id_field in self._unique.get(module, set()),
            self.settings.trigger,
        )

    async def write(self, entity: str, requests: Sequence[WriteRequest]) -> list[WriteResult]:
        """Write one batch: creates by upsert (or looked-up insert), updates by id, deletes."""
        await self._ensure_checked()
        routes = {remote: module for remote, module, _ in self.modules(entity)}
        default = next(iter(routes.values()))
        groups: dict[tuple[str, WriteOp], list[tuple[WriteRequest, dict[str, Any]]]] = {}
        results: list[WriteResult] = []
        deletes: list[WriteRequest] = []
        for request in requests:
            data = dict(request.data)
            remote = data.pop(REMOTE_KEY, None)
            if request.op is WriteOp.DELETE:
                deletes.append(request)
                continue
            if request.op is WriteOp.UPDATE and not request.external_id:
                results.append(
                    WriteResult(
                        request.key,
                        WriteOutcome.REJECTED,
                        code="NO_EXTERNAL_ID",
                        message="an update needs the record's Zoho id",
                    )
                )
                continue
            module = routes.get(str(remote), default) if remote else default
            groups.setdefault((module, request.op), []).append((request, data))
        for (module, op), items in groups.items():
            writer = self._writer(module)
            for start in range(0, len(items), BATCH):
                chunk = items[start : start + BATCH]
                done = await (
                    writer.create(chunk) if op is WriteOp.CREATE else writer.update(chunk)
                )
                for result in done:
                    if result.external_id:
                        self._module_of[result.external_id] = module
                results += done
        if deletes:
            results += await self._delete(entity, deletes, list(routes.values()))
        return results

    async def _delete(
        self, entity: str, requests: list[WriteRequest], modules: list[str]
    ) -> list[WriteResult]:
        results: list[WriteResult] = []
        by_module: dict[str, list[WriteRequest]] = {}
        unknown: list[WriteRequest] = []
        for request in requests:
            module = self._module_of.get(str(request.external_id)) or (
                modules[0] if len(modules) == 1 else None
            )
            if module is None:
                unknown.append(request)
            else:
                by_module.setdefault(module, []).append(request)
        if unknown:
            # a record of a several-module entity, never seen by this instance: find its module
            await self.fetch(entity, [str(r.external_id) for r in unknown])
            for request in unknown:
                module = self._module_of.get(str(request.external_id))
                if module is None:
                    results.append(
                        WriteResult(
                            request.key,
                            WriteOutcome.DELETED,
                            request.external_id,
                            code="ALREADY_DELETED",
                        )
                    )
                else:
                    by_module.setdefault(module, []).append(request)
        for module, items in by_module.items():
            writer = self._writer(module)
            for start in range(0, len(items), BATCH):
                results += await writer.delete(items[start : start + BATCH])
        return results


def _copy(state: dict[str, Any]) -> dict[str, Any]:
    """A module's cursor state, its remembered notes copied (later pages change them)."""
    copied = dict(state)
    if isinstance(state.get("notes"), dict):
        copied["notes"] = {p: list(ids) for p, ids in state["notes"].items()}
    return copied


def _bare(owner: Any) -> bool:
    return isinstance(owner, dict) and "id" in owner and "email" not in owner
