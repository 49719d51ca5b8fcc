"""The plain values the store takes and returns; no SQLAlchemy types leak out of the store."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

__all__ = [
    "Change",
    "InboxItem",
    "InboxKind",
    "InboxStatus",
    "Lease",
    "Link",
    "LinkWrite",
    "NewInboxItem",
    "NewReject",
    "NewWebhook",
    "OutboxItem",
    "OutboxStatus",
    "Record",
    "RecordOp",
    "RecordWrite",
    "Reject",
    "RejectStatus",
    "Run",
    "RunKind",
    "RunStatus",
    "Schedule",
    "WebhookEvent",
    "WebhookStatus",
    "WriteResult",
]

RecordOp = Literal["upsert", "delete"]
InboxKind = Literal["conflict", "ambiguous_match", "blocked_delete", "pending"]
InboxStatus = Literal["open", "resolved", "dismissed"]
RunKind = Literal["sync", "migrate", "dry_run"]
RunStatus = Literal["running", "succeeded", "failed", "interrupted"]
RejectStatus = Literal["open", "set_aside", "resolved"]
OutboxStatus = Literal["pending", "sent"]
WebhookStatus = Literal["pending", "processed", "failed"]


@dataclass(frozen=True, slots=True)
class Record:
    """A canonical record in the hub; ``seq`` is the change-feed number of its last change.

    ``changed_at`` is when its content last changed where it was changed (a
    pulled change: the remote's modification time); ``None`` for a record
    written before that was kept.
    """

    id: str
    entity: str
    version: int
    content_hash: str
    data: dict[str, Any]
    deleted: bool
    created_at: datetime
    updated_at: datetime
    seq: int
    changed_at: datetime | None = None

    @property
    def modified_at(self) -> datetime:
        """When the content last changed, for the ``newest`` policy."""
        return self.changed_at or self.updated_at


# not frozen (read-only by convention): one is made per record of a bulk sync, and a frozen
# dataclass's __init__ costs four times as much
@dataclass(slots=True, unsafe_hash=True)
class RecordWrite:
    """New content for a record; ``id=None`` creates a record with a fresh id."""

    data: Mapping[str, Any]
    content_hash: str
    id: str | None = None
    changed_at: datetime | None = None
    """when the change was made where it was made (``None``: now, in the hub)"""
    index_keys: Sequence[tuple[str, str]] | None = None
    """the identity keys of ``data`` (:func:`~crmbridge.model.identity_index_keys`), when the
    caller has them already; they are stored as given, unchecked"""


@dataclass(slots=True, unsafe_hash=True)
class WriteResult:
    """What a record write did: ``changed`` is False when the content hash was already current
    (then ``version`` and ``seq`` are the existing ones)."""

    id: str
    version: int
    seq: int
    created: bool
    changed: bool


@dataclass(frozen=True, slots=True)
class Change:
    """One entry in the change feed."""

    seq: int
    entity: str
    record_id: str
    version: int
    op: RecordOp
    at: datetime


@dataclass(frozen=True, slots=True)
class Link:
    """A hub record's counterpart in one connector, with the last values both sides agreed on."""

    connector: str
    entity: str
    record_id: str
    external_id: str
    shadow: dict[str, Any] | None
    shadow_hash: str | None
    remote_modified_at: datetime | None
    last_seen_seq: int
    failures: int
    updated_at: datetime


@dataclass(slots=True, unsafe_hash=True)
class LinkWrite:
    """A link to create or replace (keyed by record id within a connector and entity).

    ``last_seen_seq`` never moves backwards; ``remote_modified_at=None`` keeps the old value.
    """

    record_id: str
    external_id: str
    shadow: Mapping[str, Any] | None = None
    shadow_hash: str | None = None
    remote_modified_at: datetime | None = None
    last_seen_seq: int = 0


@dataclass(frozen=True, slots=True)
class Run:
    """One run of a job (a sync, a migration or a dry run)."""

    id: str
    job: str
    kind: RunKind
    status: RunStatus
    started_at: datetime
    finished_at: datetime | None
    counts: dict[str, Any] | None
    report: dict[str, Any] | None
    host: str | None
    pid: int | None


@dataclass(frozen=True, slots=True)
class NewReject:
    """A record that could not be mapped or written, to be recorded for a person to look at."""

    job: str
    connector: str
    entity: str
    code: str
    reason: str
    run_id: str | None = None
    external_id: str | None = None
    record_id: str | None = None
    field: str | None = None
    payload: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Reject:
    """A recorded per-record reject."""

    id: int
    run_id: str | None
    job: str
    connector: str
    entity: str
    external_id: str | None
    record_id: str | None
    field: str | None
    code: str
    reason: str
    payload: dict[str, Any] | None
    attempts: int
    status: RejectStatus
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class NewInboxItem:
    """Something a person must decide: a conflict, an ambiguous match, a blocked delete."""

    kind: InboxKind
    job: str
    connector: str
    entity: str
    record_id: str | None = None
    external_id: str | None = None
    fields: list[str] | None = None
    base: Mapping[str, Any] | None = None
    hub: Mapping[str, Any] | None = None
    remote: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class InboxItem:
    """An item in the conflict inbox."""

    id: int
    kind: InboxKind
    job: str
    connector: str
    entity: str
    record_id: str | None
    external_id: str | None
    fields: list[str] | None
    base: dict[str, Any] | None
    hub: dict[str, Any] | None
    remote: dict[str, Any] | None
    status: InboxStatus
    resolution: dict[str, Any] | None
    created_at: datetime
    resolved_at: datetime | None


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A batch recorded before it is sent, so a crash never sends it twice."""

    id: int
    job: str
    connector: str
    entity: str
    idempotency_key: str
    payload: Any
    status: OutboxStatus
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class Lease:
    """Who runs a job right now, and until when."""

    name: str
    holder: str
    acquired_at: datetime
    heartbeat_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a running replica's scheduler fires a job next, as that replica last said.

    ``next_run_at`` is ``None`` when the scheduler has no further time for the
    job; ``seen_at`` is when the replica last confirmed it (it does so
    every third of ``server.lease_ttl_s`` while it runs).
    """

    job: str
    holder: str
    next_run_at: datetime | None
    seen_at: datetime


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """An inbound webhook, stored before it is answered and drained later by the runner."""

    id: int
    connector: str
    webhook_id: str
    received_at: datetime
    headers: dict[str, str] | None
    body: bytes
    status: WebhookStatus
    processed_at: datetime | None
    error: str | None


@dataclass(frozen=True, slots=True)
class NewWebhook:
    """An inbound webhook to store in the inbox.

    A ``processed`` one (a hint such as a Zoho notification, with no records
    to drain) is kept for dedupe only and stored already processed.
    """

    connector: str
    webhook_id: str
    body: bytes
    headers: dict[str, str] | None = None
    processed: bool = False
