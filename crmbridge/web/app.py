"""The FastAPI app: inbound webhooks, run triggers, run and job status, conflicts, health, metrics.

Built by :func:`create_app` from a :class:`~crmbridge.service.Bridge`; the
CLI's ``crmbridge serve`` and the daemon serve the same app. Every error is
JSON ``{"error": <slug>, "message": <what to do>}``; bad input is a 4xx,
never a 500; no answer or log line carries a secret, token or signature.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import timedelta
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from crmbridge import __version__
from crmbridge.errors import AuthError, ConfigError, CrmBridgeError, RecordRejected, StoreError
from crmbridge.heap import settle
from crmbridge.job_lease import busy_elsewhere, leased
from crmbridge.service import Bridge
from crmbridge.sync.runner import RunReport
from crmbridge.sync_processes import SyncProcesses
from crmbridge.web.asgi import BodyLimit, BodyTooLarge, RequestMetrics, too_large_body
from crmbridge.web.intake import InboxWriter
from crmbridge.web.metrics import Metrics
from crmbridge.web.runs import AlreadyRunning, RunRegistry, SyncFunction
from crmbridge.web.schemas import (
    CONFLICT_BODY,
    JOB_RUN_RESPONSES,
    RESOLVE_RESPONSES,
    WEBHOOK_BODY,
    WEBHOOK_RESPONSES,
    error_responses,
)

__all__ = ["ApiError", "create_app"]

log = logging.getLogger("crmbridge.web")

_STATUS_SLUGS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    503: "unavailable",
}


class ApiError(Exception):
    """An HTTP error answer: status, slug and a message a person can act on."""

    def __init__(self, status: int, error: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.extra = extra


def _json(
    status: int, content: dict[str, Any], headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(content, default=str),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def create_app(
    bridge: Bridge,
    *,
    metrics: Metrics | None = None,
    runs: RunRegistry | None = None,
    max_body_bytes: int | None = None,
    sync: SyncFunction | None = None,
    lease_jobs: bool = False,
) -> FastAPI:
    """The HTTP app over ``bridge``; ``metrics`` and ``runs`` may be shared with a daemon.

    ``sync`` runs a job for the app's own registry (a
    :class:`~crmbridge.sync_processes.SyncProcesses`, say); by default a run
    goes on in a thread of this process. With ``lease_jobs`` each run holds
    its job's lease, as the daemon's do, and a job running elsewhere is not
    started again here.
    """
    metrics = metrics or Metrics()
    limit = max_body_bytes or bridge.config.server.max_body_bytes

    async def _in_thread(job: str, run_id: str) -> RunReport:
        # the runner's store calls block; its own loop in a worker thread keeps this one serving
        return await asyncio.to_thread(asyncio.run, bridge.sync(job, run_id=run_id))

    _sync = sync or _in_thread
    closing = asyncio.Event()
    if lease_jobs:
        ttl = timedelta(seconds=bridge.config.server.lease_ttl_s)
        _sync = leased(bridge.store, ttl, _sync, closing)

    def _finished(job: str, status: str) -> None:
        metrics.runs.labels(job, status).inc()

    registry = runs or RunRegistry(_sync, on_finish=_finished)
    inbox = InboxWriter(lambda events: bridge.store.add_webhooks(events))
    metrics.running.set_function(lambda: len(registry._running))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        closing.set()  # runs still waiting for their job's lease give up at once
        await inbox.aclose()
        if isinstance(sync, SyncProcesses):
            sync.stop()  # runs in children end at their next batch boundary
        await registry.aclose(bridge.config.server.shutdown_grace_s)

    app = FastAPI(
        title="crmbridge",
        version=__version__,
        description="Inbound webhooks, run triggers, status, conflicts and metrics of crmbridge.",
        lifespan=lifespan,
    )
    app.state.bridge = bridge
    app.state.metrics = metrics
    app.state.runs = registry
    app.add_middleware(BodyLimit, limit=limit)
    app.add_middleware(RequestMetrics, metrics=metrics)
    _handlers(app, limit)
    app.state.inbox = inbox
    _routes(app, bridge, metrics, registry, inbox, lease_jobs=lease_jobs)
    return app


def ready_to_serve(bridge: Bridge, children: SyncProcesses | None) -> None:
    """Get a service over ``bridge`` ready for its first request; call once, just before serving.

    Every job's mappings and every webhook receiver are built, one sync child
    is started ahead (so the first run does not wait for a process), and the
    heap made so far, the app's included, is frozen out of the collector's way.
    """
    bridge.warm_up()
    if children is not None:
        children.prestart()
    settle()


def _handlers(app: FastAPI, limit: int) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> Response:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        body = {"error": exc.error, "message": exc.message, **exc.extra}
        return _json(exc.status, body, headers)

    @app.exception_handler(BodyTooLarge)
    async def _too_large(_: Request, exc: BodyTooLarge) -> Response:
        return Response(too_large_body(limit), 413, media_type="application/json")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> Response:
        slug = _STATUS_SLUGS.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else slug.replace("_", " ")
        if exc.status_code == 404:
            message = "no such endpoint; see /docs for the API"
        return _json(exc.status_code, {"error": slug, "message": message}, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        message = f"{where}: {first.get('msg', 'invalid')}" if where else "invalid request"
        return _json(422, {"error": "invalid_request", "message": message})

    @app.exception_handler(StoreError)
    async def _store(request: Request, exc: StoreError) -> Response:
        log.error(
            "%s %s: the hub store is unavailable: %s", request.method, _route(request), exc.message
        )
        return _json(
            503,
            {"error": "store_unavailable", "message": "the hub store is unavailable; try again"},
            {"Retry-After": "5"},
        )


def _route(request: Request) -> str:
    """The route template a request matched (``/runs/{run_id}``): nothing the client wrote."""
    route = request.scope.get("route")
    return str(getattr(route, "path", None) or "unmatched route")


def _authorize(bridge: Bridge, request: Request) -> None:
    token = bridge.config.server.trigger_token
    if token is None or not token.get_secret_value():
        raise ApiError(
            403,
            "triggers_disabled",
            "this endpoint needs server.trigger_token in the config (e.g. from "
            "CRMBRIDGE_TRIGGER_TOKEN); none is configured, so it is refused",
        )
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    expected = token.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
        raise ApiError(
            401, "unauthorized", "send Authorization: Bearer <server.trigger_token> to use this"
        )


def _webhook_error(exc: CrmBridgeError) -> ApiError:
    if isinstance(exc, AuthError):
        return ApiError(401, "unauthorized", exc.message)
    if isinstance(exc, RecordRejected):
        if exc.code == "MALFORMED":
            return ApiError(400, "malformed", exc.message)
        extra = {k: v for k, v in exc.as_dict().items() if k not in ("error", "message")}
        return ApiError(422, "does_not_fit_mapping", exc.message, code=exc.code, **extra)
    if isinstance(exc, ConfigError):
        return ApiError(404, "unknown_connector", exc.message)
    return ApiError(422, "unprocessable", exc.message)


_OUTCOMES = {401: "unauthorized", 400: "malformed", 422: "unprocessable", 404: "unknown"}


#: Bodies up to this size are verified on the event loop; larger ones in a worker thread.
_INLINE_CHECK_BYTES = 16 * 1024


def _routes(
    app: FastAPI,
    bridge: Bridge,
    metrics: Metrics,
    registry: RunRegistry,
    inbox: InboxWriter,
    *,
    lease_jobs: bool,
) -> None:
    @app.post(
        "/webhooks/{connector}",
        status_code=202,
        summary="Receive a webhook for a connector",
        responses=WEBHOOK_RESPONSES,
        openapi_extra=WEBHOOK_BODY,
    )
    async def receive_webhook(request: Request) -> Response:
        """Verify, store in the inbox, answer 202 (200 for a duplicate), then run its jobs."""
        connector: str = request.path_params["connector"]
        body = await request.body()
        headers = dict(request.headers)
        try:
            if len(body) <= _INLINE_CHECK_BYTES and bridge.receiver_ready(connector):
                # tens of microseconds of CPU: a thread hop would cost more than it saves
                event = bridge.check_webhook(connector, body, headers)
            else:
                # the first delivery builds the receiver (entry points, mapping file), and a
                # large body takes long to check: neither should stall the loop
                event = await run_in_threadpool(bridge.check_webhook, connector, body, headers)
            stored = await inbox.add(event)
        except StoreError:
            metrics.webhooks.labels(connector, "unavailable").inc()
            raise
        except CrmBridgeError as exc:
            error = _webhook_error(exc)
            known = error.status != 404
            metrics.webhooks.labels(connector if known else "-", _OUTCOMES[error.status]).inc()
            # the reason's details may echo the payload: the sender gets them, the log does not
            log.info(
                "webhook for %s from %s refused: %s %s",
                connector[:100],
                request.client.host if request.client else "an unknown address",
                error.status,
                error.error,
            )
            raise error from None
        accepted = bridge.webhook_acceptance(event, stored=stored)
        if accepted.duplicate:
            metrics.webhooks.labels(connector, "duplicate").inc()
            return _json(200, {"status": "duplicate", "webhook_id": accepted.webhook_id})
        metrics.webhooks.labels(connector, "accepted").inc()
        run_ids = [registry.trigger(job, coalesce=True) for job in accepted.jobs]
        return _json(
            202, {"status": "accepted", "webhook_id": accepted.webhook_id, "run_ids": run_ids}
        )

    @app.post(
        "/jobs/{job}/run", status_code=202, summary="Run a job now", responses=JOB_RUN_RESPONSES
    )
    async def run_job_now(job: str, request: Request) -> Response:
        """Start ``job`` as a background run; 409 with the running run's id if it is running."""
        _authorize(bridge, request)
        if job not in bridge.config.jobs:
            raise ApiError(404, "unknown_job", f"no job {job!r}; jobs: {_names(bridge)}")
        if lease_jobs and registry.running(job) is None:
            busy = await run_in_threadpool(busy_elsewhere, bridge.store, job)
            if busy is not None:
                raise ApiError(409, "running_elsewhere", str(busy))
        try:
            run_id = registry.trigger(job)
        except AlreadyRunning as exc:
            raise ApiError(409, "already_running", str(exc), run_id=exc.run_id) from None
        return _json(
            202,
            {"run_id": run_id, "job": job, "status": "running"},
            {"Location": f"/runs/{run_id}"},
        )

    @app.get("/runs/{run_id}", summary="A run's status and report", responses=error_responses(404))
    async def get_run(run_id: str) -> Response:
        """The report of a finished run (as ``crmbridge sync --json``) or a running run's status."""
        handle = registry.find(run_id)
        if handle is not None:
            return _json(200, {"run_id": run_id, "job": handle.job, "status": "running"})
        run = await run_in_threadpool(bridge.store.get_run, run_id)
        if run is None:
            raise ApiError(404, "unknown_run", f"no run {run_id!r}")
        if run.report:
            return _json(200, run.report)
        return _json(
            200,
            {"run_id": run.id, "job": run.job, "status": run.status, "counts": run.counts or {}},
        )

    @app.get("/jobs", summary="Every job: schedule, last and next run")
    async def list_jobs() -> Response:
        """What ``crmbridge status --json`` shows, plus the run in progress here."""
        rows = await run_in_threadpool(bridge.status)
        for row in rows:
            handle = registry.running(row["job"])
            row["running_run_id"] = handle.run_id if handle is not None else None
        return _json(200, {"jobs": rows})

    @app.get("/conflicts", summary="Open conflicts", responses=error_responses(401, 403))
    async def list_conflicts(
        request: Request, job: str | None = None, limit: int = 100
    ) -> Response:
        """Open inbox items (conflicts, ambiguous matches, blocked deletes), oldest first."""
        _authorize(bridge, request)
        limit = max(1, min(limit, 10_000))
        items = await run_in_threadpool(bridge.store.list_open_inbox, job, limit=limit)
        return _json(200, {"items": jsonable_encoder([asdict(i) for i in items])})

    @app.post(
        "/conflicts/{item_id}/resolve",
        summary="Settle a conflict",
        responses=RESOLVE_RESPONSES,
        openapi_extra=CONFLICT_BODY,
    )
    async def resolve_conflict(item_id: int, request: Request) -> Response:
        """Settle one item: ``{"take": "hub"|"remote"}``, ``{"values": {...}}`` or ``{"link": id}``."""
        _authorize(bridge, request)
        choice = _resolution(await request.body())
        if not 0 < item_id < 2**63:  # no store holds such an id; SQLite cannot even take it
            raise ApiError(404, "cannot_resolve", f"no inbox item {item_id}")
        try:
            item = await run_in_threadpool(lambda: bridge.resolve(item_id, **choice))
        except StoreError:
            raise
        except CrmBridgeError as exc:
            status = 404 if "no inbox item" in exc.message else 409
            raise ApiError(status, "cannot_resolve", exc.message) from None
        return _json(200, jsonable_encoder(asdict(item)))

    @app.get("/healthz", summary="The process is up")
    async def healthz() -> Response:
        """Always 200 while the process serves."""
        return _json(200, {"status": "ok"})

    @app.get(
        "/readyz", summary="Ready: store reachable, schema current", responses=error_responses(503)
    )
    async def readyz() -> Response:
        """200 when the hub store answers and its schema is current, else 503."""
        try:
            current = await run_in_threadpool(bridge.store.is_current)
        except CrmBridgeError as exc:
            raise ApiError(503, "store_unavailable", exc.message) from None
        if not current:
            raise ApiError(
                503, "schema_outdated", "the hub schema is not current; run crmbridge db upgrade"
            )
        return _json(200, {"status": "ready"})

    @app.get("/metrics", summary="Prometheus metrics")
    async def prometheus() -> Response:
        """The metrics in Prometheus text format."""
        # the daemon's gauges read the store: off the loop, so a slow store holds up this alone
        body = await run_in_threadpool(metrics.render)
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")


def _names(bridge: Bridge) -> str:
    return ", ".join(sorted(bridge.config.jobs)) or "none configured"


def _resolution(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ApiError(400, "malformed", "the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(422, "invalid_resolution", _RESOLVE_HELP)
    given = [k for k in ("take", "values", "link") if k in data]
    if len(given) != 1 or set(data) - {"take", "values", "link"}:
        raise ApiError(422, "invalid_resolution", _RESOLVE_HELP)
    key = given[0]
    value = data[key]
    if key == "take" and value not in ("hub", "remote"):
        raise ApiError(422, "invalid_resolution", _RESOLVE_HELP)
    if key == "values" and not isinstance(value, dict):
        raise ApiError(422, "invalid_resolution", _RESOLVE_HELP)
    if key == "link" and (not isinstance(value, str) or not value):
        raise ApiError(422, "invalid_resolution", _RESOLVE_HELP)
    return {key: value}


_RESOLVE_HELP = (
    'send exactly one of {"take": "hub"|"remote"}, {"values": {field: value}} '
    'or {"link": "<record id>"}'
)
