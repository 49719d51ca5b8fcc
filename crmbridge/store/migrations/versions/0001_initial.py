"""Initial hub schema: records, change feed, links, cursors, inbox, runs, rejects,
outbox, leases and the webhook inbox.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON(none_as_null=True).with_variant(
        postgresql.JSONB(none_as_null=True), "postgresql"
    )


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _one_of(table: str, column: str, *values: str) -> sa.CheckConstraint:
    allowed = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({allowed})", name=op.f(f"ck_{table}_{column}_valid"))


def upgrade() -> None:
    """Create every hub table and seed the change-feed counter."""
    hub_sequence = op.create_table(
        "hub_sequence",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_sequence")),
    )
    op.bulk_insert(hub_sequence, [{"id": 1, "value": 0}])

    op.create_table(
        "records",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("entity", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(128), nullable=False),
        sa.Column("data", _json(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_records")),
    )
    op.create_index(op.f("ix_records_entity_id"), "records", ["entity", "id"])
    op.create_index(op.f("ix_records_entity_seq"), "records", ["entity", "seq"])

    op.create_table(
        "identities",
        sa.Column("entity", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("value", sa.String(512), nullable=False),
        sa.Column("record_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("entity", "kind", "value", "record_id", name=op.f("pk_identities")),
        sqlite_with_rowid=False,
    )
    op.create_index(op.f("ix_identities_record_id"), "identities", ["record_id"])

    op.create_table(
        "changes",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("entity", sa.String(64), nullable=False),
        sa.Column("record_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("op", sa.String(16), nullable=False),
        sa.Column("at", _ts(), nullable=False),
        _one_of("changes", "op", "upsert", "delete"),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_changes")),
    )
    op.create_index(op.f("ix_changes_entity_seq"), "changes", ["entity", "seq"])

    op.create_table(
        "links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connector", sa.String(64), nullable=False),
        sa.Column("entity", sa.String(64), nullable=False),
        sa.Column("record_id", sa.String(64), nullable=False),
        sa.Column("external_id", sa.String(255), nullable=False),
        sa.Column("shadow", _json(), nullable=True),
        sa.Column("shadow_hash", sa.String(128), nullable=True),
        sa.Column("remote_modified_at", _ts(), nullable=True),
        sa.Column("last_seen_seq", sa.BigInteger(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_links")),
        sa.UniqueConstraint(
            "connector",
            "entity",
            "external_id",
            name=op.f("uq_links_connector_entity_external_id"),
        ),
        sa.UniqueConstraint(
            "connector", "entity", "record_id", name=op.f("uq_links_connector_entity_record_id")
        ),
    )
    op.create_index(
        op.f("ix_links_connector_entity_last_seen_seq"),
        "links",
        ["connector", "entity", "last_seen_seq"],
    )

    op.create_table(
        "cursors",
        sa.Column("job", sa.String(128), nullable=False),
        sa.Column("connector", sa.String(64), nullable=False),
        sa.Column("entity", sa.String(64), nullable=False),
        sa.Column("value", _json(), nullable=True),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("job", "connector", "entity", name=op.f("pk_cursors")),
    )

    op.create_table(
        "inbox_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("job", sa.String(128), nullable=False),
        sa.Column("connector", sa.String(64), nullable=False),
        sa.Column("entity", sa.String(64), nullable=False),
        sa.Column("record_id", sa.String(64), nullable=True),
        sa.Column("external_id", sa.String(255), nullable=True),
        sa.Column("fields", _json(), nullable=True),
        sa.Column("base", _json(), nullable=True),
        sa.Column("hub", _json(), nullable=True),
        sa.Column("remote", _json(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("resolution", _json(), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("resolved_at", _ts(), nullable=True),
        _one_of("inbox_items", "kind", "conflict", "ambiguous_match", "blocked_delete", "pending"),
        _one_of("inbox_items", "status", "open", "resolved", "dismissed"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_items")),
    )
    op.create_index(
        op.f("ix_inbox_items_connector_entity_record_id"),
        "inbox_items",
        ["connector", "entity", "record_id"],
    )
    op.create_index(op.f("ix_inbox_items_status_job"), "inbox_items", ["status", "job"])

    op.create_table(
        "runs",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("job", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", _ts(), nullable=False),
        sa.Column("finished_at", _ts(), nullable=True),
        sa.Column("counts", _json(), nullable=True),
        sa.Column("report", _json(), nullable=True),
        sa.Column("host", sa.String(255), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        _one_of("runs", "kind", "sync", "migrate", "dry_run"),
        _one_of("runs", "status", "running", "succeeded", "failed", "interrupted"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
    )
    op.create_index(op.f("ix_runs_job_started_at"), "runs", ["job", "started_at"])
    op.create_index(op.f("ix_runs_started_at"), "runs", ["started_at"])

    op.create_table(
        "rejects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("job", sa.String(128), nullable=False),
        sa.Column("connector", sa.String(64), nullable=False),
        sa.Column("entity", sa.String(64), nullable=False),
        sa.Column("external_id", sa.String(255), nullable=True),
        sa.Column("record_id", sa.String(64), nullable=True),
        sa.Column("field", sa.String(255), nullable=True),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("payload", _json(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("first_seen", _ts(), nullable=False),
        sa.Column("last_seen", _ts(), nullable=False),
        _one_of("rejects", "status", "open", "set_aside", "resolved"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_rejects_run_id_runs"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rejects")),
    )
    op.create_index(op.f("ix_rejects_job_status"), "rejects", ["job", "status"])
    op.create_index(op.f("ix_rejects_run_id"), "rejects", ["run_id"])

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job", sa.String(128), nullable=False),
        sa.Column("connector", sa.String(64), nullable=False),
        sa.Column("entity", sa.String(64), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("payload", _json(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("sent_at", _ts(), nullable=True),
        _one_of("outbox", "status", "pending", "sent"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_outbox_idempotency_key")),
    )
    op.create_index(
        op.f("ix_outbox_status_connector_entity"), "outbox", ["status", "connector", "entity"]
    )

    op.create_table(
        "leases",
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("holder", sa.String(255), nullable=False),
        sa.Column("acquired_at", _ts(), nullable=False),
        sa.Column("heartbeat_at", _ts(), nullable=False),
        sa.Column("expires_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )

    op.create_table(
        "webhook_inbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connector", sa.String(64), nullable=False),
        sa.Column("webhook_id", sa.String(255), nullable=False),
        sa.Column("received_at", _ts(), nullable=False),
        sa.Column("headers", _json(), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("processed_at", _ts(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        _one_of("webhook_inbox", "status", "pending", "processed", "failed"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_inbox")),
        sa.UniqueConstraint(
            "connector", "webhook_id", name=op.f("uq_webhook_inbox_connector_webhook_id")
        ),
    )
    op.create_index(
        op.f("ix_webhook_inbox_status_received_at"), "webhook_inbox", ["status", "received_at"]
    )


def downgrade() -> None:
    """Drop every hub table."""
    for table in (
        "webhook_inbox",
        "leases",
        "outbox",
        "rejects",
        "runs",
        "inbox_items",
        "cursors",
        "links",
        "changes",
        "identities",
        "records",
        "hub_sequence",
    ):
        op.drop_table(table)
