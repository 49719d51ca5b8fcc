"""Prometheus metrics of the HTTP service, in a registry of their own (one per app)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["Metrics"]


class Metrics:
    """Requests, inbound webhooks and runs; the daemon registers more in :attr:`registry`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.requests = Counter(
            "crmbridge_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "crmbridge_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template.",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.webhooks = Counter(
            "crmbridge_webhooks",
            "Inbound webhooks by connector and outcome "
            "(accepted, duplicate, unauthorized, malformed, unprocessable, too_large, unavailable).",
            ["connector", "outcome"],
            registry=self.registry,
        )
        self.runs = Counter(
            "crmbridge_runs",
            "Job runs that finished in this process, by job and status "
            "(a run that failed before it could report counts as failed).",
            ["job", "status"],
            registry=self.registry,
        )
        self.running = Gauge(
            "crmbridge_runs_in_progress",
            "Job runs in progress in this process.",
            registry=self.registry,
        )

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
