"""Running one job once: replay the outbox, pull every entity, push every entity, report.

Entities are visited parents first, so a stakeholder's organisation is
linked before the stakeholder needs it; a child whose parent is still not
linked waits as a parked record and is retried on later runs.

A dry run does all of it inside one transaction that is rolled back, with
the connector's writes simulated: the hub keeps nothing, the remote sees no
write, and the plan lists what would have happened on each side.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from crmbridge.connector import Connector, ReportsUsage
from crmbridge.errors import CrmBridgeError, RunStopped
from crmbridge.store import Store
from crmbridge.sync.context import RunContext
from crmbridge.sync.job import SyncJob
from crmbridge.sync.ports import EntityMapper
from crmbridge.sync.prepare import PagePreparer, PortableMappers
from crmbridge.sync.pull import pull_entity
from crmbridge.sync.push import push_entity, replay_outbox

__all__ = ["Leg", "RunReport", "dry_run_legs", "run_job"]


class _DryRunRollback(Exception):
    """Raised at the end of a dry run so its one transaction is rolled back."""


@dataclass(slots=True)
class RunReport:
    """What a run did; :meth:`as_dict` is the JSON of ``crmbridge sync --json`` and ``GET /runs/{id}``."""

    run_id: str
    job: str
    status: str
    counts: dict[str, int]
    by_entity: dict[str, dict[str, int]]
    api_calls: int | None
    duration_s: float
    dry_run: bool = False
    warnings: list[str] = field(default_factory=list)
    error: dict[str, Any] | None = None
    plan: list[dict[str, Any]] | None = None
    plan_summary: dict[str, Any] | None = None
    connector: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The report, JSON-ready."""
        data: dict[str, Any] = {
            "run_id": self.run_id,
            "job": self.job,
            "status": self.status,
            "counts": self.counts,
            "entities": self.by_entity,
            "api_calls": self.api_calls,
            "duration_s": round(self.duration_s, 3),
            "dry_run": self.dry_run,
            "warnings": self.warnings,
        }
        if self.error is not None:
            data["error"] = self.error
        if self.connector is not None:
            data["connector"] = self.connector
        if self.plan_summary is not None:
            data["plan"] = self.plan_summary
        if self.plan is not None:
            data["plan_records"] = self.plan
        return data


def _preparer(mappers: Mapping[str, EntityMapper], job: SyncJob) -> PagePreparer | None:
    """A worker for the pull's mapping, when the mappers can be rebuilt in one and may."""
    if not job.pulls or not isinstance(mappers, PortableMappers):
        return None
    return PagePreparer(mappers.rebuild) if mappers.workers > 0 else None


def _utc_now() -> datetime:
    return datetime.now(UTC)


async def run_job(
    store: Store,
    job: SyncJob,
    connector: Connector,
    mappers: Mapping[str, EntityMapper],
    *,
    dry_run: bool = False,
    now: Callable[[], datetime] = _utc_now,
    run_id: str | None = None,
    progress: Callable[[str, str, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    pid: int | None = None,
) -> RunReport:
    """Run ``job`` once and return its report; the run and its counts are recorded in the hub.

    ``pid`` is the process the run is recorded under (default: this one; a
    child process running it for a service gives the service's).

    A foreseeable failure (auth, outage, bad config) ends the run as
    ``failed`` with the error in the report; what was committed before it
    stays, and the next run goes on from there. A dry run records nothing.
    """
    started = time.monotonic()
    if dry_run:
        rid = run_id or f"dry-{uuid.uuid4().hex[:12]}"
    else:
        rid = store.start_run(
            job.name, "sync", run_id=run_id, host=socket.gethostname(), pid=pid or os.getpid()
        ).id
    ctx = RunContext(
        job,
        connector,
        store,
        mappers,
        rid,
        now,
        dry_run=dry_run,
        progress=progress,
        should_stop=should_stop,
        preparer=_preparer(mappers, job),
    )
    calls_before = _api_calls(connector)
    status, error = "succeeded", None
    try:
        await connector.open()
        try:
            if dry_run:
                await _dry_run(ctx)
            else:
                await _stages(ctx)
        finally:
            await connector.close()
            _take_warnings(ctx)
            if ctx.preparer is not None:
                ctx.preparer.close()
    except RunStopped as exc:
        status, error = "interrupted", exc.as_dict()
    except CrmBridgeError as exc:
        status, error = "failed", exc.as_dict()
    except BaseException:
        if not dry_run:
            _finish(store, ctx, "interrupted", started, calls_before, None)
        raise
    report = _finish(store, ctx, status, started, calls_before, error) if not dry_run else None
    return report or _report(ctx, status, started, calls_before, error)


async def _stages(ctx: RunContext) -> None:
    if ctx.job.pushes:
        await replay_outbox(ctx)
    if ctx.job.pulls:
        for entity in ctx.job.entities:
            await pull_entity(ctx, entity)
    if ctx.job.pushes:
        for entity in ctx.job.entities:
            await push_entity(ctx, entity)


async def _dry_run(ctx: RunContext) -> None:
    try:
        # rolled back at the end: it need not hold other writers up while it reads remotes
        with ctx.store.transaction(queue=False) as outer:
            ctx._outer = outer
            await _stages(ctx)
            raise _DryRunRollback
    except _DryRunRollback:
        pass
    finally:
        ctx._outer = None


@dataclass(frozen=True, slots=True)
class Leg:
    """One job of a multi-job dry run (a migration's pull leg, then its push leg)."""

    job: SyncJob
    connector: Connector
    mappers: Mapping[str, EntityMapper]


async def dry_run_legs(
    store: Store, legs: Sequence[Leg], *, now: Callable[[], datetime] = _utc_now
) -> list[RunReport]:
    """Plan several jobs in one transaction that is rolled back, so later legs see earlier ones.

    A migration's push leg thus plans the records its pull leg would bring in.
    """
    reports: list[RunReport] = []
    try:
        with store.transaction(queue=False) as outer:
            for leg in legs:
                started = time.monotonic()
                ctx = RunContext(
                    leg.job,
                    leg.connector,
                    store,
                    leg.mappers,
                    f"dry-{uuid.uuid4().hex[:12]}",
                    now,
                    dry_run=True,
                )
                ctx._outer = outer
                calls_before = _api_calls(leg.connector)
                status, error = "succeeded", None
                await leg.connector.open()
                try:
                    await _stages(ctx)
                except CrmBridgeError as exc:
                    status, error = "failed", exc.as_dict()
                finally:
                    await leg.connector.close()
                    _take_warnings(ctx)
                reports.append(_report(ctx, status, started, calls_before, error))
            raise _DryRunRollback
    except _DryRunRollback:
        pass
    return reports


def _take_warnings(ctx: RunContext) -> None:
    """Move what the connector has to say of the run (see :class:`Connector`) to its report."""
    said = getattr(ctx.connector, "warnings", None)
    if isinstance(said, list):
        ctx.warn(w for w in said if isinstance(w, str))
        said.clear()


def _api_calls(connector: Connector) -> int | None:
    calls = getattr(connector, "api_calls", None)
    return calls if isinstance(calls, int) else None


def _report(
    ctx: RunContext,
    status: str,
    started: float,
    calls_before: int | None,
    error: dict[str, Any] | None,
) -> RunReport:
    calls_after = _api_calls(ctx.connector)
    return RunReport(
        run_id=ctx.run_id,
        job=ctx.job.name,
        status=status,
        counts=ctx.counts.total(),
        by_entity=dict(ctx.counts.as_dict()),
        api_calls=None if calls_after is None else calls_after - (calls_before or 0),
        duration_s=time.monotonic() - started,
        dry_run=ctx.dry_run,
        warnings=list(ctx.warnings),
        error=error,
        plan=ctx.plan.items if ctx.dry_run else None,
        plan_summary=ctx.plan.summary() if ctx.dry_run else None,
        connector=_usage(ctx.connector),
    )


def _usage(connector: Connector) -> dict[str, Any] | None:
    if not isinstance(connector, ReportsUsage):
        return None
    return dict(connector.usage())


def _finish(
    store: Store,
    ctx: RunContext,
    status: str,
    started: float,
    calls_before: int | None,
    error: dict[str, Any] | None,
) -> RunReport:
    report = _report(ctx, status, started, calls_before, error)
    store.finish_run(
        ctx.run_id,
        status,  # type: ignore[arg-type]
        counts=report.counts,
        report=report.as_dict(),
    )
    return report
