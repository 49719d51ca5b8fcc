"""Runs started over HTTP: one at a time per job, as tasks in the server's event loop.

The registry is in-process (the daemon adds leases across replicas): a job
already running answers with that run's id; a webhook that arrives while its
job runs asks for one more run after it (``coalesce``), so no event waits
for the next schedule.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from crmbridge.errors import CrmBridgeError
from crmbridge.sync.runner import RunReport

__all__ = ["RERUN_GAP_S", "AlreadyRunning", "RunHandle", "RunRegistry"]

log = logging.getLogger(__name__)

SyncFunction = Callable[[str, str], Awaitable[RunReport]]
"""``(job, run_id) -> report``: how the registry runs a job (``Bridge.sync`` in the app)."""


#: A run asked for while its job was running starts at least this long after that run started.
RERUN_GAP_S = 1.0


class AlreadyRunning(Exception):
    """The job is running; ``run_id`` is that run."""

    def __init__(self, job: str, run_id: str) -> None:
        super().__init__(f"job {job} is already running as run {run_id}")
        self.job = job
        self.run_id = run_id


@dataclass(slots=True)
class RunHandle:
    """A run in progress: its job, id and task, and whether another run is wanted after it."""

    job: str
    run_id: str
    task: asyncio.Task[None] | None = None
    again: bool = False
    history: list[str] = field(default_factory=list)


class RunRegistry:
    """Starts job runs as background tasks and remembers which job is running.

    A run queued by ``coalesce`` counts as running while it waits for its gap
    (``rerun_gap_s``, default :data:`RERUN_GAP_S`; 0 starts it at once).
    """

    def __init__(
        self,
        sync: SyncFunction,
        *,
        on_finish: Callable[[str, str], None] | None = None,
        rerun_gap_s: float = RERUN_GAP_S,
    ) -> None:
        self._sync = sync
        self._on_finish = on_finish
        self._rerun_gap_s = rerun_gap_s
        self._closing = False
        self._running: dict[str, RunHandle] = {}
        self._by_run: dict[str, RunHandle] = {}

    def running(self, job: str) -> RunHandle | None:
        """The run of ``job`` in progress, if any."""
        return self._running.get(job)

    def find(self, run_id: str) -> RunHandle | None:
        """The handle of a run in progress by id."""
        handle = self._by_run.get(run_id)
        return handle if handle is not None and handle.run_id == run_id else None

    def trigger(self, job: str, *, coalesce: bool = False) -> str:
        """Start ``job`` now and return the new run's id.

        If it is running: with ``coalesce`` one more run is queued after it and
        the running run's id returned; else :class:`AlreadyRunning`.
        """
        current = self._running.get(job)
        if current is not None:
            if coalesce:
                current.again = True
                return current.run_id
            raise AlreadyRunning(job, current.run_id)
        handle = RunHandle(job, uuid.uuid4().hex)
        self._running[job] = handle
        self._by_run[handle.run_id] = handle
        handle.task = asyncio.get_running_loop().create_task(
            self._loop(handle), name=f"crmbridge-run-{job}"
        )
        return handle.run_id

    async def _loop(self, handle: RunHandle) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                started = loop.time()
                status = "failed"
                try:
                    report = await self._sync(handle.job, handle.run_id)
                    status = report.status
                except asyncio.CancelledError:
                    status = "interrupted"
                    raise
                except CrmBridgeError as exc:
                    # foreseeable (the hub database down, a child that could not start the
                    # run): the reason says it all, a traceback would bury it
                    log.error(
                        "run %s of job %s failed: %s",
                        handle.run_id,
                        handle.job,
                        exc.message,
                        extra={"run_id": handle.run_id, "job": handle.job},
                    )
                except Exception:
                    log.exception("run %s of job %s failed", handle.run_id, handle.job)
                finally:
                    if self._on_finish is not None:
                        self._on_finish(handle.job, status)
                    self._by_run.pop(handle.run_id, None)
                if not handle.again or self._closing:
                    return
                handle.run_id = uuid.uuid4().hex
                self._by_run[handle.run_id] = handle
                # a burst of webhooks makes one run after the gap, not one run per few events
                gap = self._rerun_gap_s - (loop.time() - started)
                if gap > 0:
                    await asyncio.sleep(gap)
                if self._closing:
                    self._by_run.pop(handle.run_id, None)
                    return
                handle.again = False
        finally:
            self._running.pop(handle.job, None)

    async def aclose(self, grace_s: float = 30.0) -> None:
        """Let running runs finish for ``grace_s`` seconds, then cancel them."""
        self._closing = True
        tasks = [h.task for h in self._running.values() if h.task is not None]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
