"""The hub store: canonical records, the change feed, links and shadows, cursors, runs,
rejects, the conflict inbox, the outbox, leases, live schedules and the webhook inbox.

SQLite by default (created and upgraded on first open), PostgreSQL for teams
and replicas (upgraded explicitly with ``crmbridge db upgrade``). Only this
package imports SQLAlchemy and Alembic; everything else talks to :class:`Store`
with the plain values in :mod:`crmbridge.store.rows`.

``open_store("sqlite://")`` gives an in-memory store, handy in tests.
"""

from __future__ import annotations

from crmbridge.store.engine import DEFAULT_URL
from crmbridge.store.rows import (
    Change,
    InboxItem,
    InboxKind,
    Lease,
    Link,
    LinkWrite,
    NewInboxItem,
    NewReject,
    NewWebhook,
    OutboxItem,
    Record,
    RecordOp,
    RecordWrite,
    Reject,
    RejectStatus,
    Run,
    RunKind,
    RunStatus,
    Schedule,
    WebhookEvent,
    WriteResult,
)
from crmbridge.store.schema import current_revision, head_revision, is_current, upgrade
from crmbridge.store.store import Clock, Store, Transaction, open_store

__all__ = [
    "DEFAULT_URL",
    "Change",
    "Clock",
    "InboxItem",
    "InboxKind",
    "Lease",
    "Link",
    "LinkWrite",
    "NewInboxItem",
    "NewReject",
    "NewWebhook",
    "OutboxItem",
    "Record",
    "RecordOp",
    "RecordWrite",
    "Reject",
    "RejectStatus",
    "Run",
    "RunKind",
    "RunStatus",
    "Schedule",
    "Store",
    "Transaction",
    "WebhookEvent",
    "WriteResult",
    "current_revision",
    "head_revision",
    "is_current",
    "open_store",
    "upgrade",
]
