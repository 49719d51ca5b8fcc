"""Outbound deliveries: signed Standard Webhooks messages, retried with backoff and jitter.

Every change sent gets a ``webhook-id`` of its own (:func:`new_message_id`),
even when its content equals an earlier message's (a record changed A -> B ->
A), so a receiver that drops duplicate ids never drops a change; the message
keeps that id on every attempt and every replay. The timestamp and signature
are made afresh for each attempt. 2xx is delivered; 408, 425,
429, 5xx, redirects (never followed), timeouts and connection errors are
retried; any other 4xx is refused for good. Each retry and each 429 is
reported to the engine's :class:`~crmbridge.connector.ApiEvents`.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import orjson

from connectors.webhook.settings import RetrySettings
from crmbridge.connector import NO_API_EVENTS, ApiEvents, WriteOp, WriteRequest
from crmbridge.signatures import standard_headers

__all__ = [
    "Attempted",
    "Message",
    "Sender",
    "batch_digest",
    "build_message",
    "new_message_id",
    "parse_retry_after",
]

RETRYABLE = frozenset({408, 425, 429})
_ACTIONS = {WriteOp.CREATE: "created", WriteOp.UPDATE: "updated", WriteOp.DELETE: "deleted"}


@dataclass(frozen=True, slots=True)
class Message:
    """One outbound message: its stable id, entity and exact body bytes."""

    webhook_id: str
    entity: str
    body: bytes
    requests: tuple[WriteRequest, ...] = ()


@dataclass(frozen=True, slots=True)
class Attempted:
    """How delivering a message ended after its in-process retries."""

    delivered: bool
    attempts: int
    status: int | None
    reason: str
    retryable: bool = False
    wait_s: float | None = None


def batch_digest(entity: str, op: WriteOp, requests: Sequence[WriteRequest]) -> str:
    """A digest of what a batch says (entity, operation, keys, ids, values), to know it again."""
    seed = orjson.dumps(
        [entity, op.value, [[r.key, r.external_id, r.data] for r in requests]],
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.sha256(seed).hexdigest()


def new_message_id() -> str:
    """A fresh ``webhook-id``: random, so equal content sent twice is two messages."""
    return "msg_" + secrets.token_hex(20)


def build_message(
    entity: str,
    remote: str,
    remote_id: str,
    op: WriteOp,
    requests: Sequence[WriteRequest],
    now: datetime,
    webhook_id: str,
) -> Message:
    """The message ``webhook_id`` of one batch of same-operation writes.

    Its type is ``<remote>.<created|updated|deleted>``.
    """
    records: list[dict[str, Any]] = []
    for request in requests:
        record = dict(request.data)
        record[remote_id] = request.external_id or request.key
        records.append(record)
    body = orjson.dumps(
        {
            "type": f"{remote}.{_ACTIONS[op]}",
            "timestamp": now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "data": records,
        }
    )
    return Message(webhook_id, entity, body, tuple(requests))


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), or ``None``."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


class Sender:
    """Delivers messages to one URL with the connector's retry schedule.

    ``events`` hears of every retry and every 429 answer.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        url: str,
        secrets: Sequence[str],
        retry: RetrySettings,
        *,
        clock: Callable[[], datetime],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        events: ApiEvents = NO_API_EVENTS,
    ) -> None:
        self.client = client
        self.events = events
        self.url = url
        self.secrets = list(secrets)
        self.retry = retry
        self.clock = clock
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.calls = 0

    def backoff(self, attempt: int) -> float:
        """The wait before retry number ``attempt`` (1-based): doubling, capped, jittered."""
        base = min(self.retry.max_s, self.retry.first_s * 2 ** (attempt - 1))
        return float(base * self.rng.uniform(0.5, 1.0))

    async def attempt(self, webhook_id: str, body: bytes) -> Attempted:
        """One POST, freshly signed; never raises for an HTTP or network failure."""
        headers: Mapping[str, str] = {
            "content-type": "application/json",
            **standard_headers(self.secrets, webhook_id, int(self.clock().timestamp()), body),
        }
        self.calls += 1
        try:
            response = await self.client.post(self.url, content=body, headers=headers)
        except httpx.TimeoutException:
            return Attempted(False, 1, None, "timed out", retryable=True)
        except httpx.TransportError as exc:
            return Attempted(False, 1, None, f"connection failed: {type(exc).__name__}", True)
        status = response.status_code
        if status == 429:
            self.events.rate_limited()
        if 200 <= status < 300:
            return Attempted(True, 1, status, "delivered")
        if 300 <= status < 400:
            return Attempted(False, 1, status, f"HTTP {status}: redirects are not followed", True)
        if status in RETRYABLE or status >= 500:
            wait = parse_retry_after(response.headers.get("retry-after"), self.clock())
            return Attempted(False, 1, status, f"HTTP {status}", True, wait)
        if status in (404, 410):
            return Attempted(False, 1, status, f"HTTP {status}: no such endpoint at the receiver")
        return Attempted(False, 1, status, f"HTTP {status}: refused by the receiver")

    async def deliver(self, webhook_id: str, body: bytes) -> Attempted:
        """Try up to ``retry.attempts`` times in-process; stop early on a refusal."""
        result = Attempted(False, 0, None, "not sent")
        for number in range(1, self.retry.attempts + 1):
            outcome = await self.attempt(webhook_id, body)
            result = Attempted(
                outcome.delivered,
                number,
                outcome.status,
                outcome.reason,
                outcome.retryable,
                outcome.wait_s,
            )
            if outcome.delivered or not outcome.retryable or number == self.retry.attempts:
                return result
            wait = self.backoff(number)
            if outcome.wait_s is not None:
                if outcome.wait_s > self.retry.retry_after_cap_s:
                    return result  # the receiver asks for longer: wait in the dead-letter file
                wait = max(wait, outcome.wait_s)
            self.events.retried()
            await self.sleep(wait)
        return result
