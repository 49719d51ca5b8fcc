"""One run of a job at a time, wherever it is started: a lease on the job in the hub.

The daemon takes the job's lease for each scheduled run; a run started by
hand (``crmbridge sync JOB``) or over HTTP by ``crmbridge serve`` takes the
same lease, so it never runs beside a scheduled run of the same job (two
pulls of one new record would each create it). The lease is kept alive while
the run goes on and given up when it ends; a process that dies leaves it to
lapse after ``server.lease_ttl_s``. A run of the holder still ``running``
when the lease is given up (cut off at the end of a shutdown's grace period,
its child process killed) is marked ``interrupted`` then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta

from crmbridge.errors import CrmBridgeError
from crmbridge.names import COUNT_KEYS
from crmbridge.service import lease_name
from crmbridge.store import Store
from crmbridge.sync.runner import RunReport

__all__ = [
    "JobBusy",
    "busy_elsewhere",
    "enter_in_thread",
    "holding_job",
    "leased",
    "this_process",
]

RunFunction = Callable[[str, str], Awaitable[RunReport]]
"""``(job, run_id) -> report``: how a service runs a job."""

log = logging.getLogger(__name__)


def this_process() -> str:
    """This process as a lease holder: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


class JobBusy(CrmBridgeError):
    """The job is running in another process: its lease is live."""

    def __init__(self, job: str, holder: str, until: str) -> None:
        super().__init__(
            f"job {job} is running in {holder} (its lease runs to {until} unless renewed); "
            "wait for that run to end, or stop that process"
        )
        self.job = job
        self.holder = holder


@contextlib.contextmanager
def holding_job(store: Store, job: str, ttl: timedelta, holder: str | None = None) -> Iterator[str]:
    """Hold ``job``'s lease for the ``with`` block, renewing it every third of ``ttl``.

    Yields the holder's name. Raises :class:`JobBusy`, at once, while another
    holder's lease is live. A lapsed lease of a process that died is taken
    over, and that process's runs of the job are marked interrupted. On the
    way out, the runs of the job the holder started while it held the lease
    and still ``running`` are marked interrupted before the lease is given up:
    no one would say they ended.
    """
    holder = holder or this_process()
    name = lease_name(job)
    before = store.get_lease(name)
    if not store.try_acquire_lease(name, holder, ttl):
        live = store.get_lease(name)
        raise JobBusy(
            job,
            live.holder if live is not None else "another process",
            live.expires_at.isoformat(timespec="seconds") if live is not None else "?",
        )
    if before is not None and before.holder != holder:
        _interrupt_runs_of(store, job, before.holder)
    taken = store.get_lease(name)
    stop = threading.Event()
    beat = threading.Thread(
        target=_renew, args=(store, name, holder, ttl, stop), name=f"lease {name}", daemon=True
    )
    beat.start()
    try:
        yield holder
    finally:
        stop.set()
        beat.join()
        try:
            if taken is not None:
                _interrupt_own_runs(store, job, holder, taken.acquired_at)
        finally:
            store.release_lease(name, holder)


def _renew(store: Store, name: str, holder: str, ttl: timedelta, stop: threading.Event) -> None:
    while not stop.wait(ttl.total_seconds() / 3):
        try:
            if not store.heartbeat_lease(name, holder, ttl):
                log.warning("lost the lease %s", name)
        except CrmBridgeError as exc:  # the store is unreachable for a while: try again
            log.error("could not renew the lease %s: %s", name, exc.message)


def _interrupt_runs_of(store: Store, job: str, holder: str) -> None:
    """Mark over the runs of ``job`` by ``holder``, whose lease lapsed (it died mid-run)."""
    host, _, pid = holder.rpartition(":")
    if pid.isdigit() and store.interrupt_runs(host, job=job, pid=int(pid)):
        log.warning("job %s: the run of %s, whose lease lapsed, marked interrupted", job, holder)


def _interrupt_own_runs(store: Store, job: str, holder: str, since: datetime) -> None:
    """Mark over the runs of ``job`` that ``holder`` started ``since`` it took the lease and
    left ``running``, as it gives the lease up."""
    host, _, pid = holder.rpartition(":")
    if pid.isdigit() and store.interrupt_runs(host, job=job, pid=int(pid), started_since=since):
        log.warning(
            "job %s: a run cut off before it ended marked interrupted", job, extra={"job": job}
        )


def busy_elsewhere(store: Store, job: str, holder: str | None = None) -> JobBusy | None:
    """Why ``job`` cannot run here now (another holder's live lease), or ``None``."""
    live = store.get_lease(lease_name(job))
    if live is None or live.holder == (holder or this_process()):
        return None
    if live.expires_at <= datetime.now(UTC):
        return None
    return JobBusy(job, live.holder, live.expires_at.isoformat(timespec="seconds"))


def leased(
    store: Store, ttl: timedelta, run: RunFunction, closing: asyncio.Event | None = None
) -> RunFunction:
    """``run``, holding the job's lease for each run (see :func:`holding_job`).

    A run whose job runs elsewhere waits for that run to end, then runs: the
    webhooks that asked for it are merged then, and its id names a real run.
    Once ``closing`` is set (the service stops), a run still waiting is given
    up at once, its report ``skipped``: it has done nothing, and what it was to
    merge waits in the inbox for the next run.
    """
    poll = min(2.0, ttl.total_seconds() / 6)
    stop = closing or asyncio.Event()

    async def run_leased(job: str, run_id: str) -> RunReport:
        waiting = False
        while True:
            held = holding_job(store, job, ttl)
            try:
                await enter_in_thread(held)
                break
            except JobBusy as exc:
                if not waiting:
                    log.info("%s; run %s waits for it", exc, run_id, extra={"job": job})
                    waiting = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), poll)
            if stop.is_set():
                message = (
                    f"the service stopped while job {job} ran elsewhere; run {run_id} never started"
                )
                counts = dict.fromkeys(COUNT_KEYS, 0)
                error = {"error": "JobBusy", "message": message}
                return RunReport(run_id, job, "skipped", counts, {}, None, 0.0, error=error)
        try:
            return await run(job, run_id)
        finally:
            await asyncio.to_thread(held.__exit__, None, None, None)

    return run_leased


async def enter_in_thread(held: contextlib.AbstractContextManager[str]) -> str:
    """Enter ``held`` (a :func:`holding_job`) in a worker thread, off the event loop.

    Cancelled meanwhile, the lease the thread then takes is given up at once,
    not left held (and renewed) until the process ends.
    """
    entering = asyncio.ensure_future(asyncio.to_thread(held.__enter__))
    try:
        return await asyncio.shield(entering)
    except asyncio.CancelledError:
        entering.add_done_callback(lambda done: _give_up(held, done))
        raise


def _give_up(held: contextlib.AbstractContextManager[str], entered: asyncio.Future[str]) -> None:
    if not entered.cancelled() and entered.exception() is None:
        threading.Thread(target=held.__exit__, args=(None, None, None), daemon=True).start()
