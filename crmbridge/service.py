"""The service functions the command line and the HTTP app share.

:class:`Bridge` builds what a config describes (the store, connector
instances with their mappings, jobs) and runs it. The CLI and the web app are
thin faces over it, so both say the same thing the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from crmbridge.config import Config
from crmbridge.connector import Connector, ConnectorContext
from crmbridge.durations import format_duration
from crmbridge.errors import ConfigError
from crmbridge.model import ENTITY_ORDER
from crmbridge.registry import ConnectorType, discover
from crmbridge.scheduler import next_cron_time
from crmbridge.store import Store, open_store
from crmbridge.store.rows import InboxItem
from crmbridge.sync.job import SyncJob
from crmbridge.sync.ports import EntityMapper
from crmbridge.sync.resolve import resolve_item
from crmbridge.sync.runner import RunReport, run_job

__all__ = ["Bridge", "lease_name"]


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


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Bridge:
    """Everything one config describes, built on demand."""

    def __init__(
        self,
        config: Config,
        *,
        store: Store | None = None,
        now: Callable[[], datetime] = _utc_now,
        types: Mapping[str, ConnectorType] | None = None,
    ) -> None:
        self.config = config
        self.now = now
        self._store = store
        self._types = dict(types) if types is not None else None

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
        ctype = self.types.get(section.type)
        if ctype is None or ctype.cls is None:
            why = ctype.error if ctype is not None else "not installed"
            raise ConfigError(
                f"connector type {section.type!r} cannot be used: {why}",
                key=f"connectors.{connector}.type",
            )
        return section, ctype

    def connector(self, name: str) -> Connector:
        """A new instance of the configured connector ``name``."""
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
        from crmbridge.mapping.validate import load_connector_mapping

        compiled = load_connector_mapping(
            connector,
            section.type,
            section.mapping,
            base_dir=self.config.base_dir,
            phone_region=self.config.defaults.phone_region,
            timezone=self.config.defaults.timezone,
        )
        return {e: compiled.entity(e) for e in ENTITY_ORDER if e in compiled.spec.entities}

    async def sync(self, job_name: str, *, dry_run: bool = False) -> RunReport:
        """Run job ``job_name`` once (or plan it, with ``dry_run``)."""
        job = self.job(job_name)
        mappers = self.mappers(job.connector)
        missing = [e for e in job.entities if e not in mappers]
        if missing:
            raise ConfigError(
                f"job {job_name} syncs {', '.join(missing)}, which the mapping of "
                f"{job.connector} does not map; drop them from the job's entities or map them",
                key=f"jobs.{job_name}.entities",
            )
        connector = self.connector(job.connector)
        return await run_job(self.store, job, connector, mappers, dry_run=dry_run, now=self.now)

    def status(self) -> list[dict[str, Any]]:
        """Every job: schedule, last run, next run, lag, open conflicts, rejects, outbox, lease."""
        now = self.now()
        rows: list[dict[str, Any]] = []
        for name, job in self.config.jobs.items():
            runs = self.store.list_runs(name, limit=20)
            last = runs[0] if runs else None
            good = next((r for r in runs if r.status == "succeeded"), None)
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
                    "next_run": _next_run(
                        job.schedule,
                        last.started_at if last else None,
                        now,
                        self.config.defaults.timezone,
                    ),
                    "lag_s": None
                    if good is None or good.finished_at is None
                    else round((now - good.finished_at).total_seconds(), 1),
                    "open_conflicts": len(self.store.list_open_inbox(name, limit=1_000_000)),
                    "open_rejects": len(self.store.list_open_rejects(name)),
                    "outbox_depth": len(self.store.list_pending_outbox(job=name)),
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
