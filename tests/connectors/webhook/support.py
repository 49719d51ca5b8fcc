"""A loopback webhook peer and an in-memory inbox for the webhook connector's tests."""

from __future__ import annotations

import base64
import itertools
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import httpx
from standardwebhooks import Webhook

from connectors.webhook import WebhookConnector, WebhookSettings
from crmbridge.connector import ConnectorContext

SECRET = "whsec_" + base64.b64encode(b"crmbridge-webhook-test-secret-32").decode()
URL = "https://peer.example/hooks"


@dataclass
class Event:
    id: int
    webhook_id: str
    body: bytes
    received_at: datetime


class MemoryInbox:
    """A :class:`crmbridge.connector.WebhookInbox` over a list."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.status: dict[int, str] = {}
        self._ids = itertools.count(1)

    def add(self, webhook_id: str, body: bytes) -> bool:
        if any(e.webhook_id == webhook_id for e in self.events):
            return False
        event = Event(next(self._ids), webhook_id, body, datetime.now(UTC))
        self.events.append(event)
        self.status[event.id] = "pending"
        return True

    def pending(self, limit: int) -> list[Event]:
        return [e for e in self.events if self.status[e.id] == "pending"][:limit]

    def done(self, event_ids: Sequence[int], *, error: str | None = None) -> None:
        for i in event_ids:
            self.status[i] = "failed" if error else "processed"


class Peer:
    """A Standard Webhooks receiver that echoes every message it accepts into ``inbox``.

    It verifies with the reference library, drops duplicate ids, answers 404
    to an update or delete of an id it never saw, and can be told to fail.
    """

    def __init__(self, inbox: MemoryInbox) -> None:
        self.inbox = inbox
        self.known: set[str] = set()
        self.received: list[httpx.Request] = []
        self.script: list[Any] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.received.append(request)
        if self.script:
            step = self.script.pop(0)
            if isinstance(step, Exception):
                raise step
            if isinstance(step, httpx.Response):
                return step
        payload = Webhook(SECRET).verify(request.content, dict(request.headers))
        msg_id = request.headers["webhook-id"]
        kind = payload["type"].rpartition(".")[2]
        ids = [str(r["id"]) for r in payload["data"]]
        if any(e.webhook_id == msg_id for e in self.inbox.events):
            return httpx.Response(200)
        if kind != "created" and not set(ids) <= self.known:
            return httpx.Response(404, json={"error": "unknown record"})
        self.known.update(ids)
        self.inbox.add(msg_id, request.content)
        return httpx.Response(204)


def make_connector(
    peer: Peer | None = None,
    inbox: MemoryInbox | None = None,
    *,
    sleeps: list[float] | None = None,
    clock: Any = None,
    tmp: str = ".",
    **settings: Any,
) -> WebhookConnector:
    inbox = inbox or (peer.inbox if peer else MemoryInbox())
    peer = peer or Peer(inbox)
    conf = WebhookSettings.model_validate(
        {"secret": SECRET, "url": URL, "dead_letters": f"{tmp}/dead.sqlite", **settings}
    )
    waits = sleeps if sleeps is not None else []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    kwargs: dict[str, Any] = {"clock": clock} if clock is not None else {}
    return WebhookConnector(
        "peer",
        conf,
        ConnectorContext(inbox=inbox),
        transport=httpx.MockTransport(peer),
        sleep=sleep,
        **kwargs,
    )


def signed(
    body: Any, msg_id: str = "msg_1", at: datetime | None = None
) -> tuple[bytes, dict[str, str]]:
    """A body and Standard Webhooks headers signed with :data:`SECRET`."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    moment = at or datetime.now(UTC)
    signature = Webhook(SECRET).sign(msg_id, moment, raw.decode())
    return raw, {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


class Receiver:
    """A real Standard Webhooks receiver on a loopback port, as a peer would run one.

    It verifies every message with the reference library and, as such
    receivers do, answers 200 to an id it has already taken without taking it
    again. Statuses in ``script`` are answered first, one a message, without
    taking the message. ``accepted`` holds the bodies taken, in order; ``ids``
    the ``webhook-id`` of every message that came.
    """

    def __init__(self) -> None:
        self.accepted: list[dict[str, Any]] = []
        self.ids: list[str] = []
        self.script: list[int] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                self.send_response(receiver.take(body, dict(self.headers.items())))
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def take(self, body: bytes, headers: dict[str, str]) -> int:
        payload = Webhook(SECRET).verify(body, headers)
        with self._lock:
            self.ids.append(headers["webhook-id"])
            if self.script:
                return self.script.pop(0)
            if any(a["webhook-id"] == headers["webhook-id"] for a in self.accepted):
                return 200  # a duplicate: already taken
            self.accepted.append({"webhook-id": headers["webhook-id"], **payload})
            return 204

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()
