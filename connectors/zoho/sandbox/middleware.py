"""The outer ASGI layer: call counters, latency, the concurrency cap and injected faults.

It wraps the whole app (outside FastAPI's own middleware) so a connection reset can
reach uvicorn's transport and drop the socket without a byte of response. Only
API calls (paths under ``/crm/``) are delayed, throttled or faulted.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from connectors._sandbox.asgi import act_out, answer_within, drop_connection, send_response
from connectors.zoho.sandbox.errors import error_item, too_many_requests
from connectors.zoho.sandbox.faults import Fault
from connectors.zoho.sandbox.state import SandboxState

__all__ = ["SandboxMiddleware", "drop_connection"]

_ID_SEGMENT = re.compile(r"/\d{6,}(?=/|$)")


async def send_json(
    send: Send, status: int, body: Any, content_type: bytes = b"application/json;charset=UTF-8"
) -> None:
    """Send a whole response from raw ASGI."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    await send_response(send, status, raw, content_type)


class SandboxMiddleware:
    """Applies ``state.options`` latency and concurrency and ``state.faults`` to API calls."""

    def __init__(self, app: ASGIApp, state: SandboxState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/crm/"):
            await self.app(scope, receive, send)
            return
        state, opts = self.state, self.state.options
        method, path = scope["method"], scope["path"]
        key = f"{method} {_ID_SEGMENT.sub('/{id}', path)}"
        state.count("api_calls")
        state.endpoint_counters[key] = state.endpoint_counters.get(key, 0) + 1
        if opts.concurrency and state.in_flight >= opts.concurrency:
            state.count("throttled_429")
            await send_json(send, 429, too_many_requests().body)
            return
        state.in_flight += 1
        try:
            is_write = method != "GET" and not path.endswith("/coql")
            fault = state.faults.next_request(is_write=is_write)
            if fault is None and opts.latency_ms > 0:
                await answer_within(self.app, scope, receive, send, opts.latency_ms / 1000)
            elif fault is None:
                await self.app(scope, receive, send)
            else:
                if opts.latency_ms > 0:
                    await asyncio.sleep(opts.latency_ms / 1000)
                await self._inject(fault, scope, receive, send)
        finally:
            state.in_flight -= 1

    async def _inject(self, fault: Fault, scope: Scope, receive: Receive, send: Send) -> None:
        state = self.state
        state.count(f"fault_{fault.kind}")
        if fault.kind == "429":  # before act_out: a 429 never runs the call, @after or not
            await send_json(send, 429, too_many_requests().body)
            return
        if await act_out(
            self.app, fault, scope, receive, send, expire_tokens=state.expire_access_tokens
        ):
            return
        status = state.faults.pick_status(fault)
        if status == 500:
            await send_json(send, 500, error_item("INTERNAL_ERROR", "Internal Server Error"))
        else:
            page = f"<html><body><h1>{status}</h1></body></html>".encode()
            await send_json(send, status, page, b"text/html")
