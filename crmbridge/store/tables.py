"""The hub's tables as SQLAlchemy Core ``Table`` objects.

The migrations in ``crmbridge/store/migrations/versions`` create exactly these
tables; ``tests/store/test_migrations.py`` checks that the two agree.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

__all__ = [
    "JSONType",
    "UTCDateTime",
    "changes",
    "cursors",
    "hub_sequence",
    "identities",
    "inbox_items",
    "leases",
    "links",
    "metadata",
    "outbox",
    "records",
    "rejects",
    "runs",
    "schedules",
    "webhook_inbox",
]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

#: JSON on every backend, JSONB on PostgreSQL; Python ``None`` is stored as SQL NULL.
JSONType = sa.JSON(none_as_null=True).with_variant(
    postgresql.JSONB(none_as_null=True), "postgresql"
)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timestamp that only accepts aware datetimes and always returns them aware, in UTC.

    SQLite has no time zone type, so values are stored there as naive UTC text
    (which sorts and compares correctly) and made aware again on the way out.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Check the value is aware and convert it to UTC."""
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"the hub stores aware datetimes only, got naive {value!r}")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """The usual processor, remembering its last answer.

        A bulk write stamps every row with the same ``now``; converting it once
        instead of per row is a measurable share of a 100,000-record sync.
        """
        process = super().bind_processor(dialect)
        if process is None:  # pragma: no cover - TypeDecorator always has one
            return None
        inner = process
        last: list[tuple[Any, Any]] = [(None, None)]

        def cached(value: Any) -> Any:
            # One tuple read/write, so threads sharing this processor never mix pairs.
            seen, result = last[0]
            if value is not None and value is seen:
                return result
            result = inner(value)
            last[0] = (value, result)
            return result

        return cached

    def process_result_value(self, value: Any | None, dialect: Dialect) -> datetime | None:
        """Return the stored value as an aware UTC datetime."""
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _one_of(column: str, values: tuple[str, ...]) -> sa.CheckConstraint:
    allowed = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({allowed})", name=f"{column}_valid")


RECORD_OPS = ("upsert", "delete")
INBOX_KINDS = ("conflict", "ambiguous_match", "blocked_delete", "pending")
INBOX_STATUSES = ("open", "resolved", "dismissed")
RUN_KINDS = ("sync", "migrate", "dry_run")
RUN_STATUSES = ("running", "succeeded", "failed", "interrupted")
REJECT_STATUSES = ("open", "set_aside", "resolved")
OUTBOX_STATUSES = ("pending", "sent")
WEBHOOK_STATUSES = ("pending", "processed", "failed")

# One row (id = 1). Writers bump it inside their transaction, so PostgreSQL
# serialises them on this row and change-feed seq order equals commit order.
hub_sequence = sa.Table(
    "hub_sequence",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("value", sa.BigInteger, nullable=False),
)

records = sa.Table(
    "records",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("entity", sa.String(64), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("content_hash", sa.String(128), nullable=False),
    sa.Column("data", JSONType, nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    # when the content last changed where it was changed (a remote's modification time for a
    # pulled change); NULL for records written before it was kept: updated_at stands in
    sa.Column("changed_at", UTCDateTime, nullable=True),
    sa.Index(None, "entity", "id"),
    sa.Index(None, "entity", "seq"),
)

# Identity keys of live records (normalised emails, E.164 phones, names), so a
# first sync finds a remote record's existing twin without scanning the hub.
identities = sa.Table(
    "identities",
    metadata,
    sa.Column("entity", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("value", sa.String(512), nullable=False),
    sa.Column("record_id", sa.String(64), nullable=False),
    sa.PrimaryKeyConstraint("entity", "kind", "value", "record_id"),
    sa.Index(None, "record_id"),
    # on SQLite the key is the table: one b-tree to write per key, not two
    sqlite_with_rowid=False,
)

changes = sa.Table(
    "changes",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("entity", sa.String(64), nullable=False),
    sa.Column("record_id", sa.String(64), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("op", sa.String(16), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    _one_of("op", RECORD_OPS),
    sa.Index(None, "entity", "seq"),
)

links = sa.Table(
    "links",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("connector", sa.String(64), nullable=False),
    sa.Column("entity", sa.String(64), nullable=False),
    sa.Column("record_id", sa.String(64), nullable=False),
    sa.Column("external_id", sa.String(255), nullable=False),
    sa.Column("shadow", JSONType, nullable=True),
    sa.Column("shadow_hash", sa.String(128), nullable=True),
    sa.Column("remote_modified_at", UTCDateTime, nullable=True),
    sa.Column("last_seen_seq", sa.BigInteger, nullable=False),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("connector", "entity", "external_id"),
    sa.UniqueConstraint("connector", "entity", "record_id"),
    sa.Index(None, "connector", "entity", "last_seen_seq"),
)

cursors = sa.Table(
    "cursors",
    metadata,
    sa.Column("job", sa.String(128), primary_key=True),
    sa.Column("connector", sa.String(64), primary_key=True),
    sa.Column("entity", sa.String(64), primary_key=True),
    sa.Column("value", JSONType, nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

inbox_items = sa.Table(
    "inbox_items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("job", sa.String(128), nullable=False),
    sa.Column("connector", sa.String(64), nullable=False),
    sa.Column("entity", sa.String(64), nullable=False),
    sa.Column("record_id", sa.String(64), nullable=True),
    sa.Column("external_id", sa.String(255), nullable=True),
    sa.Column("fields", JSONType, nullable=True),
    sa.Column("base", JSONType, nullable=True),
    sa.Column("hub", JSONType, nullable=True),
    sa.Column("remote", JSONType, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("resolution", JSONType, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("resolved_at", UTCDateTime, nullable=True),
    _one_of("kind", INBOX_KINDS),
    _one_of("status", INBOX_STATUSES),
    sa.Index(None, "status", "job"),
    sa.Index(None, "connector", "entity", "record_id"),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("job", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    sa.Column("counts", JSONType, nullable=True),
    sa.Column("report", JSONType, nullable=True),
    sa.Column("host", sa.String(255), nullable=True),
    sa.Column("pid", sa.Integer, nullable=True),
    _one_of("kind", RUN_KINDS),
    _one_of("status", RUN_STATUSES),
    sa.Index(None, "job", "started_at"),
    sa.Index(None, "started_at"),
)

rejects = sa.Table(
    "rejects",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "run_id",
        sa.String(64),
        sa.ForeignKey("runs.id", ondelete="SET NULL"),
        nullable=True,
    ),
    sa.Column("job", sa.String(128), nullable=False),
    sa.Column("connector", sa.String(64), nullable=False),
    sa.Column("entity", sa.String(64), nullable=False),
    sa.Column("external_id", sa.String(255), nullable=True),
    sa.Column("record_id", sa.String(64), nullable=True),
    sa.Column("field", sa.String(255), nullable=True),
    sa.Column("code", sa.String(64), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("payload", JSONType, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("first_seen", UTCDateTime, nullable=False),
    sa.Column("last_seen", UTCDateTime, nullable=False),
    _one_of("status", REJECT_STATUSES),
    sa.Index(None, "run_id"),
    sa.Index(None, "job", "status"),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("job", sa.String(128), nullable=False),
    sa.Column("connector", sa.String(64), nullable=False),
    sa.Column("entity", sa.String(64), nullable=False),
    sa.Column("idempotency_key", sa.String(255), nullable=False, unique=True),
    sa.Column("payload", JSONType, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("sent_at", UTCDateTime, nullable=True),
    _one_of("status", OUTBOX_STATUSES),
    sa.Index(None, "status", "connector", "entity"),
)

leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("holder", sa.String(255), nullable=False),
    sa.Column("acquired_at", UTCDateTime, nullable=False),
    sa.Column("heartbeat_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
)

schedules = sa.Table(
    "schedules",
    metadata,
    sa.Column("job", sa.String(128), primary_key=True),
    sa.Column("holder", sa.String(255), primary_key=True),
    sa.Column("next_run_at", UTCDateTime, nullable=True),
    sa.Column("seen_at", UTCDateTime, nullable=False),
)

webhook_inbox = sa.Table(
    "webhook_inbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("connector", sa.String(64), nullable=False),
    sa.Column("webhook_id", sa.String(255), nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("headers", JSONType, nullable=True),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("processed_at", UTCDateTime, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    _one_of("status", WEBHOOK_STATUSES),
    sa.UniqueConstraint("connector", "webhook_id"),
    sa.Index(None, "status", "received_at"),
)
