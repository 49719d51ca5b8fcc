"""The Connector protocol: the one seam between the engine and any outside system.

A connector reads pages of changes since a cursor and writes batches of
records, one result per record. It knows nothing of the hub; the engine maps,
matches and merges. Built-in connectors and third-party ones register the
same way, through the ``crmbridge.connectors`` entry-point group::

    [project.entry-points."crmbridge.connectors"]
    mycrm = "mypackage:MyCrmConnector"

A connector class has

- ``type_name``: the ``type:`` used in the config;
- ``capabilities``: what it can do (:class:`Capabilities`);
- ``settings_model``: the pydantic model of its config section;
- a constructor ``(name, settings, context)`` building an instance for one
  config entry (``settings`` an instance of ``settings_model``, ``context`` a
  :class:`ConnectorContext`),

and its instances implement the async methods of :class:`Connector`.
``crmbridge.testing`` holds an in-memory connector and the contract suite
every connector passes.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

__all__ = [
    "FILE_KEY",
    "LINE_KEY",
    "NO_API_EVENTS",
    "ApiEvents",
    "Capabilities",
    "ChecksPresence",
    "Connector",
    "ConnectorContext",
    "ConnectorSettings",
    "Cursor",
    "Deletion",
    "InboundWebhook",
    "InboxEvent",
    "JsonRow",
    "KeepsChannels",
    "ListsRecords",
    "Page",
    "RemoteRecord",
    "ReportsUsage",
    "Shaped",
    "Unreadable",
    "WebhookInbox",
    "WebhookReceiver",
    "WriteOp",
    "WriteOutcome",
    "WriteRequest",
    "WriteResult",
    "list_records",
]

Cursor = dict[str, Any]
"""A connector's position in its change feed: JSON-ready, opaque to the engine."""

FILE_KEY = "$file"
"""Key of the file a record was read from, in its data (the mapping ignores it); rejects and
reports show it so a person finds the row."""
LINE_KEY = "$line"
"""Key of the line a record starts on in that file, in its data."""


class Capabilities(BaseModel):
    """What a connector can do; shown by ``crmbridge connectors`` and checked by the engine."""

    model_config = ConfigDict(frozen=True)

    entities: tuple[str, ...]
    read: bool = True
    write: bool = True
    delete: bool = False
    incremental: bool = False
    push_notifications: bool = False
    fetch_by_ids: bool = False
    lists_records: bool = False
    """The connector can list every record the remote holds without changing anything
    anywhere: with :meth:`ListsRecords.list_records`, else ``read_changes`` from no
    cursor. A migration reads such a target first, to update the records it already
    holds instead of creating second copies (a webhook inbox is not such a remote: it
    hands out each event once)."""


class ConnectorSettings(BaseModel):
    """Base of every connector's config model.

    Subclasses add their own keys; unknown keys are refused so typos are
    caught. ``type`` and ``mapping`` belong to the config itself and are not
    passed here.
    """

    model_config = ConfigDict(extra="forbid")


class ApiEvents(Protocol):
    """Where a connector reports what its remote API did to it, for the engine to count.

    The engine hands each connector instance one, already bound to the
    connector's name (``ConnectorContext.api_events``); the daemon exports
    the counts as Prometheus metrics. Calls must be cheap and never raise.
    """

    def retried(self) -> None:
        """A call is about to be sent again after a failure (429, 5xx, timeout, ...)."""
        ...

    def rate_limited(self) -> None:
        """The remote answered HTTP 429 (too many requests)."""
        ...


class _NoApiEvents:
    """The :class:`ApiEvents` of a connector nobody counts: every report is dropped."""

    def retried(self) -> None:
        return None

    def rate_limited(self) -> None:
        return None


NO_API_EVENTS: ApiEvents = _NoApiEvents()
"""The default :class:`ApiEvents`: counts nothing (tests, one-off commands)."""


@dataclass(frozen=True, slots=True)
class ConnectorContext:
    """What the engine hands a connector when it builds one.

    ``base_dir`` is the config file's folder (relative paths in a connector's
    settings are taken from there); ``phone_region`` and ``timezone`` are the
    config's defaults; ``mapping`` is the connector's ``mapping:`` setting
    (``None``: the shipped mapping of its type), for connectors that need to
    know which remote fields the mapping uses. ``inbox`` gives a connector that
    receives webhooks the events stored for it (``None`` where there is no hub).
    ``api_events`` is where the connector reports retried calls and 429 answers
    (:class:`ApiEvents`; by default nobody counts them). ``shared`` is kept by
    the engine for the connector's name across the runs one process makes, for
    what outlives a run: an access token still valid, a rate-limit window, a
    quota stop. Runs of different jobs may use it at once from different
    threads and event loops, so it holds plain values, never asyncio objects.
    ``dry_run``: the connector serves a dry run, which must change nothing
    anywhere (no side files either). ``config_path`` is the config file, for
    errors that name a setting. ``migration_target``: the connector serves a
    migration's target, which the migration's own writes may be the first to
    make, so a place to read that is not there yet (a CSV connector's folder)
    reads as empty instead of failing as a likely typo.
    """

    base_dir: str = "."
    phone_region: str | None = None
    timezone: str = "UTC"
    mapping: str | None = None
    inbox: WebhookInbox | None = None
    api_events: ApiEvents = NO_API_EVENTS
    shared: dict[str, Any] = field(default_factory=dict)
    dry_run: bool = False
    config_path: str | None = None
    migration_target: bool = False


class JsonRow(Protocol):
    """Record data that can say what it holds as JSON values alone (a CSV row's cells).

    A page of such records crosses to the mapping worker as JSON, far cheaper
    than pickling; the worker reads each record as ``dict(zip(keys, values))``.
    Data without this method crosses pickled, as it is.
    """

    def json_row(self) -> tuple[tuple[str, ...], list[Any]]:
        """Its keys and values, in the same order; the keys tuple may be shared by many rows.

        The values must be what JSON holds and gives back the same: ``str`` (valid
        Unicode), ``int``, finite ``float``, ``bool``, ``None``, lists and dicts of
        them. A page holding a datetime, a dataclass or a subclass of ``str``, ``int``,
        ``list`` or ``dict`` is pickled instead; a tuple, an enum or a UUID would come
        back changed.
        """
        ...


class Shaped(Protocol):
    """Record data that names its keys at once (a CSV row: its file's columns).

    A mapping remembers, per shape, which of its fields a record can hold, so
    such records skip the fields they have no key for without looking. A
    plain ``dict`` needs nothing: its keys are its shape.
    """

    @property
    def crmbridge_keys(self) -> tuple[str, ...]:
        """Its keys, as iterating it gives them (a tuple many records may share)."""
        ...


@dataclass(frozen=True, slots=True)
class RemoteRecord:
    """One record as the remote system holds it, in the remote's own field names."""

    external_id: str
    data: Mapping[str, Any]
    modified_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Deletion:
    """A record the remote reports deleted (from an explicit deletion feed, never inferred).

    ``content_id``: the external id was made from the record's content (it has
    no id of its own), so an edit of it also reads as this deletion plus a new
    record; the engine then takes the two as one record that changed its id.
    """

    external_id: str
    deleted_at: datetime | None = None
    content_id: bool = False


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A record the connector could not even read (a malformed file row, say).

    The run keeps it as a reject with ``reason``, the remote ``column`` at
    fault and ``where`` it is (for a file: ``{"$file": path, "$line": n}``), so
    it is counted, listed in the run's report and never silently dropped.
    ``external_id`` is the record's id where one could be read.
    """

    reason: str
    external_id: str | None = None
    column: str | None = None
    where: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Page:
    """One page of changes. ``cursor`` is where the next read starts once this page is committed.

    ``unreadable`` lists records of the read that could not be read. A
    connector that reports them reports every one still unreadable on each
    read that yields pages: a read that does not repeat an earlier report
    settles it (the row was mended or removed). ``warnings`` are for the
    run's report (a person should know, nothing failed).
    """

    records: list[RemoteRecord] = field(default_factory=list)
    deletions: list[Deletion] = field(default_factory=list)
    cursor: Cursor | None = None
    unreadable: list[Unreadable] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class WriteOp(enum.StrEnum):
    """What a write asks the remote to do."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


class WriteOutcome(enum.StrEnum):
    """What happened to one record of a write batch."""

    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class WriteRequest:
    """One record to write. ``key`` is the crmbridge id: stable, so a retried create is recognisable.

    ``resent`` is true when an earlier attempt may already have reached the
    remote (the engine replays an outbox batch whose answer it never saw): a
    connector whose remote cannot deduplicate creates by ``key`` itself looks
    the record up before creating it again.
    """

    key: str
    op: WriteOp
    data: Mapping[str, Any] = field(default_factory=dict)
    external_id: str | None = None
    resent: bool = False


@dataclass(frozen=True, slots=True)
class WriteResult:
    """The remote's answer for one :class:`WriteRequest`, matched by ``key``."""

    key: str
    outcome: WriteOutcome
    external_id: str | None = None
    modified_at: datetime | None = None
    code: str | None = None
    field: str | None = None
    message: str | None = None


@runtime_checkable
class Connector(Protocol):
    """An instance of a connector, built from one config entry.

    Errors follow :mod:`crmbridge.errors`: ``AuthError`` for refused
    credentials, ``TransientError`` for what a retry may fix,
    ``PermanentError`` for the rest. A bad record is not an exception: it is a
    rejected :class:`WriteResult`.

    Optional attributes the engine reads when present: ``api_calls`` (an
    ``int``, the calls made so far) and ``warnings`` (a ``list[str]`` of what
    the user should hear of the run, such as writes accepted but not yet
    delivered; the engine takes them into the run's report once the
    connector is closed, and empties the list).
    """

    type_name: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    settings_model: ClassVar[type[ConnectorSettings]]

    name: str
    batch_size: int
    """The largest write batch the remote takes."""
    concurrency: int
    """How many calls may run at once."""

    async def open(self) -> None:
        """Acquire clients and credentials; called once before any read or write."""

    async def close(self) -> None:
        """Release what :meth:`open` acquired."""

    def read_changes(self, entity: str, cursor: Cursor | None) -> AsyncIterator[Page]:
        """Yield pages of records and deletions changed since ``cursor`` (``None``: everything).

        Bounds are inclusive: a record modified at the cursor's instant comes
        again, and the engine drops what it has already applied.
        """
        ...

    async def write(self, entity: str, requests: Sequence[WriteRequest]) -> list[WriteResult]:
        """Write one batch (at most ``batch_size``); one result per request, in any order."""
        ...

    async def fetch(self, entity: str, external_ids: Sequence[str]) -> list[RemoteRecord]:
        """Fetch records by id (when ``capabilities.fetch_by_ids``); missing ids are left out."""
        ...


@runtime_checkable
class ListsRecords(Protocol):
    """A connector whose read from no cursor is not a plain listing (optional).

    A CSV connector's read keeps a snapshot of the file for its next read;
    :meth:`list_records` reads every record and keeps nothing.
    """

    def list_records(self, entity: str) -> AsyncIterator[Page]:
        """Pages of every record of ``entity`` (no deletions, no cursor), changing nothing."""
        ...


def list_records(connector: Connector, entity: str) -> AsyncIterator[Page]:
    """Every record ``connector`` holds of ``entity`` (see :attr:`Capabilities.lists_records`)."""
    if isinstance(connector, ListsRecords):
        return connector.list_records(entity)
    return connector.read_changes(entity, None)


@runtime_checkable
class ChecksPresence(Protocol):
    """A connector that can tell cheaply which of the records sent to it it still holds
    (optional).

    A migration asks before its push: a record whose row or record is gone from the
    target (an export file deleted or cut down by hand) is sent again, not taken as
    delivered because the hub once sent it.
    """

    async def still_held(self, entity: str, linked: Mapping[str, str]) -> set[str] | None:
        """Those of the external ids in ``linked`` (each with its hub record's id) the
        remote holds now; ``None`` when it cannot tell."""
        ...


@runtime_checkable
class KeepsChannels(Protocol):
    """A connector holding push channels at the remote that lapse unless renewed (optional).

    ``crmbridge run`` calls :meth:`renew_channels` at start and then at the
    time each call returns, on a fresh instance each time (opened and closed
    around the call), so the connector keeps what it needs to know about its
    channels at the remote or in its config, not in memory.
    """

    async def renew_channels(self, now: datetime) -> datetime | None:
        """Renew the channels close to expiry; return when to be called next.

        ``None``: no channel to keep (the daemon looks again much later).
        Raises like any connector call; the daemon logs it and tries again soon.
        """
        ...


@runtime_checkable
class ReportsUsage(Protocol):
    """A connector that says what a run cost it beyond the call count (optional).

    The run report shows :meth:`usage` under ``connector``.
    """

    def usage(self) -> Mapping[str, Any]:
        """JSON-ready figures of this instance (credits spent, extra checks made, ...)."""
        ...


class InboxEvent(Protocol):
    """One inbound webhook as the hub's inbox stored it (before the runner applied it)."""

    @property
    def id(self) -> int:
        """The inbox row id: what :meth:`WebhookInbox.done` takes."""
        ...

    @property
    def webhook_id(self) -> str:
        """The sender's delivery id (the dedupe key)."""
        ...

    @property
    def body(self) -> bytes:
        """The body exactly as received (and verified)."""
        ...

    @property
    def received_at(self) -> datetime:
        """When it was received (UTC)."""
        ...


class WebhookInbox(Protocol):
    """The pending inbound webhooks of one connector, as the engine hands them to it.

    A connector's :meth:`Connector.read_changes` yields their records as pages
    and calls :meth:`done` only for events whose page the engine committed (it
    asks for the next page, or a later read starts from the page's cursor), so
    an acknowledged event is never lost; a crash in between applies it again,
    which the merge's echo suppression makes harmless.
    """

    def pending(self, limit: int) -> Sequence[InboxEvent]:
        """Up to ``limit`` unprocessed events, oldest first."""
        ...

    def done(self, event_ids: Sequence[int], *, error: str | None = None) -> None:
        """Mark events processed (or failed, with ``error``); a dry run's inbox ignores it."""
        ...


@dataclass(frozen=True, slots=True)
class InboundWebhook:
    """A verified inbound webhook: its delivery id and what it is about.

    ``hint`` marks a notification that carries no records to apply (a Zoho
    callback): the hub keeps it for dedupe only and syncs the connector's jobs.
    """

    webhook_id: str
    entities: tuple[str, ...] = ()
    hint: bool = False


@runtime_checkable
class WebhookReceiver(Protocol):
    """A connector that accepts inbound webhooks at ``POST /webhooks/{name}``."""

    def receive_webhook(
        self, body: bytes, headers: Mapping[str, str], now: datetime
    ) -> InboundWebhook:
        """Verify and check one delivery; pure (no I/O), called before anything is stored.

        Raises :class:`~crmbridge.errors.AuthError` when the signature or token
        does not verify (the message names no secret), and
        :class:`~crmbridge.errors.RecordRejected` when the payload is not JSON
        (code ``MALFORMED``) or does not fit the mapping (any other code).
        """
        ...
