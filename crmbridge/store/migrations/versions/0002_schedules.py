"""Live schedules: when each running replica's scheduler fires each job next.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the ``schedules`` table."""
    op.create_table(
        "schedules",
        sa.Column("job", sa.String(128), nullable=False),
        sa.Column("holder", sa.String(255), nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("job", "holder", name=op.f("pk_schedules")),
    )


def downgrade() -> None:
    """Drop the ``schedules`` table."""
    op.drop_table("schedules")
