"""The daemon's Prometheus metrics: what syncs did, and how far behind each job is.

Registered in the HTTP app's registry, so ``GET /metrics`` serves them beside
the request metrics. Inbox, outbox and lag gauges are read from the store
when Prometheus scrapes, so every replica reports the shared truth; while the
store cannot answer they are NaN, and the rest of ``/metrics`` is served.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from crmbridge.connector import ApiEvents
from crmbridge.errors import StoreError
from crmbridge.service import Bridge
from crmbridge.sync.runner import RunReport

__all__ = ["SyncMetrics"]


class _CountedApiEvents:
    """One connector's :class:`ApiEvents`, counted in the daemon's Prometheus counters."""

    def __init__(self, retries: Counter, rate_limited: Counter) -> None:
        self._retries = retries
        self._rate_limited = rate_limited

    def retried(self) -> None:
        self._retries.inc()

    def rate_limited(self) -> None:
        self._rate_limited.inc()


def _or_nan(read: Callable[[], float]) -> Callable[[], float]:
    """``read``, or NaN while the hub store cannot answer: the rest of /metrics is still served."""

    def guarded() -> float:
        try:
            return read()
        except StoreError:
            return float("nan")

    return guarded


class SyncMetrics:
    """Records synced, API calls, retries and 429s, run durations, inbox, outbox and lag.

    Connectors report retries and 429 answers as they happen, through the
    :class:`ApiEvents` that :meth:`api_events` gives each instance.
    """

    def __init__(self, registry: CollectorRegistry, bridge: Bridge) -> None:
        self.bridge = bridge
        self.records = Counter(
            "crmbridge_records",
            "Records a sync handled, by connector, entity and outcome (pulled, created, ...).",
            ["connector", "entity", "outcome"],
            registry=registry,
        )
        self.api_calls = Counter(
            "crmbridge_api_calls",
            "Calls to a remote API, by connector (connectors that count them).",
            ["connector"],
            registry=registry,
        )
        self.api_retries = Counter(
            "crmbridge_api_retries",
            "Calls to a remote API sent again after a failure (429, 5xx, timeout), by connector.",
            ["connector"],
            registry=registry,
        )
        self.api_rate_limited = Counter(
            "crmbridge_api_rate_limited",
            "HTTP 429 (too many requests) answers from a remote API, by connector.",
            ["connector"],
            registry=registry,
        )
        for connector in bridge.config.connectors:
            self.api_retries.labels(connector)
            self.api_rate_limited.labels(connector)
        self.duration = Histogram(
            "crmbridge_run_duration_seconds",
            "How long a run took, by job and status.",
            ["job", "status"],
            buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600),
            registry=registry,
        )
        inbox = Gauge(
            "crmbridge_inbox_open",
            "Open inbox items (conflicts, ambiguous matches, blocked deletes), by job.",
            ["job"],
            registry=registry,
        )
        outbox = Gauge(
            "crmbridge_outbox_depth",
            "Batches recorded but not yet confirmed sent, by job.",
            ["job"],
            registry=registry,
        )
        lag = Gauge(
            "crmbridge_seconds_since_last_success",
            "Seconds since each job's last successful run ended (absent before the first).",
            ["job"],
            registry=registry,
        )
        for job in bridge.config.jobs:
            inbox.labels(job).set_function(_or_nan(functools.partial(self._inbox, job)))
            outbox.labels(job).set_function(_or_nan(functools.partial(self._outbox, job)))
            lag.labels(job).set_function(_or_nan(functools.partial(self._lag, job)))

    def api_events(self, connector: str) -> ApiEvents:
        """Where connector ``connector`` reports its retries and 429s (``Bridge.api_events``)."""
        return _CountedApiEvents(
            self.api_retries.labels(connector), self.api_rate_limited.labels(connector)
        )

    def observe(self, connector: str, report: RunReport) -> None:
        """Count what one finished run did."""
        for entity, counts in report.by_entity.items():
            for outcome, n in counts.items():
                if n:
                    self.records.labels(connector, entity, outcome).inc(n)
        if report.api_calls:
            self.api_calls.labels(connector).inc(report.api_calls)
        self.duration.labels(report.job, report.status).observe(report.duration_s)

    def _inbox(self, job: str) -> float:
        return float(len(self.bridge.store.list_open_inbox(job, limit=1_000_000)))

    def _outbox(self, job: str) -> float:
        return float(len(self.bridge.store.list_pending_outbox(job=job)))

    def _lag(self, job: str) -> float:
        run = self.bridge.store.last_run(job, status="succeeded")
        if run is None or run.finished_at is None:
            return float("nan")
        return (self.bridge.now() - run.finished_at).total_seconds()
