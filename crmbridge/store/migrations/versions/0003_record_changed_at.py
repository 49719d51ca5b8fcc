"""When a record's content last changed at its source, for the ``newest`` conflict policy.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``records.changed_at`` (empty for records written before: their ``updated_at``)."""
    with op.batch_alter_table("records") as batch:
        batch.add_column(sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Drop ``records.changed_at``."""
    with op.batch_alter_table("records") as batch:
        batch.drop_column("changed_at")
