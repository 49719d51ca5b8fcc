"""The daemon's Prometheus metrics: what syncs did, and how far behind each job is.

Registered in the HTTP app's registry, so ``GET /metrics`` serves them beside
the request metrics. Inbox, outbox and lag gauges are read from the store
when Prometheus scrapes, so every replica reports the shared truth; while the
store cannot answer they are NaN, and the rest of ``/metrics`` is served.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

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


class _StoreGauges(Collector):
    """Open inbox items, outbox depth and lag of every job, read from the store at each scrape.

    Rows are counted by the database, a query per gauge for all the jobs. The
    scrape reads them in a worker thread (``Metrics.render`` is called off the
    event loop), so a slow store holds up the scrape alone. While the store
    cannot answer they are NaN.
    """

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge

    def describe(self) -> Iterator[Metric]:
        """The gauges, without reading the store (when the registry registers them)."""
        return iter(self._families())

    def collect(self) -> Iterator[Metric]:
        """The gauges as the store holds them now."""
        jobs = list(self.bridge.config.jobs)
        store = self.bridge.store
        read: list[dict[str, float] | None]
        try:
            read = [
                {job: float(n) for job, n in store.count_by_job("open_inbox").items()},
                {job: float(n) for job, n in store.count_by_job("pending_outbox").items()},
                {job: self._lag(job) for job in jobs},
            ]
        except StoreError:
            read = [None, None, None]
        families = self._families()
        for family, values in zip(families, read, strict=True):
            for job in jobs:
                family.add_metric([job], float("nan") if values is None else values.get(job, 0.0))
        return iter(families)

    @staticmethod
    def _families() -> list[GaugeMetricFamily]:
        return [
            GaugeMetricFamily(
                "crmbridge_inbox_open",
                "Open inbox items (conflicts, ambiguous matches, blocked deletes), by job.",
                labels=["job"],
            ),
            GaugeMetricFamily(
                "crmbridge_outbox_depth",
                "Batches recorded but not yet confirmed sent, by job.",
                labels=["job"],
            ),
            GaugeMetricFamily(
                "crmbridge_seconds_since_last_success",
                "Seconds since each job's last successful run ended (NaN before the first).",
                labels=["job"],
            ),
        ]

    def _lag(self, job: str) -> float:
        run = self.bridge.store.last_run(job, status="succeeded")
        if run is None or run.finished_at is None:
            return float("nan")
        return (self.bridge.now() - run.finished_at).total_seconds()


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
        registry.register(_StoreGauges(bridge))

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
