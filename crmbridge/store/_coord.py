"""Coordination between replicas (leases, live schedules) and the inbound webhook inbox."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from crmbridge.store._base import Scope, columns_for, upsert_insert
from crmbridge.store.rows import Lease, NewWebhook, Schedule, WebhookEvent
from crmbridge.store.tables import UTCDateTime, leases, schedules, webhook_inbox

_LEASE_COLUMNS = columns_for(leases, Lease)
_SCHEDULE_COLUMNS = columns_for(schedules, Schedule)
_WEBHOOK_COLUMNS = columns_for(webhook_inbox, WebhookEvent)


class CoordMixin(Scope):
    """Leases, live schedules and the webhook inbox."""

    # -- leases -----------------------------------------------------------------------------

    def try_acquire_lease(self, name: str, holder: str, ttl: timedelta) -> bool:
        """Take the lease ``name`` for ``ttl`` if it is free, expired or already ``holder``'s.

        Returns False, without waiting, while another holder's lease is live.
        """
        now = self._now()
        values = {"holder": holder, "heartbeat_at": now, "expires_at": now + ttl}
        with self._write() as conn:
            if conn.dialect.name == "postgresql":
                # SKIP LOCKED: a replica acquiring the same lease right now makes us
                # give up at once instead of queueing behind it.
                row = conn.execute(
                    sa.select(leases.c.holder, leases.c.expires_at)
                    .where(leases.c.name == name)
                    .with_for_update(skip_locked=True)
                ).first()
                if row is not None:
                    if row.holder != holder and row.expires_at > now:
                        return False
                    conn.execute(
                        sa.update(leases)
                        .where(leases.c.name == name)
                        .values(acquired_at=_keep_if_same(holder, now), **values)
                    )
                    return True
            else:
                taken = conn.execute(
                    sa.update(leases)
                    .where(
                        leases.c.name == name,
                        sa.or_(leases.c.holder == holder, leases.c.expires_at <= now),
                    )
                    .values(acquired_at=_keep_if_same(holder, now), **values)
                ).rowcount
                if taken:
                    return True
            # RETURNING, not rowcount: PostgreSQL reports no rowcount for a skipped insert.
            inserted = conn.execute(
                upsert_insert(conn, leases)
                .values(name=name, acquired_at=now, **values)
                .on_conflict_do_nothing(index_elements=[leases.c.name])
                .returning(leases.c.name)
            ).first()
            return inserted is not None

    def heartbeat_lease(self, name: str, holder: str, ttl: timedelta) -> bool:
        """Extend ``holder``'s lease by ``ttl`` from now; False if it is no longer theirs."""
        now = self._now()
        stmt = (
            sa.update(leases)
            .where(leases.c.name == name, leases.c.holder == holder)
            .values(heartbeat_at=now, expires_at=now + ttl)
        )
        with self._write() as conn:
            return conn.execute(stmt).rowcount == 1

    def release_lease(self, name: str, holder: str) -> bool:
        """Give up ``holder``'s lease; False if they did not hold it."""
        stmt = sa.delete(leases).where(leases.c.name == name, leases.c.holder == holder)
        with self._write() as conn:
            return conn.execute(stmt).rowcount == 1

    def get_lease(self, name: str) -> Lease | None:
        """The lease row (live or expired), or ``None``."""
        with self._read() as conn:
            row = conn.execute(sa.select(*_LEASE_COLUMNS).where(leases.c.name == name)).first()
        return None if row is None else Lease(*row)

    # -- live schedules ---------------------------------------------------------------------

    def publish_schedules(self, holder: str, next_runs: Mapping[str, datetime | None]) -> None:
        """Say when ``holder``'s scheduler fires each job next (``None``: never again).

        Marks the rows seen now; ``holder``'s rows for jobs not in ``next_runs`` go.
        """
        now = self._now()
        with self._write() as conn:
            conn.execute(
                sa.delete(schedules).where(
                    schedules.c.holder == holder, schedules.c.job.not_in(list(next_runs))
                )
            )
            for job, at in next_runs.items():
                stmt = upsert_insert(conn, schedules).values(
                    job=job, holder=holder, next_run_at=at, seen_at=now
                )
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=[schedules.c.job, schedules.c.holder],
                        set_={"next_run_at": stmt.excluded.next_run_at, "seen_at": now},
                    )
                )

    def list_schedules(self, *, seen_since: datetime | None = None) -> list[Schedule]:
        """Every replica's published next runs (those seen since ``seen_since``), by job."""
        query = sa.select(*_SCHEDULE_COLUMNS).order_by(schedules.c.job, schedules.c.holder)
        if seen_since is not None:
            query = query.where(schedules.c.seen_at >= seen_since)
        with self._read() as conn:
            return [Schedule(*row) for row in conn.execute(query)]

    def withdraw_schedules(
        self, *, holder: str | None = None, seen_before: datetime | None = None
    ) -> int:
        """Delete ``holder``'s published schedules, or those not seen since ``seen_before``."""
        if holder is None and seen_before is None:
            raise ValueError("withdraw_schedules needs a holder or seen_before")
        stmt = sa.delete(schedules)
        if holder is not None:
            stmt = stmt.where(schedules.c.holder == holder)
        if seen_before is not None:
            stmt = stmt.where(schedules.c.seen_at < seen_before)
        with self._write() as conn:
            return conn.execute(stmt).rowcount

    # -- webhook inbox ----------------------------------------------------------------------

    def add_webhook(
        self,
        connector: str,
        webhook_id: str,
        body: bytes | str,
        headers: Mapping[str, str] | None = None,
    ) -> bool:
        """Store an inbound webhook for the runner; False if this id was already received."""
        raw = body.encode() if isinstance(body, str) else bytes(body)
        event = NewWebhook(connector, webhook_id, raw, None if headers is None else dict(headers))
        return self.add_webhooks([event])[0]

    def add_webhooks(self, events: Sequence[NewWebhook]) -> list[bool]:
        """Store inbound webhooks in one transaction; for each, False if its id was already received.

        Ids are unique per connector: of two equal ones in ``events`` the first
        is stored and the second is a duplicate. Either every new event is
        stored or, if the transaction fails, none is.
        """
        if not events:
            return []
        now = self._now()
        rows: list[dict[str, Any]] = []
        first: dict[tuple[str, str], int] = {}
        for index, event in enumerate(events):
            key = (event.connector, event.webhook_id)
            if key in first:
                continue
            first[key] = index
            rows.append(
                {
                    "connector": event.connector,
                    "webhook_id": event.webhook_id,
                    "received_at": now,
                    "headers": event.headers,
                    "body": event.body,
                    "status": "processed" if event.processed else "pending",
                    "processed_at": now if event.processed else None,
                    "error": None,
                }
            )
        with self._write() as conn:
            # one multi-row INSERT ... RETURNING: a skipped (duplicate) row returns nothing
            stored = {
                (row.connector, row.webhook_id)
                for row in conn.execute(_insert_webhooks(conn.dialect.name), rows)
            }
        return [
            first[(e.connector, e.webhook_id)] == index and (e.connector, e.webhook_id) in stored
            for index, e in enumerate(events)
        ]

    def list_pending_webhooks(
        self, connector: str | None = None, limit: int = 100
    ) -> list[WebhookEvent]:
        """Webhooks not yet processed, in the order they arrived."""
        query = (
            sa.select(*_WEBHOOK_COLUMNS)
            .where(webhook_inbox.c.status == "pending")
            .order_by(webhook_inbox.c.id)
            .limit(limit)
        )
        if connector is not None:
            query = query.where(webhook_inbox.c.connector == connector)
        with self._read() as conn:
            return [WebhookEvent(*row) for row in conn.execute(query)]

    def mark_webhook_processed(self, event_id: int, *, error: str | None = None) -> None:
        """Mark a webhook ``processed``, or ``failed`` with ``error``."""
        stmt = (
            sa.update(webhook_inbox)
            .where(webhook_inbox.c.id == event_id)
            .values(
                status="failed" if error else "processed",
                processed_at=self._now(),
                error=error,
            )
        )
        with self._write() as conn:
            conn.execute(stmt)


@functools.cache
def _insert_webhooks(dialect: str) -> Any:
    # built once per backend, so each call skips building and hashing the statement again
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(webhook_inbox)
        .on_conflict_do_nothing(
            index_elements=[webhook_inbox.c.connector, webhook_inbox.c.webhook_id]
        )
        .returning(webhook_inbox.c.connector, webhook_inbox.c.webhook_id)
    )


def _keep_if_same(holder: str, now: datetime) -> sa.ColumnElement[datetime]:
    # A holder re-acquiring its own lease keeps its original acquisition time.
    return sa.case(
        (leases.c.holder == holder, leases.c.acquired_at),
        else_=sa.literal(now, UTCDateTime()),
    )
