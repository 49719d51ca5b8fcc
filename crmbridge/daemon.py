"""``crmbridge run``: the scheduler and the HTTP service in one event loop, for ops teams.

Each replica builds its own in-memory APScheduler from the config; the store
decides who runs. A run takes the job's lease row (``SELECT ... FOR UPDATE
SKIP LOCKED`` on PostgreSQL), renews it every third of ``server.lease_ttl_s``
while it works and releases it at the end; a replica that finds the lease
held skips that tick. A run a webhook asked for waits for the lease instead
(the event is merged once the other run ends), and ``POST /jobs/{job}/run``
answers 409 ``running_elsewhere``. A replica killed mid-run loses its lease when it
expires, and the next replica to run the job goes on from the committed
cursor and outbox.

Scheduled ticks and HTTP triggers go through one registry of running jobs,
so a job never runs twice at once in a process; a tick that finds its job
running is coalesced into one more run after it.

Each replica publishes its scheduler's next fire time of every job in the
store (at start, after each tick, and every third of ``server.lease_ttl_s``)
and withdraws it when it stops; ``crmbridge status`` and ``GET /jobs`` show
the earliest one published within ``server.lease_ttl_s``.

At start, the jobs that pull from a connector with webhooks still waiting in
the inbox run at once (interval jobs run at start anyway; cron and manual
jobs would otherwise leave them waiting).

SIGTERM or SIGINT: no new runs start, running ones stop at their next batch
boundary (everything before it committed), leases are released, and the
process exits 0 within ``server.shutdown_grace_s``. A second signal exits at
once; the store's transactions keep it consistent. SIGHUP is logged and
ignored, by the daemon and its child processes alike: the config is not
reloaded.

SQLite serves one process: a second ``crmbridge run`` on the same file is
refused (an exclusive lock on ``<database>.run.lock``).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import logging
import os
import signal
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from crmbridge.errors import ConfigError, StoreError
from crmbridge.job_lease import JobBusy, enter_in_thread, holding_job, leased
from crmbridge.lifetime import hangup_ignored
from crmbridge.scheduler import build_scheduler, next_fire_times
from crmbridge.service import Bridge
from crmbridge.sync.job import COUNT_KEYS
from crmbridge.sync.runner import RunReport
from crmbridge.sync_processes import SyncProcesses

__all__ = ["Daemon", "sqlite_guard"]

log = logging.getLogger("crmbridge.daemon")


@contextlib.contextmanager
def sqlite_guard(url: str) -> Iterator[None]:
    """Hold an exclusive lock beside a SQLite hub file for the daemon's life (no-op elsewhere)."""
    if not url.startswith("sqlite") or url.rstrip("/").endswith(":") or ":memory:" in url:
        yield
        return
    database = Path(url.split(":///", 1)[1].split("?", 1)[0])
    lock_path = database.with_name(database.name + ".run.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    handle: IO[str] = lock_path.open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise StoreError(
            f"another `crmbridge run` is using {database}: SQLite serves one process; "
            "run replicas on a shared PostgreSQL store (store.url: postgresql+psycopg://...)"
        ) from None
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


class Daemon:
    """The scheduler, the HTTP app and leased runs of one replica."""

    def __init__(self, bridge: Bridge, *, host: str | None = None, port: int | None = None) -> None:
        self.bridge = bridge
        server = bridge.config.server
        self.host = host or server.host
        self.port = port or server.port
        self.holder = f"{socket.gethostname()}:{os.getpid()}"
        self.ttl = timedelta(seconds=server.lease_ttl_s)
        self.stopping = threading.Event()
        self.metrics: Any = None
        self.children: SyncProcesses | None = None
        self._scheduler: Any = None
        self._signals = 0
        self._ticks: set[str] = set()  # runs a scheduler tick started, not yet begun
        self._closing: asyncio.Event | None = None
        self._waiting: Callable[[str, str], Awaitable[RunReport]] | None = None

    def check(self) -> None:
        """Fail before starting if the config's jobs or the store are not usable."""
        store = self.bridge.store
        if not store.is_current():
            raise StoreError("the hub's schema is not current: run `crmbridge db upgrade`")
        for name in self.bridge.config.jobs:
            job = self.bridge.job(name)
            mappers = self.bridge.mappers(job.connector)
            missing = [e for e in job.entities if e not in mappers]
            if missing:
                raise ConfigError(
                    f"job {name} syncs {', '.join(missing)}, which its mapping does not map",
                    key=f"jobs.{name}.entities",
                )
        interrupted = self.bridge.interrupt_dead_runs()
        if interrupted:
            log.warning(
                "%d runs of an earlier process on this host marked interrupted", interrupted
            )

    async def run(self) -> int:
        """Serve and schedule until a signal; returns the exit code."""
        import uvicorn

        from crmbridge.daemon_metrics import SyncMetrics
        from crmbridge.web import create_app, ready_to_serve
        from crmbridge.web.metrics import Metrics
        from crmbridge.web.runs import RunRegistry

        metrics = Metrics()
        self.metrics = SyncMetrics(metrics.registry, self.bridge)
        self.bridge.api_events = self.metrics.api_events
        self.children = SyncProcesses.for_bridge(self.bridge, api_events=self.metrics.api_events)
        # every run counts, scheduled or asked for, also one that ends without a report
        registry = RunRegistry(
            self._leased_sync,
            on_finish=lambda job, status: metrics.runs.labels(job, status).inc(),
        )
        self._closing = asyncio.Event()
        self._waiting = leased(self.bridge.store, self.ttl, self._run_held, self._closing)
        app = create_app(self.bridge, runs=registry, metrics=metrics, lease_jobs=True)
        ready_to_serve(self.bridge, self.children)
        config = uvicorn.Config(
            app,
            host=self.host,
            port=self.port,
            log_config=None,
            access_log=False,
            # typed int, but waited for with asyncio.wait_for: 0.5 s is 0.5 s (int() made it
            # 0, and `or None` a wait for ever)
            timeout_graceful_shutdown=self.bridge.config.server.shutdown_grace_s,  # type: ignore[arg-type]
        )
        server = _QuietServer(config)
        schedules = {name: job.schedule for name, job in self.bridge.config.jobs.items()}
        scheduler = build_scheduler(
            schedules,
            functools.partial(self._fire, registry),
            timezone=self.bridge.config.defaults.timezone,
            housekeeping=self._housekeeping,
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, server, scheduler)
        loop.add_signal_handler(signal.SIGHUP, self._on_hangup)
        self._prune()
        scheduler.start()
        self._scheduler = scheduler
        for job in self._jobs_with_webhooks_waiting():
            log.info("job %s has webhooks waiting in the inbox: running it now", job)
            registry.trigger(job, coalesce=True)
        publisher = asyncio.create_task(self._publish_schedules())
        channels = asyncio.create_task(self._keep_channels())
        log.info(
            "crmbridge run on http://%s:%s as %s, %d jobs",
            self.host,
            self.port,
            self.holder,
            len(schedules),
        )
        try:
            await server.serve()
        finally:
            try:
                await self._wind_down(scheduler, publisher, channels)
            finally:
                if self.children is not None:
                    self.children.close()
        log.info("stopped")
        return 0

    def _jobs_with_webhooks_waiting(self) -> list[str]:
        """Jobs that pull from a connector with webhooks still pending (taken before a stop),
        and that the scheduler does not run at start anyway (cron and manual jobs)."""
        config = self.bridge.config
        at_start = {
            name for name, job in config.jobs.items() if job.schedule and job.schedule.every
        }
        waiting = []
        for connector in config.connectors:
            jobs = [job for job in self.bridge.jobs_of(connector) if job not in at_start]
            if jobs and self.bridge.store.list_pending_webhooks(connector, limit=1):
                waiting.extend(jobs)
        return waiting

    async def _wind_down(
        self, scheduler: Any, publisher: asyncio.Task[None], channels: asyncio.Task[None]
    ) -> None:
        """Stop scheduling, end the background tasks, withdraw this replica's next run times."""
        if scheduler.running:
            scheduler.shutdown(wait=False)
        publisher.cancel()
        channels.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await publisher
        with contextlib.suppress(asyncio.CancelledError):
            await channels
        try:
            await asyncio.to_thread(self.bridge.store.withdraw_schedules, holder=self.holder)
        except StoreError as exc:  # stale rows are ignored after server.lease_ttl_s anyway
            log.warning("could not withdraw the next run times: %s", exc)

    async def _keep_channels(self) -> None:
        """Renew the connectors' push channels (Zoho notifications) before they expire."""
        from crmbridge.channels import ChannelKeeper

        keeper = ChannelKeeper(self.bridge.connector, list(self.bridge.config.connectors))
        await keeper.run(self.stopping.is_set)

    def _on_signal(self, server: Any, scheduler: Any) -> None:
        self._signals += 1
        if self._signals > 1:
            log.warning("second signal: exiting now")
            os._exit(1)
        log.info("stopping: no new runs; running ones end at their next batch boundary")
        self.stopping.set()
        if self._closing is not None:
            self._closing.set()  # runs waiting for a lease held elsewhere give up
        if self.children is not None:
            self.children.stop()
        if scheduler.running:
            scheduler.shutdown(wait=False)
        server.should_exit = True

    def _on_hangup(self) -> None:
        # a closed terminal or `systemctl kill -s HUP` would otherwise end the service
        hangup_ignored("run")

    async def _fire(self, registry: Any, job: str) -> None:
        # a coroutine, so the scheduler calls it in this loop, where the registry lives
        if self.stopping.is_set():
            return
        fresh = registry.running(job) is None
        run_id = registry.trigger(job, coalesce=True)
        if fresh:
            self._ticks.add(run_id)
        try:
            await self._publish()  # the scheduler has moved this job's next fire time on
        except asyncio.CancelledError:
            # a stopping scheduler cancels the ticks it runs; that is no error to log
            if not self.stopping.is_set():
                raise

    async def _publish(self) -> None:
        scheduler = self._scheduler
        if scheduler is None or not scheduler.running or self.stopping.is_set():
            return
        times: dict[str, datetime | None] = next_fire_times(scheduler)
        try:
            await asyncio.to_thread(self.bridge.store.publish_schedules, self.holder, times)
        except StoreError as exc:
            log.warning("could not publish the next run times: %s", exc)

    async def _publish_schedules(self) -> None:
        while True:
            await self._publish()
            await asyncio.sleep(self.ttl.total_seconds() / 3)

    def _housekeeping(self) -> None:
        try:
            self._prune()
        except StoreError as exc:  # the next day's try goes on
            log.error("could not prune old runs: %s", exc.message)

    def _prune(self) -> None:
        days = self.bridge.config.runs.retention_days
        # schedules of replicas gone without a word (kill -9) are only ignored; drop old ones
        self.bridge.store.withdraw_schedules(seen_before=self.bridge.now() - timedelta(days=1))
        pruned = self.bridge.store.prune_runs(days)
        if pruned:
            log.info("pruned %d runs older than %s days", pruned, days)

    async def _leased_sync(self, job: str, run_id: str) -> RunReport:
        if run_id not in self._ticks and self._waiting is not None:
            # asked for (a webhook, a coalesced tick): what asked waits in the inbox to be merged
            return await self._waiting(job, run_id)
        self._ticks.discard(run_id)
        held = holding_job(self.bridge.store, job, self.ttl, self.holder)
        try:
            await enter_in_thread(held)
        except JobBusy as exc:
            log.info("job %s runs elsewhere (%s); skipped", job, exc.holder, extra={"job": job})
            return RunReport(run_id, job, "skipped", dict.fromkeys(COUNT_KEYS, 0), {}, None, 0.0)
        try:
            return await self._run_held(job, run_id)
        finally:
            await asyncio.to_thread(held.__exit__, None, None, None)

    async def _run_held(self, job: str, run_id: str) -> RunReport:
        """Run ``job`` as ``run_id`` (its lease held), count it and log how it ended."""
        if self.children is not None:
            report = await self.children(job, run_id)
        else:
            report = await asyncio.to_thread(
                asyncio.run,
                self.bridge.sync(job, run_id=run_id, should_stop=self.stopping.is_set),
            )
        if self.metrics is not None:
            self.metrics.observe(self.bridge.config.jobs[job].connector, report)
        log.info(
            "run %s of %s: %s %s",
            report.run_id,
            job,
            report.status,
            " ".join(f"{k}={v}" for k, v in report.counts.items() if v),
            extra={"run_id": report.run_id, "job": job},
        )
        return report


def _server_class() -> Any:
    import uvicorn

    class QuietServer(uvicorn.Server):
        """A uvicorn server that leaves the signals to the daemon."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return QuietServer


def _QuietServer(config: Any) -> Any:
    return _server_class()(config)
