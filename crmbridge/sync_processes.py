"""Job runs in child processes, so a run's CPU never holds up the HTTP service's event loop.

A sync run is CPU work (mapping, validation, merging) in Python; run in a
thread of the service, it takes the interpreter from the event loop that
answers webhooks, and every acknowledgement waits behind it. On a
client/server database (PostgreSQL) a run can as well be made by another
process: :class:`SyncProcesses` keeps one child process per job that is
running (started on first use, reused by the next run of any job) and
hands it ``(job, run id)``; the child runs it with its own
:class:`~crmbridge.service.Bridge` over the same config and sends back the
report. Runs are recorded under the service's pid, so a lapsed lease or a
restart marks them as the service's own.

A child never outlives the service: on Linux it asks the kernel for
SIGKILL when its parent dies, and everywhere its runs stop at the next
batch once its parent is gone or :meth:`SyncProcesses.stop` was called.
Connector retries and 429s seen in a child reach the service's
``api_events`` over the same pipe.

SQLite has one writer at a time: a second process would only wait on the
file lock with SQLite's sleeping back-off, slower than the service's own
in-process lock, so callers keep SQLite runs in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnProcess
from typing import TYPE_CHECKING, Any

from crmbridge.config import Config
from crmbridge.connector import ApiEvents
from crmbridge.errors import CrmBridgeError
from crmbridge.heap import tune
from crmbridge.lifetime import die_with_parent
from crmbridge.logs import JsonFormatter, setup_logging
from crmbridge.sync.runner import RunReport

if TYPE_CHECKING:
    from crmbridge.service import Bridge

__all__ = ["ChildRunFailed", "SyncProcesses"]

log = logging.getLogger(__name__)


class ChildRunFailed(CrmBridgeError):
    """A run in a child process ended without a report (an error before it began, or a crash)."""


class _Child:
    """One child process and the service's end of its pipe."""

    def __init__(self, process: SpawnProcess, conn: Connection) -> None:
        self.process = process
        self.conn = conn

    def alive(self) -> bool:
        return self.process.is_alive()

    def kill(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.conn.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)


class SyncProcesses:
    """Runs jobs of ``config`` in child processes: ``await runner(job, run_id)`` -> report.

    ``api_events`` is where the children's connector retries and 429s are
    reported, as :class:`~crmbridge.service.Bridge` would.
    """

    def __init__(
        self, config: Config, *, api_events: Callable[[str], ApiEvents] | None = None
    ) -> None:
        self.config = config
        self.api_events = api_events
        self._logging = _logging_now()
        self._context = multiprocessing.get_context("spawn")
        self._stop = self._context.Event()
        self._idle: list[_Child] = []
        self._busy: set[_Child] = set()
        self._lock = threading.Lock()

    async def __call__(self, job: str, run_id: str) -> RunReport:
        """Run ``job`` as run ``run_id`` in a child process and return its report."""
        child = self._take()
        report: RunReport | None = None
        failure = ""
        try:
            child.conn.send((job, run_id))
            while True:
                message = await asyncio.to_thread(child.conn.recv)
                kind = message[0]
                if kind == "event":
                    self._forward(message[1], message[2])
                elif kind == "done":
                    report = message[1]
                    break
                elif kind == "failed":
                    failure = str(message[1])
                    break
        except (EOFError, OSError):
            child.kill()
            raise ChildRunFailed(
                f"the process running job {job} (run {run_id}) ended without a report"
            ) from None
        except BaseException:
            child.kill()  # cancelled mid-run: the child's state is unknown
            raise
        finally:
            with self._lock:
                self._busy.discard(child)
        with self._lock:
            self._idle.append(child)
        if report is None:
            raise ChildRunFailed(failure)  # the child is well and serves the next run
        return report

    def prestart(self) -> None:
        """Start one child now, so the first run does not wait for a process to start."""
        child = self._spawn()
        with self._lock:
            self._idle.append(child)

    def _take(self) -> _Child:
        with self._lock:
            while self._idle:
                child = self._idle.pop()
                if child.alive():
                    self._busy.add(child)
                    return child
                child.kill()
        child = self._spawn()
        with self._lock:
            self._busy.add(child)
        return child

    def _spawn(self) -> _Child:
        parent, own = self._context.Pipe()
        process = self._context.Process(
            target=_serve,
            args=(own, self.config, os.getpid(), self._stop, self._logging),
            name="crmbridge-sync",
            daemon=True,
        )
        process.start()
        own.close()
        return _Child(process, parent)

    def _forward(self, connector: str, kind: str) -> None:
        if self.api_events is None:
            return
        events = self.api_events(connector)
        if kind == "retried":
            events.retried()
        elif kind == "rate_limited":
            events.rate_limited()

    @staticmethod
    def suit(url: str) -> bool:
        """Whether runs on the store at ``url`` gain from child processes (not on SQLite)."""
        return not url.startswith("sqlite")

    @classmethod
    def for_bridge(
        cls, bridge: Bridge, *, api_events: Callable[[str], ApiEvents] | None = None
    ) -> SyncProcesses | None:
        """The children for a service over ``bridge``, or ``None`` where its store does not suit."""
        if not cls.suit(str(bridge.store.url)):
            return None
        return cls(bridge.config, api_events=api_events)

    def stop(self) -> None:
        """Ask running runs to stop after their current batch (a graceful shutdown)."""
        self._stop.set()

    def close(self) -> None:
        """End every child process (a run still going is killed: call :meth:`stop` first)."""
        self._stop.set()
        with self._lock:
            children = [*self._idle, *self._busy]
            self._idle.clear()
            self._busy.clear()
        for child in children:
            child.kill()


class _PipeEvents:
    """A child's :class:`ApiEvents`: each report goes to the service over the pipe."""

    def __init__(self, send: Callable[[tuple[Any, ...]], None], connector: str) -> None:
        self._send = send
        self._connector = connector

    def retried(self) -> None:
        self._send(("event", self._connector, "retried"))

    def rate_limited(self) -> None:
        self._send(("event", self._connector, "rate_limited"))


def _logging_now() -> tuple[str, str] | None:
    """The service's log level and format, if it set logging up, for its children to copy."""
    root = logging.getLogger()
    if not root.handlers:
        return None
    json = any(isinstance(h.formatter, JsonFormatter) for h in root.handlers)
    return logging.getLevelName(root.level), "json" if json else "text"


def _serve(
    conn: Connection, config: Config, parent: int, stop: Any, logs: tuple[str, str] | None
) -> None:
    """The child's loop: run each job it is handed, answer with the report."""
    die_with_parent()
    tune()
    # Ctrl-C and a hang-up reach the whole group: the service decides
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    running = threading.Event()
    terminated = threading.Event()

    def on_term(_signum: int, _frame: Any) -> None:
        # SIGTERM (multiprocessing's own clean-up sends one): leave at once when idle,
        # else end the run at its next batch boundary and leave then
        terminated.set()
        if not running.is_set():
            raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_term)
    if logs is not None:
        setup_logging(*logs)
    from crmbridge.service import Bridge

    lock = threading.Lock()

    def send(message: tuple[Any, ...]) -> None:
        with lock, contextlib.suppress(OSError, ValueError):
            conn.send(message)

    def events(connector: str) -> ApiEvents:
        return _PipeEvents(send, connector)

    def should_stop() -> bool:
        return bool(stop.is_set()) or terminated.is_set() or os.getppid() != parent

    bridge = Bridge(config, api_events=events, run_pid=parent)
    try:
        with contextlib.suppress(CrmBridgeError):  # a broken mapping fails the run, and says why
            bridge.warm_up()
        send(("ready",))
        while not terminated.is_set():
            try:
                job, run_id = conn.recv()
            except (EOFError, OSError):
                return
            running.set()
            try:
                report = asyncio.run(bridge.sync(job, run_id=run_id, should_stop=should_stop))
            except CrmBridgeError as exc:
                send(("failed", f"job {job}: {exc}"))
            except Exception as exc:
                log.exception("run %s of job %s failed", run_id, job)
                send(("failed", f"job {job}: {type(exc).__name__}: {exc}"))
            else:
                send(("done", report))
            finally:
                running.clear()
    finally:
        bridge.close()
