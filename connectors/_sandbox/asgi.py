"""Raw-ASGI means of answering a call late, badly or not at all.

Each sandbox's outer middleware wraps its whole app (outside FastAPI's own) so a
connection reset can reach uvicorn's transport and drop the socket without a byte of
answer; these are the moves it makes. Which calls get them, and what error a CRM
answers with, stay in the CRM's middleware.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from connectors._sandbox.faults import Fault

__all__ = [
    "act_out",
    "answer_within",
    "buffered",
    "drop_connection",
    "run_and_discard",
    "send_response",
    "stall",
]


async def send_response(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    """Send a whole response from raw ASGI."""
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def drop_connection(send: Send) -> None:
    """Close the client's connection without a response.

    Under uvicorn (h11) the ``send`` callable is bound to the request cycle, which
    holds the asyncio transport: abort it (TCP RST) and let uvicorn see the
    disconnect. In-process (``httpx.ASGITransport``) there is no socket, so raise
    the error an HTTP client would have raised.
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if isinstance(transport, asyncio.Transport):
        transport.abort()
        await asyncio.sleep(0)  # let connection_lost mark the cycle disconnected
        return
    raise httpx.RemoteProtocolError(
        "Server disconnected without sending a response (sandbox reset)"
    )


def buffered() -> tuple[list[Message], Send]:
    """A ``send`` that keeps the messages, and the list it keeps them in."""
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    return sent, send


async def answer_within(
    app: ASGIApp, scope: Scope, receive: Receive, send: Send, seconds: float
) -> None:
    """Run the call and answer no sooner than ``seconds`` after it came in.

    Latency is the time to answer, the server's own work included, as a client sees
    it: a real CRM works on many calls in parallel, this one process cannot, so its
    work must not come on top.
    """
    started = time.monotonic()
    sent, buffer = buffered()
    await app(scope, receive, buffer)
    rest = seconds - (time.monotonic() - started)
    if rest > 0:
        await asyncio.sleep(rest)
    for message in sent:
        await send(message)


async def run_and_discard(app: ASGIApp, scope: Scope, receive: Receive) -> None:
    """Run the call and lose its answer (``@after``: the write is applied)."""
    _, sink = buffered()
    await app(scope, receive, sink)


async def stall(app: ASGIApp, scope: Scope, receive: Receive, send: Send, fault: Fault) -> None:
    """Hold the answer back ``fault.delay_s``: before the call runs, or after with ``@after``."""
    if not fault.after:
        await asyncio.sleep(fault.delay_s)
        await app(scope, receive, send)
        return
    sent, buffer = buffered()
    await app(scope, receive, buffer)
    await asyncio.sleep(fault.delay_s)
    for message in sent:
        await send(message)


async def act_out(
    app: ASGIApp,
    fault: Fault,
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    expire_tokens: Callable[[], object],
) -> bool:
    """Act out the kinds every sandbox has; ``False`` leaves the answer to the caller.

    ``token_expiry`` kills the live tokens and lets the call meet that; ``timeout``
    holds the answer back (:func:`stall`); ``reset`` drops the connection. Any other
    kind (a CRM's error answer) is the caller's to send, and with ``@after`` the call
    has already run when this returns ``False``: the write is applied, the answer lost.
    """
    if fault.kind == "token_expiry":
        expire_tokens()
        await app(scope, receive, send)
        return True
    if fault.kind == "timeout":
        await stall(app, scope, receive, send, fault)
        return True
    if fault.after:
        await run_and_discard(app, scope, receive)
    if fault.kind == "reset":
        await drop_connection(send)
        return True
    return False
