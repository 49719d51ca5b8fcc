"""The HTTP service: the only place crmbridge imports FastAPI and Starlette.

:func:`create_app` builds the app from a :class:`~crmbridge.service.Bridge`
(``crmbridge serve`` serves it with uvicorn; the daemon reuses it), and
:func:`ready_to_serve` prepares the service just before it serves::

    POST /webhooks/{connector}       inbound webhook: verify, store, 202 (200 duplicate)
    POST /jobs/{job}/run             run a job now (Bearer trigger_token): 202 / 409
    GET  /runs/{id}                  a run's status and report
    GET  /jobs                       every job: schedule, last and next run
    GET  /conflicts                  open conflicts (Bearer trigger_token)
    POST /conflicts/{id}/resolve     settle one (Bearer trigger_token)
    GET  /healthz, /readyz, /metrics, /openapi.json, /docs
"""

from __future__ import annotations

from crmbridge.web.app import ApiError, create_app, ready_to_serve
from crmbridge.web.metrics import Metrics
from crmbridge.web.runs import AlreadyRunning, RunHandle, RunRegistry

__all__ = [
    "AlreadyRunning",
    "ApiError",
    "Metrics",
    "RunHandle",
    "RunRegistry",
    "create_app",
    "ready_to_serve",
]
