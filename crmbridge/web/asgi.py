"""Two small ASGI middlewares: the body size limit and request metrics.

The body limit checks ``Content-Length`` first and then counts the bytes as
they are read, so a chunked or lying request cannot get past it.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crmbridge.web.metrics import Metrics

__all__ = ["BodyLimit", "BodyTooLarge", "RequestMetrics", "too_large_body"]


class BodyTooLarge(Exception):
    """A request body passed the configured limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is larger than {limit} bytes")
        self.limit = limit


def too_large_body(limit: int) -> bytes:
    """The JSON body of a 413 answer."""
    return (
        b'{"error":"payload_too_large","message":"the request body is larger than '
        + str(limit).encode()
        + b' bytes (server.max_body_bytes)"}'
    )


class BodyLimit:
    """Refuse bodies over ``limit`` bytes with 413, whether or not ``Content-Length`` says so."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > self.limit or declared < 0:
                    await _send_413(send, self.limit)
                    return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        await self.app(scope, limited, send)


async def _send_413(send: Send, limit: int) -> None:
    body = too_large_body(limit)
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestMetrics:
    """Count every answered request by route template, method and status, and time it."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            route: Any = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(template, scope.get("method", ""), str(status)).inc()
            self.metrics.latency.labels(template).observe(time.perf_counter() - started)
