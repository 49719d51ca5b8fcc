"""The webhook connector: inbound events from the hub's inbox, outbound signed messages."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import httpx
import orjson

from connectors.webhook.deadletters import DeadLetter, DeadLetters
from connectors.webhook.inbound import Route, delivery_id, load_json, parse_event, verify
from connectors.webhook.outbound import (
    Attempted,
    Message,
    Sender,
    batch_digest,
    build_message,
    new_message_id,
)
from connectors.webhook.settings import WebhookSettings
from crmbridge.config import mask_url
from crmbridge.connector import (
    Capabilities,
    ConnectorContext,
    ConnectorSettings,
    Cursor,
    Deletion,
    InboundWebhook,
    InboxEvent,
    Page,
    RemoteRecord,
    WriteOp,
    WriteOutcome,
    WriteRequest,
    WriteResult,
)
from crmbridge.errors import ConfigError, RecordRejected
from crmbridge.model import ENTITY_ORDER

__all__ = ["WebhookConnector"]

_SCAN = 2_000
"""How many pending inbox events one read looks through per page (other entities' are skipped)."""


class _AnyId:
    """A resolver that links every reference, so a payload's shape is checked without the hub."""

    def to_remote(self, entity: str, record_id: str) -> str | None:
        return record_id

    def to_canonical(self, entity: str, external_id: str) -> str | None:
        return external_id


def _utc_now() -> datetime:
    return datetime.now(UTC)


class WebhookConnector:
    """Any system that sends or receives webhooks.

    Inbound deliveries are verified by :meth:`receive_webhook`, stored in the
    hub's inbox by the HTTP app, and read back by :meth:`read_changes` as pages
    (one page per ``batch_size`` records); an event is marked processed once
    the page holding it is committed. Outbound, :meth:`write` POSTs each batch
    as a Standard Webhooks message to ``url``. Retried deliveries (in-process
    and from the dead-letter file) and 429 answers are reported to
    ``context.api_events``.
    """

    type_name: ClassVar[str] = "webhook"
    capabilities: ClassVar[Capabilities] = Capabilities(
        entities=ENTITY_ORDER,
        read=True,
        write=True,
        delete=True,
        incremental=True,
        push_notifications=True,
        fetch_by_ids=False,
    )
    settings_model: ClassVar[type[ConnectorSettings]] = WebhookSettings

    def __init__(
        self,
        name: str = "webhook",
        settings: ConnectorSettings | None = None,
        context: ConnectorContext | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], datetime] = _utc_now,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        routes: Mapping[str, Route] | None = None,
    ) -> None:
        if not isinstance(settings, WebhookSettings):
            raise ConfigError("a webhook connector needs WebhookSettings", connector=name)
        self.name = name
        self.settings = settings
        self.context = context or ConnectorContext()
        self.batch_size = settings.batch_size
        self.concurrency = settings.concurrency
        self.clock = clock
        self._transport = transport
        self._sleep = sleep
        self._rng = rng
        self._routes = dict(routes) if routes is not None else None
        self._mappers: dict[str, Any] = {}
        self._client: httpx.AsyncClient | None = None
        self._sender: Sender | None = None
        self._retried: dict[int, bool] = {}
        """Kept messages :meth:`open` tried again (dead-letter id -> delivered)."""
        self.api_calls = 0
        self.warnings: list[str] = []
        """What the engine puts in the run's report: messages this run could not deliver."""
        self._kept: dict[tuple[str, bool], tuple[int, str]] = {}
        """(entity, to be retried) -> how many messages this run kept undelivered, and why"""
        path = settings.dead_letters or f".crmbridge/webhook-{name}.sqlite"
        full = Path(path) if Path(path).is_absolute() else Path(self.context.base_dir) / path
        self.dead_letters = DeadLetters(full)

    # -- mapping ------------------------------------------------------------------------------

    def _load_mapping(self) -> None:
        from crmbridge.mapping import load_connector_mapping

        compiled = load_connector_mapping(
            self.name,
            self.type_name,
            self.context.mapping,
            base_dir=self.context.base_dir,
            phone_region=self.context.phone_region,
            timezone=self.context.timezone,
        )
        routes: dict[str, Route] = {}
        for entity, mapper in compiled.entities.items():
            self._mappers[entity] = mapper
            for remote in mapper.remotes:
                routes[remote] = Route(entity, tuple(mapper.remote_id))
        self._routes = routes

    @property
    def routes(self) -> Mapping[str, Route]:
        """Remote object name (an event type's first part) -> entity and id field."""
        if self._routes is None:
            self._load_mapping()
        assert self._routes is not None
        return self._routes

    def _remote_of(self, entity: str) -> tuple[str, str]:
        for remote, route in self.routes.items():
            if route.entity == entity:
                return remote, route.remote_id[0]
        return entity, "id"

    # -- inbound ------------------------------------------------------------------------------

    def receive_webhook(
        self, body: bytes, headers: Mapping[str, str], now: datetime
    ) -> InboundWebhook:
        """Verify a delivery and check it fits the mapping (see :class:`WebhookReceiver`)."""
        signed_id = verify(self.settings, body, headers, now.timestamp())
        payload = load_json(body)
        webhook_id = delivery_id(self.settings, signed_id, payload, headers, body)
        event = parse_event(self.settings, self.routes, payload, now)
        mapper = self._mappers.get(event.entity)
        if mapper is not None:
            for record in event.records:
                try:
                    mapper.to_canonical(record.data, _AnyId())
                except RecordRejected as exc:
                    exc.external_id = exc.external_id or record.external_id
                    raise
        return InboundWebhook(webhook_id, (event.entity,))

    async def read_changes(self, entity: str, cursor: Cursor | None) -> AsyncIterator[Page]:
        """Pages of the inbox's pending events for ``entity``; each page's cursor names its events.

        Events of a page are marked processed when the next page is asked for
        (the engine committed this one) or when a later read starts from its cursor.
        """
        inbox = self.context.inbox
        if inbox is None:
            return
        if cursor and cursor.get("event_ids"):
            inbox.done([int(i) for i in cursor["event_ids"]])
        seen: set[int] = set()
        while True:
            events = [e for e in inbox.pending(_SCAN + len(seen)) if e.id not in seen]
            page, ids = self._page(entity, events, inbox)
            if not ids:
                return
            seen.update(ids)
            yield page
            inbox.done(ids)

    def _page(
        self, entity: str, events: Sequence[InboxEvent], inbox: Any
    ) -> tuple[Page, list[int]]:
        records: list[RemoteRecord] = []
        deletions: list[Deletion] = []
        ids: list[int] = []
        for event in events:
            try:
                parsed = parse_event(
                    self.settings, self.routes, load_json(event.body), event.received_at
                )
            except RecordRejected as exc:
                inbox.done([event.id], error=exc.message)
                continue
            if parsed.entity != entity:
                continue
            records.extend(parsed.records)
            deletions.extend(parsed.deletions)
            ids.append(event.id)
            if len(records) + len(deletions) >= self.batch_size:
                break
        return Page(records, deletions, {"event_ids": ids} if ids else None), ids

    # -- outbound -----------------------------------------------------------------------------

    async def open(self) -> None:
        """Create the HTTP client for outbound deliveries (redirects never followed).

        Then every kept message whose next attempt is due is tried once more,
        so each run of the connector retries them, though it may have nothing
        new to write, and before any message of its own (not in a dry run,
        which sends nothing).
        """
        self._retried = {}
        if self.settings.url is None:
            return
        self._client = httpx.AsyncClient(
            transport=self._transport,
            timeout=self.settings.timeout_s,
            follow_redirects=False,
        )
        self._sender = Sender(
            self._client,
            self.settings.url,
            self.settings.secrets(),
            self.settings.retry,
            clock=self.clock,
            sleep=self._sleep,
            rng=self._rng,
            events=self.context.api_events,
        )
        if not self.context.dry_run:
            await self.retry_due()

    async def close(self) -> None:
        """Close the HTTP client; say what this run left undelivered (see :attr:`warnings`)."""
        if self._client is not None:
            await self._client.aclose()
        self._client = self._sender = None
        where = mask_url(self.settings.url or "")
        for (entity, later), (count, reason) in sorted(self._kept.items()):
            what = f"{count} {entity} message{'s' if count != 1 else ''} to {where}"
            fate = (
                f"could not be delivered yet ({reason}); they wait in the dead-letter file and "
                "are sent again on later runs"
                if later
                else f"could not be delivered ({reason}) and will not be retried: `crmbridge "
                f"webhooks redeliver --all --connector {self.name}` sends them again"
            )
            listed = f"`crmbridge webhooks dead-letters --connector {self.name}` lists them"
            self.warnings.append(f"{what} {fate} ({listed})")
        self._kept.clear()

    def _require_sender(self) -> Sender:
        if self._sender is None:
            raise ConfigError(
                f"connector {self.name} has no `url` to deliver hub changes to",
                key=f"connectors.{self.name}.url",
            )
        return self._sender

    async def write(self, entity: str, requests: Sequence[WriteRequest]) -> list[WriteResult]:
        """POST the batch as one message per operation; one result per request.

        Each message has a ``webhook-id`` of its own, so a receiver that drops
        ids it has seen never drops a change; a batch the engine replays
        (``resent``) goes out under the id it first had.
        Undelivered after the in-process retries, a message goes to the
        dead-letter file (retried on later runs, then redeliverable by hand)
        and its records count as written; a receiver's 4xx refusal (404 and
        410 too: the endpoint is wrong or gone, the records are not) rejects
        them with the status, and the engine keeps them to send again.
        """
        sender = self._require_sender()
        remote, remote_id = self._remote_of(entity)
        results: list[WriteResult] = []
        for op in (WriteOp.CREATE, WriteOp.UPDATE, WriteOp.DELETE):
            batch = [r for r in requests if r.op is op]
            if not batch:
                continue
            message = build_message(
                entity,
                remote,
                remote_id,
                op,
                batch,
                self.clock(),
                self._message_id(entity, op, batch),
            )
            outcome = await sender.deliver(message.webhook_id, message.body)
            self.api_calls += outcome.attempts
            if not outcome.delivered and outcome.retryable:
                self._keep(message, outcome)
            results.extend(_results(batch, outcome))
        return results

    def _message_id(self, entity: str, op: WriteOp, batch: Sequence[WriteRequest]) -> str:
        """A new id for each change; a replayed batch (``resent``) keeps the one it went out with.

        The id is remembered before the message is sent, so a run that dies
        before seeing the answer replays it under the same id.
        """
        keys = [r.key for r in batch]
        digest = batch_digest(entity, op, batch)
        if any(r.resent for r in batch):
            earlier = self.dead_letters.sent_as(entity, keys, digest)
            if earlier is not None:
                return earlier
        webhook_id = new_message_id()
        self.dead_letters.remember(entity, keys, digest, webhook_id, self.clock())
        return webhook_id

    async def fetch(self, entity: str, external_ids: Sequence[str]) -> list[RemoteRecord]:
        """A webhook peer cannot be asked for records: always empty."""
        return []

    def _keep(self, message: Message, outcome: Attempted, letter: DeadLetter | None = None) -> None:
        steps = self.settings.retry.later
        done_later = 0 if letter is None else max(0, letter.attempts - self.settings.retry.attempts)
        step = done_later if letter is None else done_later + 1
        now = self.clock()
        wait = steps[step] if step < len(steps) else None
        if outcome.wait_s is not None and wait is not None:
            wait = max(wait, outcome.wait_s)
        count, _ = self._kept.get((message.entity, wait is not None), (0, ""))
        self._kept[(message.entity, wait is not None)] = (count + 1, outcome.reason)
        self.dead_letters.put(
            webhook_id=message.webhook_id,
            entity=message.entity,
            url=self._require_sender().url,
            body=message.body,
            now=now,
            attempts=outcome.attempts,
            last_status=outcome.status,
            reason=outcome.reason,
            status="retrying" if wait is not None else "dead",
            next_attempt_at=now + timedelta(seconds=wait) if wait is not None else None,
        )

    async def retry_due(self) -> int:
        """Try once more every kept message whose next attempt is due; returns how many went."""
        sent = 0
        for letter in self.dead_letters.due(self.clock()):
            self.context.api_events.retried()
            delivered = await self._resend(letter, schedule=True)
            self._retried[letter.id] = bool(delivered)
            sent += delivered
        return sent

    async def redeliver(self, ids: Sequence[int] | None = None) -> list[dict[str, Any]]:
        """Send kept messages again now (``None``: every one not delivered); one row per message.

        A message :meth:`open` has just tried again is not sent twice: its row
        says how that attempt went.
        """
        letters = self.dead_letters.entries() if ids is None else self.dead_letters.get(ids)
        rows: list[dict[str, Any]] = []
        for letter in letters:
            tried = self._retried.get(letter.id)
            ok = tried if tried is not None else await self._resend(letter, schedule=False)
            rows.append({"id": letter.id, "webhook_id": letter.webhook_id, "delivered": bool(ok)})
        return rows

    async def _resend(self, letter: DeadLetter, *, schedule: bool) -> int:
        sender = self._require_sender()
        body = self._still_current(letter)
        if body is None:
            self.dead_letters.superseded(letter.id, self.clock())
            return 1
        outcome = await sender.attempt(letter.webhook_id, body)
        self.api_calls += 1
        if outcome.delivered:
            self.dead_letters.delivered(letter.id, self.clock())
            return 1
        message = Message(letter.webhook_id, letter.entity, letter.body)
        if schedule:
            self._keep(message, outcome, letter)
        else:
            self.dead_letters.put(
                webhook_id=letter.webhook_id,
                entity=letter.entity,
                url=letter.url,
                body=letter.body,
                now=self.clock(),
                attempts=1,
                last_status=outcome.status,
                reason=outcome.reason,
                status=letter.status,
                next_attempt_at=letter.next_attempt_at,
            )
        return 0

    def _still_current(self, letter: DeadLetter) -> bytes | None:
        """The kept message without the records newer messages have carried since (``None``
        when that is all of them): sent late, they would put back what the peer has replaced.

        A record is known by its id in the message, which is the key the connector
        remembers its last message by; a record known otherwise is kept.
        """
        try:
            payload = orjson.loads(letter.body)
            records = payload["data"]
            _, remote_id = self._remote_of(letter.entity)
            ids = [str(record.get(remote_id)) for record in records]
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            return letter.body
        last = self.dead_letters.last_messages(letter.entity, ids)
        kept = [
            r
            for r, i in zip(records, ids, strict=True)
            if last.get(i, letter.webhook_id) == letter.webhook_id
        ]
        if not kept:
            return None
        if len(kept) == len(records):
            return letter.body
        return orjson.dumps({**payload, "data": kept})


def _results(batch: Sequence[WriteRequest], outcome: Attempted) -> list[WriteResult]:
    if outcome.delivered or outcome.retryable:
        kind = {
            WriteOp.CREATE: WriteOutcome.CREATED,
            WriteOp.UPDATE: WriteOutcome.UPDATED,
            WriteOp.DELETE: WriteOutcome.DELETED,
        }
        return [WriteResult(r.key, kind[r.op], r.external_id or r.key) for r in batch]
    # never NOT_FOUND, which would drop the links: a webhook URL answering 404 or 410 is a
    # wrong or retired endpoint, not a record deleted at the peer; the rejects are kept and
    # their records sent again on later runs
    code = f"HTTP_{outcome.status}"
    return [
        WriteResult(r.key, WriteOutcome.REJECTED, r.external_id, code=code, message=outcome.reason)
        for r in batch
    ]
