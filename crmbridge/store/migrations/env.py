"""Alembic environment for the hub store; run through :func:`crmbridge.store.upgrade`."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from crmbridge.store.tables import metadata

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError(
        "crmbridge migrations run through `crmbridge db upgrade` "
        "(crmbridge.store.upgrade), not the alembic command line"
    )

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
