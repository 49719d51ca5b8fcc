"""The service functions the command line and the HTTP app share.

:class:`Bridge` builds what a config describes (the store, connector
instances with their mappings, jobs) and runs it. The CLI and the web app are
thin faces over it, so both say the same thing the same way.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from crmbridge.config import Config
from crmbridge.connector import (
    NO_API_EVENTS,
    ApiEvents,
    Connector,
    ConnectorContext,
    InboundWebhook,
    WebhookReceiver,
)
from crmbridge.durations import format_duration
from crmbridge.errors import AuthError, ConfigError, PermanentError, RecordRejected
from crmbridge.registry import ConnectorType, discover
from crmbridge.scheduler import next_cron_time
from crmbridge.store import Store, open_store
from crmbridge.store.rows import InboxItem, NewWebhook, WebhookEvent
from crmbridge.sync.job import SyncJob
from crmbridge.sync.ports import EntityMapper
from crmbridge.sync.prepare import PortableMappers
from crmbridge.sync.resolve import resolve_item
from crmbridge.sync.runner import RunReport, run_job

__all__ = ["Bridge", "WebhookAcceptance", "lease_name"]

_KEPT_HEADERS = ("content-type", "webhook-id", "webhook-timestamp", "user-agent")


@dataclass(frozen=True, slots=True)
class WebhookAcceptance:
    """An inbound webhook stored in the inbox (or recognised as a duplicate)."""

    connector: str
    webhook_id: str
    duplicate: bool
    hint: bool
    jobs: tuple[str, ...]


class _HubInbox:
    """The hub's webhook inbox as one connector sees it (:class:`crmbridge.connector.WebhookInbox`)."""

    def __init__(self, bridge: Bridge, connector: str, *, read_only: bool) -> None:
        self._bridge = bridge
        self._connector = connector
        self._read_only = read_only

    def pending(self, limit: int) -> list[WebhookEvent]:
        return self._bridge.store.list_pending_webhooks(self._connector, limit=limit)

    def done(self, event_ids: Sequence[int], *, error: str | None = None) -> None:
        if self._read_only or not event_ids:
            return
        with self._bridge.store.transaction() as tx:  # one commit for the page's events
            for event_id in event_ids:
                tx.mark_webhook_processed(event_id, error=error)


def _stamps(files: Sequence[Path]) -> list[int]:
    """When each file last changed (-1: gone), to know a compiled mapping is still current."""
    stamps = []
    for path in files:
        try:
            stamps.append(path.stat().st_mtime_ns)
        except OSError:
            stamps.append(-1)
    return stamps


def lease_name(job: str) -> str:
    """The lease row a run of ``job`` holds, so one replica at a time runs it."""
    return f"job:{job}"


def _schedule_text(schedule: Any) -> str:
    if schedule is None:
        return "manual"
    if schedule.every is not None:
        return f"every {format_duration(schedule.every)}"
    return f"cron {schedule.cron}"


def _next_run(
    schedule: Any, last_start: datetime | None, now: datetime, timezone: str
) -> str | None:
    if schedule is None:
        return None
    if schedule.every is not None:
        due = now if last_start is None else max(now, last_start + schedule.every)
        return due.isoformat()
    fire = next_cron_time(schedule.cron, now, timezone)
    return fire.isoformat() if fire else None


def _next_run_of(
    live: Mapping[str, datetime | None],
    job: str,
    schedule: Any,
    last_start: datetime | None,
    now: datetime,
    timezone: str,
) -> dict[str, str | None]:
    if job in live:
        at = live[job]
        return {"next_run": at.isoformat() if at else None, "next_run_source": "scheduler"}
    return {
        "next_run": _next_run(schedule, last_start, now, timezone),
        "next_run_source": "config",
    }


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Bridge:
    """Everything one config describes, built on demand.

    ``api_events`` gives each connector instance, by connector name, where it
    reports retries and 429 answers (the daemon's metrics); ``None``: nowhere.
    ``run_pid`` is the process runs are recorded under (default: this one).
    """

    def __init__(
        self,
        config: Config,
        *,
        store: Store | None = None,
        now: Callable[[], datetime] = _utc_now,
        types: Mapping[str, ConnectorType] | None = None,
        api_events: Callable[[str], ApiEvents] | None = None,
        run_pid: int | None = None,
    ) -> None:
        self.config = config
        self.run_pid = run_pid
        self.now = now
        self.api_events = api_events
        self._store = store
        self._types = dict(types) if types is not None else None
        self._receivers: dict[str, WebhookReceiver | list[str]] = {}
        self._mappers: dict[str, tuple[list[int], PortableMappers]] = {}
        self._shared: dict[str, dict[str, Any]] = {}
        # SQLite has one writer: queueing inserts here beats its busy-wait back-off
        self._inbox_lock = threading.Lock()

    @property
    def store(self) -> Store:
        """The hub store (opened, and for SQLite upgraded, on first use)."""
        if self._store is None:
            self._store = open_store(self.config.store.url, now=self.now)
        return self._store

    @property
    def types(self) -> Mapping[str, ConnectorType]:
        """Installed connector types."""
        if self._types is None:
            self._types = discover()
        return self._types

    def close(self) -> None:
        """Close the store if this bridge opened it."""
        if self._store is not None:
            self._store.close()
            self._store = None

    def interrupt_dead_runs(self) -> int:
        """Mark ``interrupted`` the runs left ``running`` by dead processes of this host.

        A process killed outright (kill -9, a crash, a power cut) never finishes
        its run; one still alive (another replica, another command) is left
        alone. Returns how many were marked.
        """
        host = socket.gethostname()
        alive = {pid for pid in self.store.running_pids(host) if _alive(pid)}
        return self.store.interrupt_runs(host=host, alive=alive)

    def job(self, name: str) -> SyncJob:
        """The configured job ``name``; :class:`ConfigError` lists the jobs there are."""
        job = self.config.jobs.get(name)
        if job is None:
            known = ", ".join(sorted(self.config.jobs)) or "none configured"
            raise ConfigError(f"no job {name!r} in the config; jobs: {known}", key=f"jobs.{name}")
        return SyncJob.from_config(name, job, phone_region=self.config.defaults.phone_region)

    def _type_of(self, connector: str) -> tuple[Any, ConnectorType]:
        section = self.config.connectors.get(connector)
        if section is None:
            known = ", ".join(sorted(self.config.connectors)) or "none configured"
            raise ConfigError(
                f"no connector {connector!r} in the config; connectors: {known}",
                key=f"connectors.{connector}",
            )
        unusable = self.config.unusable(connector)
        if unusable is not None:
            raise unusable
        ctype = self.types.get(section.type)
        if ctype is None or ctype.cls is None:
            why = ctype.error if ctype is not None else "not installed"
            raise ConfigError(
                f"connector type {section.type!r} cannot be used: {why}",
                key=f"connectors.{connector}.type",
            )
        return section, ctype

    def connector(
        self, name: str, *, dry_run: bool = False, migration_target: bool = False
    ) -> Connector:
        """A new instance of the configured connector ``name``.

        Its context carries the hub's webhook inbox for ``name`` (read-only in a
        ``dry_run``), and whether it serves a migration's target
        (:attr:`ConnectorContext.migration_target`).
        """
        section, ctype = self._type_of(name)
        model = ctype.settings_model
        assert model is not None
        try:
            settings = model.model_validate(section.settings())
        except ValidationError as exc:
            first = exc.errors()[0]
            key = ".".join(str(p) for p in ("connectors", name, *first["loc"]))
            raise ConfigError(first["msg"], key=key, path=str(self.config.source_path)) from None
        context = ConnectorContext(
            base_dir=str(self.config.base_dir),
            phone_region=self.config.defaults.phone_region,
            timezone=self.config.defaults.timezone,
            mapping=section.mapping,
            inbox=_HubInbox(self, name, read_only=dry_run),
            api_events=self.api_events(name) if self.api_events else NO_API_EVENTS,
            shared=self._shared.setdefault(name, {}),
            dry_run=dry_run,
            config_path=str(self.config.source_path) if self.config.source_path else None,
            migration_target=migration_target,
        )
        instance: Connector = ctype.cls(name, settings, context)
        return instance

    def mappers(self, connector: str) -> dict[str, EntityMapper]:
        """The compiled mapping of ``connector``, one mapper per entity it maps."""
        section, ctype = self._type_of(connector)
        own = getattr(ctype.cls, "default_mappers", None)
        if section.mapping is None and callable(own):
            mappers: dict[str, EntityMapper] = own()
            return mappers
        from crmbridge.mapping.validate import MappingRecipe, entity_mappers

        cached = self._mappers.get(connector)
        if cached is not None and cached[0] == _stamps(cached[1].files):
            return cached[1]
        recipe = MappingRecipe(
            connector,
            section.type,
            section.mapping,
            str(self.config.base_dir),
            self.config.defaults.phone_region,
            self.config.defaults.timezone,
        )
        compiled = recipe.compile()
        fresh = PortableMappers(
            entity_mappers(compiled),
            recipe,
            self.config.runs.map_workers,
            files=compiled.spec.files,
        )
        self._mappers[connector] = (_stamps(fresh.files), fresh)
        return fresh

    async def sync(
        self,
        job_name: str,
        *,
        dry_run: bool = False,
        run_id: str | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> RunReport:
        """Run job ``job_name`` once (or plan it, with ``dry_run``); ``run_id`` names the run."""
        job = self.job(job_name)
        mappers = self.mappers(job.connector)
        missing = [e for e in job.entities if e not in mappers]
        if missing:
            raise ConfigError(
                f"job {job_name} syncs {', '.join(missing)}, which the mapping of "
                f"{job.connector} does not map; drop them from the job's entities or map them",
                key=f"jobs.{job_name}.entities",
            )
        connector = self.connector(job.connector, dry_run=dry_run)
        return await run_job(
            self.store,
            job,
            connector,
            mappers,
            dry_run=dry_run,
            now=self.now,
            run_id=run_id,
            should_stop=should_stop,
            pid=self.run_pid,
        )

    def jobs_of(self, connector: str) -> tuple[str, ...]:
        """The jobs that pull from ``connector`` (those an inbound webhook makes run)."""
        return tuple(
            name
            for name, job in self.config.jobs.items()
            if job.connector == connector and job.direction in ("pull", "both")
        )

    def _receiver(self, connector: str) -> WebhookReceiver | list[str]:
        found = self._receivers.get(connector)
        if found is not None:
            return found
        section, _ = self._type_of(connector)
        instance = self.connector(connector)
        if isinstance(instance, WebhookReceiver):
            found = instance
        else:
            # a connector that names a `notify_token` (Zoho) takes token-checked notifications
            token = section.settings().get("notify_token")
            tokens = token if isinstance(token, list) else [token]
            found = [str(t) for t in tokens if t]
            if not found:
                raise ConfigError(
                    f"connector {connector} ({section.type}) does not receive webhooks",
                    key=f"connectors.{connector}",
                )
        self._receivers[connector] = found
        return found

    def accept_webhook(
        self, connector: str, body: bytes, headers: Mapping[str, str]
    ) -> WebhookAcceptance:
        """Verify an inbound webhook for ``connector`` and store it in the inbox before answering.

        Raises what :meth:`check_webhook` raises, and :class:`StoreError`.
        The HTTP service stores many at once instead (:meth:`Store.add_webhooks`).
        """
        event = self.check_webhook(connector, body, headers)
        if self.store.backend == "sqlite":
            with self._inbox_lock:
                stored = self.store.add_webhooks([event])[0]
        else:
            stored = self.store.add_webhooks([event])[0]
        return self.webhook_acceptance(event, stored=stored)

    def check_webhook(self, connector: str, body: bytes, headers: Mapping[str, str]) -> NewWebhook:
        """Verify an inbound webhook for ``connector``; the inbox row to store, not stored yet.

        Raises :class:`ConfigError` (no such receiving connector),
        :class:`AuthError` (signature or token), :class:`RecordRejected`
        (code ``MALFORMED``: not JSON; any other: does not fit the mapping).
        A hint (a Zoho notification) is stored already processed: the sync it
        triggers fetches the records, there is nothing to drain.
        """
        receiver = self._receiver(connector)
        if isinstance(receiver, list):
            inbound = _notification(receiver, body)
        else:
            inbound = receiver.receive_webhook(body, headers, self.now())
            self._check_pulled(connector, inbound.entities)
        kept = {k.lower(): v for k, v in headers.items() if k.lower() in _KEPT_HEADERS}
        return NewWebhook(connector, inbound.webhook_id, body, kept, processed=inbound.hint)

    def _check_pulled(self, connector: str, entities: Sequence[str]) -> None:
        """Refuse a delivery about entities none of the jobs pulling from ``connector``
        pulls: stored, it would wait in the inbox for good, its sender told it was taken.
        A connector no job pulls from at all keeps what it receives for a later run."""
        jobs = self.jobs_of(connector)
        if not jobs:
            return
        pulled = {e for name in jobs for e in self.config.jobs[name].entities}
        missing = [e for e in entities if e not in pulled]
        if not missing:
            return
        which = ", ".join(missing)
        said = "; ".join(f"{n} pulls {', '.join(self.config.jobs[n].entities)}" for n in jobs)
        raise PermanentError(
            f"this webhook is about {which}, which no job pulls from {connector} ({said}); "
            f"add {which} to the entities of a job of {connector}"
        )

    def warm_up(self) -> None:
        """Build now what the first requests and runs would: every job's mappers, every receiver.

        A service calls it before serving, so no early request waits for a
        mapping to compile or a connector to load. A broken mapping raises
        :class:`ConfigError`, as the first run would.
        """
        for name in self.config.jobs:
            self.mappers(self.job(name).connector)
        for connector in self.config.connectors:
            section, ctype = self._type_of(connector)
            receives = callable(getattr(ctype.cls, "receive_webhook", None))
            if receives or section.settings().get("notify_token"):
                self._receiver(connector)

    def receiver_ready(self, connector: str) -> bool:
        """Whether ``connector``'s webhook receiver is built, so checking a delivery does no I/O."""
        return connector in self._receivers

    def webhook_acceptance(self, event: NewWebhook, *, stored: bool) -> WebhookAcceptance:
        """The answer for ``event``: new when ``stored``, else a duplicate; and the jobs it runs."""
        return WebhookAcceptance(
            event.connector,
            event.webhook_id,
            not stored,
            event.processed,
            self.jobs_of(event.connector),
        )

    def live_next_runs(self) -> dict[str, datetime | None]:
        """Each job's next run as a running ``crmbridge run`` scheduled it, if one is up.

        The earliest time any replica published within ``server.lease_ttl_s``
        (replicas refresh theirs every third of it); jobs no live replica
        schedules are left out.
        """
        since = self.now() - timedelta(seconds=self.config.server.lease_ttl_s)
        live: dict[str, datetime | None] = {}
        for row in self.store.list_schedules(seen_since=since):
            known = live.get(row.job)
            if row.job not in live or (
                row.next_run_at is not None and (known is None or row.next_run_at < known)
            ):
                live[row.job] = row.next_run_at
        return live

    def status(self) -> list[dict[str, Any]]:
        """Every job: schedule, last run, next run, lag, open conflicts, rejects, outbox, lease.

        ``next_run`` is the live scheduler's when ``crmbridge run`` is up
        (``next_run_source: "scheduler"``), else computed from the config and
        the last run (``"config"``).
        """
        now = self.now()
        live = self.live_next_runs()
        conflicts = self.store.count_by_job("open_inbox")
        rejects = self.store.count_by_job("open_rejects")
        outbox = self.store.count_by_job("pending_outbox")
        rows: list[dict[str, Any]] = []
        for name, job in self.config.jobs.items():
            last = self.store.last_run(name)
            good = last if last is None or last.status == "succeeded" else None
            if last is not None and good is None:
                good = self.store.last_run(name, status="succeeded")
            lease = self.store.get_lease(lease_name(name))
            rows.append(
                {
                    "job": name,
                    "connector": job.connector,
                    "schedule": _schedule_text(job.schedule),
                    "last_run": None
                    if last is None
                    else {
                        "run_id": last.id,
                        "status": last.status,
                        "started_at": last.started_at.isoformat(),
                        "finished_at": last.finished_at.isoformat() if last.finished_at else None,
                        "counts": last.counts,
                    },
                    **_next_run_of(
                        live,
                        name,
                        job.schedule,
                        last.started_at if last else None,
                        now,
                        self.config.defaults.timezone,
                    ),
                    "lag_s": None
                    if good is None or good.finished_at is None
                    else round((now - good.finished_at).total_seconds(), 1),
                    "open_conflicts": conflicts.get(name, 0),
                    "open_rejects": rejects.get(name, 0),
                    "outbox_depth": outbox.get(name, 0),
                    "lease_holder": lease.holder
                    if lease is not None and lease.expires_at > now
                    else None,
                }
            )
        return rows

    def resolve(
        self,
        item_id: int,
        *,
        take: str | None = None,
        values: Mapping[str, Any] | None = None,
        link: str | None = None,
    ) -> InboxItem:
        """Settle one inbox item under its job's delete policy."""
        item = self.store.get_inbox_item(item_id)
        job = self.config.jobs.get(item.job) if item is not None else None
        return resolve_item(
            self.store,
            item_id,
            take=take,
            values=values,
            link=link,
            deletes=job.deletes if job is not None else "propagate",
            phone_region=self.config.defaults.phone_region,
        )


def _notification(tokens: list[str], body: bytes) -> InboundWebhook:
    from crmbridge.signatures import SignatureError, verify_zoho_notification

    try:
        webhook_id = verify_zoho_notification(tokens, body)
    except SignatureError as exc:
        raise AuthError(f"the notification does not verify: {exc}") from None
    except ValueError as exc:
        raise RecordRejected(str(exc), code="MALFORMED") from None
    return InboundWebhook(webhook_id, hint=True)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` of this host still runs."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True
