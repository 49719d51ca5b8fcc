"""The outer ASGI layer of business calls: counters, faults, rate limits, quota, latency.

It wraps the FastAPI app from outside so an injected connection reset can reach
uvicorn's transport and drop the socket without a byte of answer. Business calls are
``POST /cgi/...`` other than the two token endpoints; only they are counted, limited,
delayed and faulted. Limits answer like Fxiaoke: HTTP 200 and an ``errorCode`` —
``rate_limit_code`` (14001) past ``rate_limit`` calls per ``rate_window_s`` on one
path, 30004 past ``per_second_limit`` calls in a second, 30002 past the daily quota
(30003 when the quota is 0).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import deque
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

from connectors._sandbox.asgi import act_out, answer_within, drop_connection, send_response
from connectors.fxiaoke.sandbox.auth import TOKEN_PATHS
from connectors.fxiaoke.sandbox.errors import (
    DAILY_QUOTA,
    FREQUENCY,
    NO_QUOTA,
    error_body,
)
from connectors.fxiaoke.sandbox.faults import ERROR_CODE_FAULTS, Fault
from connectors.fxiaoke.sandbox.state import SandboxState
from connectors.fxiaoke.sandbox.writes import WRITE_ACTIONS

__all__ = ["SandboxMiddleware", "drop_connection"]

_SHANGHAI = timedelta(hours=8)


def _admit(window: deque[float], now: float, limit: int, span: float) -> bool:
    while window and window[0] <= now - span:
        window.popleft()
    if len(window) >= limit:
        return False
    window.append(now)
    return True


class SandboxMiddleware:
    """Applies the state's options and fault injector to business calls."""

    def __init__(self, app: ASGIApp, state: SandboxState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/cgi/") or path in TOKEN_PATHS:
            await self.app(scope, receive, send)
            return
        state = self.state
        state.count("api_calls")
        state.endpoint_counters[path] = state.endpoint_counters.get(path, 0) + 1
        state.in_flight += 1
        try:
            is_write = path.rsplit("/", 1)[-1] in WRITE_ACTIONS
            fault = state.faults.next_call(is_write=is_write)
            if fault is not None:
                await self._delay()
                await self._inject(fault, scope, receive, send)
                return
            code = self._limit(path)
            if code is not None:
                await self._delay()
                await self._refuse(scope, code)(send)
                return
            await self._timed(scope, receive, send)
        finally:
            state.in_flight -= 1

    def _limit(self, path: str) -> int | None:
        state, opts = self.state, self.state.options
        now = state.now().timestamp()
        if opts.per_second_limit and not _admit(
            state.second_window, now, opts.per_second_limit, 1.0
        ):
            state.count("throttled")
            return FREQUENCY
        if opts.rate_limit:
            window = state.rate_windows.setdefault(path, deque())
            if not _admit(window, now, opts.rate_limit, opts.rate_window_s):
                state.count("throttled")
                return opts.rate_limit_code
        if opts.daily_quota is not None:
            day = (state.now() + _SHANGHAI).date().isoformat()
            if day != state.quota_day:
                state.quota_day, state.quota_used = day, 0
            if opts.daily_quota == 0:
                return NO_QUOTA
            if state.quota_used >= opts.daily_quota:
                return DAILY_QUOTA
            state.quota_used += 1
        return None

    def _refuse(self, scope: Scope, code: int) -> Any:
        body = {"traceId": f"E-O.null.-1000-{uuid.uuid4().hex[:16]}", **error_body(code)}
        query = parse_qs(scope.get("query_string", b"").decode())
        self.state.count(f"error_{code}")
        self.state.journal.append(
            {
                "path": scope["path"],
                "thirdTraceId": (query.get("thirdTraceId") or [None])[0],
                "traceId": body["traceId"],
                "errorCode": code,
                "convention": None,
            }
        )

        async def answer(send: Send) -> None:
            raw = json.dumps(body, ensure_ascii=False).encode()
            await send_response(send, 200, raw, b"application/json;charset=UTF-8")

        return answer

    async def _delay(self) -> None:
        latency = self.state.options.latency_ms
        if latency > 0:
            await asyncio.sleep(latency / 1000)

    async def _timed(self, scope: Scope, receive: Receive, send: Send) -> None:
        latency = self.state.options.latency_ms
        if latency > 0:
            await answer_within(self.app, scope, receive, send, latency / 1000)
        else:
            await self.app(scope, receive, send)

    async def _inject(self, fault: Fault, scope: Scope, receive: Receive, send: Send) -> None:
        state = self.state
        state.count(f"fault_{fault.kind}")
        if await act_out(self.app, fault, scope, receive, send, expire_tokens=state.expire_tokens):
            return
        if fault.kind in ERROR_CODE_FAULTS:
            await self._refuse(scope, ERROR_CODE_FAULTS[fault.kind])(send)
            return
        status = state.faults.pick_status(fault)
        page = f"<html><body><h1>{status}</h1><p>openresty</p></body></html>".encode()
        await send_response(send, status, page, b"text/html")
