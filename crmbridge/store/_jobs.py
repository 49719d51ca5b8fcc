"""What jobs leave behind: runs, per-record rejects, the conflict inbox and the outbox."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crmbridge.errors import StoreError
from crmbridge.store._base import Scope, any_of, as_dict, chunks, columns_for, upsert_insert
from crmbridge.store.rows import (
    InboxItem,
    InboxKind,
    NewInboxItem,
    NewReject,
    OutboxItem,
    Reject,
    RejectStatus,
    Run,
    RunKind,
    RunStatus,
)
from crmbridge.store.tables import inbox_items, outbox, rejects, runs

_RUN_COLUMNS = columns_for(runs, Run)
_REJECT_COLUMNS = columns_for(rejects, Reject)
_INBOX_COLUMNS = columns_for(inbox_items, InboxItem)
_OUTBOX_COLUMNS = columns_for(outbox, OutboxItem)


class JobsMixin(Scope):
    """Runs, rejects, inbox items and outbox batches."""

    # -- runs -------------------------------------------------------------------------------

    def start_run(
        self,
        job: str,
        kind: RunKind,
        *,
        run_id: str | None = None,
        host: str | None = None,
        pid: int | None = None,
    ) -> Run:
        """Record that a run of ``job`` has started; returns it with status ``running``."""
        run = Run(
            id=run_id or uuid.uuid4().hex,
            job=job,
            kind=kind,
            status="running",
            started_at=self._now(),
            finished_at=None,
            counts=None,
            report=None,
            host=host,
            pid=pid,
        )
        with self._write() as conn:
            conn.execute(
                sa.insert(runs).values({c.name: getattr(run, c.name) for c in _RUN_COLUMNS})
            )
        return run

    def finish_run(
        self,
        run_id: str,
        status: RunStatus,
        *,
        counts: Mapping[str, Any] | None = None,
        report: Mapping[str, Any] | None = None,
    ) -> Run:
        """Record how a run ended, with its counts and report; returns the updated run."""
        stmt = (
            sa.update(runs)
            .where(runs.c.id == run_id)
            .values(
                status=status,
                finished_at=self._now(),
                counts=as_dict(counts),
                report=as_dict(report),
            )
            .returning(*_RUN_COLUMNS)
        )
        with self._write() as conn:
            row = conn.execute(stmt).first()
        if row is None:
            raise StoreError(f"there is no run {run_id!r} to finish")
        return Run(*row)

    def get_run(self, run_id: str) -> Run | None:
        """One run, or ``None``."""
        with self._read() as conn:
            row = conn.execute(sa.select(*_RUN_COLUMNS).where(runs.c.id == run_id)).first()
        return None if row is None else Run(*row)

    def list_runs(self, job: str | None = None, limit: int = 20) -> list[Run]:
        """The most recent runs (of ``job``, or of every job), newest first."""
        query = sa.select(*_RUN_COLUMNS).order_by(runs.c.started_at.desc(), runs.c.id).limit(limit)
        if job is not None:
            query = query.where(runs.c.job == job)
        with self._read() as conn:
            return [Run(*row) for row in conn.execute(query)]

    def last_run(
        self, job: str, *, status: RunStatus | None = None, kind: RunKind | None = None
    ) -> Run | None:
        """The latest run of ``job`` (with ``status`` and of ``kind``, if given), however many
        runs came after it; ``None`` if there is none."""
        query = (
            sa.select(*_RUN_COLUMNS)
            .where(runs.c.job == job)
            .order_by(runs.c.started_at.desc(), runs.c.id)
            .limit(1)
        )
        if status is not None:
            query = query.where(runs.c.status == status)
        if kind is not None:
            query = query.where(runs.c.kind == kind)
        with self._read() as conn:
            row = conn.execute(query).first()
        return None if row is None else Run(*row)

    def running_pids(self, host: str) -> set[int]:
        """The pids of ``host``'s processes with a run still ``running``."""
        query = sa.select(runs.c.pid).where(
            runs.c.status == "running", runs.c.host == host, runs.c.pid.is_not(None)
        )
        with self._read() as conn:
            return {int(pid) for (pid,) in conn.execute(query)}

    def interrupt_runs(
        self,
        host: str | None = None,
        *,
        alive: Collection[int] = (),
        job: str | None = None,
        pid: int | None = None,
        started_since: datetime | None = None,
    ) -> int:
        """Mark runs still ``running`` (on ``host``, or anywhere) as ``interrupted``.

        Call at start-up: a run left ``running`` by a process that died never
        finished. Runs of the processes ``alive`` (pids on ``host``: another
        replica on the same machine) are left alone. ``job`` and ``pid``
        narrow it to one job's runs by one process (a replica whose lease
        expired), ``started_since`` to runs started then or later.
        """
        stmt = (
            sa.update(runs)
            .where(runs.c.status == "running")
            .values(status="interrupted", finished_at=self._now())
        )
        if host is not None:
            stmt = stmt.where(runs.c.host == host)
        if job is not None:
            stmt = stmt.where(runs.c.job == job)
        if pid is not None:
            stmt = stmt.where(runs.c.pid == pid)
        if started_since is not None:
            stmt = stmt.where(runs.c.started_at >= started_since)
        if alive:
            stmt = stmt.where(sa.or_(runs.c.pid.is_(None), runs.c.pid.not_in(list(alive))))
        with self._write() as conn:
            return conn.execute(stmt).rowcount

    def prune_runs(self, older_than_days: float) -> int:
        """Delete finished runs started more than ``older_than_days`` ago; returns how many.

        Their resolved rejects go with them; open or set-aside rejects stay
        (detached from the run) until someone deals with them.
        """
        cutoff = self._now() - timedelta(days=older_than_days)
        old = sa.select(runs.c.id).where(runs.c.started_at < cutoff, runs.c.status != "running")
        with self._write() as conn:
            conn.execute(
                sa.delete(rejects).where(rejects.c.run_id.in_(old), rejects.c.status == "resolved")
            )
            return conn.execute(sa.delete(runs).where(runs.c.id.in_(old))).rowcount

    # -- rejects ----------------------------------------------------------------------------

    def add_rejects(self, items: Sequence[NewReject]) -> int:
        """Record rejected records (status ``open``, one attempt); returns how many."""
        if not items:
            return 0
        now = self._now()
        rows = [
            {
                "run_id": r.run_id,
                "job": r.job,
                "connector": r.connector,
                "entity": r.entity,
                "external_id": r.external_id,
                "record_id": r.record_id,
                "field": r.field,
                "code": r.code,
                "reason": r.reason,
                "payload": as_dict(r.payload),
                "attempts": 1,
                "status": "open",
                "first_seen": now,
                "last_seen": now,
            }
            for r in items
        ]
        with self._write() as conn:
            conn.execute(sa.insert(rejects), rows)
        return len(rows)

    def list_rejects(self, run_id: str) -> list[Reject]:
        """The rejects recorded by one run, oldest first."""
        return self._rejects_where(rejects.c.run_id == run_id)

    def list_rejects_met(self, run: Run) -> list[Reject]:
        """The rejects ``run`` recorded, and those of its job it met again while it ran.

        A reject met again keeps the id of the run that recorded it first, so
        a later run finds its rejects by when they were last seen; a
        migration's, which its legs recorded, too. Oldest first.
        """
        seen = rejects.c.last_seen >= run.started_at
        if run.finished_at is not None:
            seen = sa.and_(seen, rejects.c.last_seen <= run.finished_at)
        return self._rejects_where(
            rejects.c.job == run.job, sa.or_(rejects.c.run_id == run.id, seen)
        )

    def list_open_rejects(
        self,
        job: str,
        *,
        connector: str | None = None,
        entity: str | None = None,
        external_ids: Collection[str | None] | None = None,
        record_ids: Collection[str] | None = None,
    ) -> list[Reject]:
        """A job's rejects still ``open`` (not set aside, not resolved), oldest first.

        ``external_ids`` (``None`` among them: rejects with no external id) and
        ``record_ids`` keep only the rejects of those records, so a run asking
        about one page does not read every reject of a big import each time.
        """
        conditions = [rejects.c.job == job, rejects.c.status == "open"]
        if connector is not None:
            conditions.append(rejects.c.connector == connector)
        if entity is not None:
            conditions.append(rejects.c.entity == entity)
        return self._rejects_where(*conditions, external_ids=external_ids, record_ids=record_ids)

    def list_rejects_seen(
        self, job: str, connector: str, entity: str, since: datetime
    ) -> list[Reject]:
        """A job's rejects of ``connector``/``entity`` met at or after ``since`` and not resolved.

        Those still ``open`` and those set aside by then: what a run that started
        at ``since`` rejected, whichever run rejected them first. Oldest first.
        """
        return self._rejects_where(
            rejects.c.job == job,
            rejects.c.connector == connector,
            rejects.c.entity == entity,
            rejects.c.status.in_(("open", "set_aside")),
            rejects.c.last_seen >= since,
        )

    def _rejects_where(
        self,
        *conditions: sa.ColumnElement[bool],
        external_ids: Collection[str | None] | None = None,
        record_ids: Collection[str] | None = None,
    ) -> list[Reject]:
        with self._read() as conn:
            if external_ids is not None or record_ids is not None:
                wanted = _of_records(conn, rejects, external_ids, record_ids)
                if wanted is None or not _any_row(conn, rejects, *conditions):
                    return []
                conditions = (*conditions, wanted)
            query = sa.select(*_REJECT_COLUMNS).where(*conditions).order_by(rejects.c.id)
            return [Reject(*row) for row in conn.execute(query)]

    def bump_reject_attempts(self, ids: Sequence[int]) -> None:
        """Count one more failed attempt for these rejects and note when it was."""
        now = self._now()
        with self._write() as conn:
            for part in chunks(ids):
                conn.execute(
                    sa.update(rejects)
                    .where(rejects.c.id.in_(part))
                    .values(attempts=rejects.c.attempts + 1, last_seen=now)
                )

    def refresh_rejects(self, items: Sequence[tuple[int, NewReject]]) -> None:
        """Replace what these rejects say of their record (reason, field, code, the payload
        a later run retries) with a newer rejection of the same record; attempts stay."""
        if not items:
            return
        with self._write() as conn:
            conn.execute(
                sa.update(rejects)
                .where(rejects.c.id == sa.bindparam("b_id"))
                .values(
                    code=sa.bindparam("b_code"),
                    reason=sa.bindparam("b_reason"),
                    field=sa.bindparam("b_field"),
                    payload=sa.bindparam("b_payload", type_=rejects.c.payload.type),
                ),
                [
                    {
                        "b_id": reject_id,
                        "b_code": new.code,
                        "b_reason": new.reason,
                        "b_field": new.field,
                        "b_payload": as_dict(new.payload),
                    }
                    for reject_id, new in items
                ],
            )

    def touch_rejects(self, ids: Sequence[int]) -> None:
        """Note that a run met these rejects again without trying them again (their
        source was not read: it has not changed), so they count among the run's."""
        now = self._now()
        with self._write() as conn:
            for part in chunks(ids):
                conn.execute(sa.update(rejects).where(rejects.c.id.in_(part)).values(last_seen=now))

    def set_reject_status(self, ids: Sequence[int], status: RejectStatus) -> None:
        """Set aside, resolve or reopen these rejects."""
        with self._write() as conn:
            for part in chunks(ids):
                conn.execute(sa.update(rejects).where(rejects.c.id.in_(part)).values(status=status))

    # -- conflict inbox ---------------------------------------------------------------------

    def add_inbox_item(self, item: NewInboxItem) -> InboxItem:
        """Park a decision for a person; returns the stored, ``open`` item."""
        values = {
            "kind": item.kind,
            "job": item.job,
            "connector": item.connector,
            "entity": item.entity,
            "record_id": item.record_id,
            "external_id": item.external_id,
            "fields": None if item.fields is None else list(item.fields),
            "base": as_dict(item.base),
            "hub": as_dict(item.hub),
            "remote": as_dict(item.remote),
            "status": "open",
            "resolution": None,
            "created_at": self._now(),
            "resolved_at": None,
        }
        with self._write() as conn:
            row = conn.execute(sa.insert(inbox_items).values(values).returning(*_INBOX_COLUMNS))
            return InboxItem(*row.one())

    def list_open_inbox(
        self,
        job: str | None = None,
        *,
        kind: InboxKind | None = None,
        limit: int = 100,
        connector: str | None = None,
        entity: str | None = None,
        external_ids: Collection[str] | None = None,
        record_ids: Collection[str] | None = None,
    ) -> list[InboxItem]:
        """Open inbox items (of ``job``, ``kind``, ``connector`` and ``entity`` if given), oldest first.

        ``external_ids`` and ``record_ids`` keep only the items about those records.
        """
        query = (
            sa.select(*_INBOX_COLUMNS)
            .where(inbox_items.c.status == "open")
            .order_by(inbox_items.c.id)
            .limit(limit)
        )
        if job is not None:
            query = query.where(inbox_items.c.job == job)
        if kind is not None:
            query = query.where(inbox_items.c.kind == kind)
        if connector is not None:
            query = query.where(inbox_items.c.connector == connector)
        if entity is not None:
            query = query.where(inbox_items.c.entity == entity)
        with self._read() as conn:
            if external_ids is not None or record_ids is not None:
                wanted = _of_records(conn, inbox_items, external_ids, record_ids)
                if wanted is None or not _any_row(conn, inbox_items, query.whereclause):
                    return []
                query = query.where(wanted)
            return [InboxItem(*row) for row in conn.execute(query)]

    def get_inbox_item(self, item_id: int) -> InboxItem | None:
        """One inbox item, or ``None``."""
        query = sa.select(*_INBOX_COLUMNS).where(inbox_items.c.id == item_id)
        with self._read() as conn:
            row = conn.execute(query).first()
        return None if row is None else InboxItem(*row)

    def resolve_inbox_item(
        self,
        item_id: int,
        resolution: Mapping[str, Any] | None,
        *,
        dismiss: bool = False,
    ) -> bool:
        """Close an open item as resolved (or dismissed); False if it was not open."""
        stmt = (
            sa.update(inbox_items)
            .where(inbox_items.c.id == item_id, inbox_items.c.status == "open")
            .values(
                status="dismissed" if dismiss else "resolved",
                resolution=as_dict(resolution),
                resolved_at=self._now(),
            )
        )
        with self._write() as conn:
            return conn.execute(stmt).rowcount == 1

    # -- outbox -----------------------------------------------------------------------------

    def add_outbox(
        self, job: str, connector: str, entity: str, idempotency_key: str, payload: Any
    ) -> OutboxItem:
        """Record a batch before sending it; with a key seen before, returns the earlier item.

        Check the returned item's ``status``: ``sent`` means the batch already went.
        """
        row = {
            "job": job,
            "connector": connector,
            "entity": entity,
            "idempotency_key": idempotency_key,
            "payload": payload,
            "status": "pending",
            "created_at": self._now(),
            "sent_at": None,
        }
        with self._write() as conn:
            stmt = upsert_insert(conn, outbox).on_conflict_do_nothing(
                index_elements=[outbox.c.idempotency_key]
            )
            conn.execute(stmt, row)
            query = sa.select(*_OUTBOX_COLUMNS).where(outbox.c.idempotency_key == idempotency_key)
            return OutboxItem(*conn.execute(query).one())

    def list_pending_outbox(
        self, *, job: str | None = None, connector: str | None = None, entity: str | None = None
    ) -> list[OutboxItem]:
        """Batches recorded but not yet marked sent, oldest first."""
        query = (
            sa.select(*_OUTBOX_COLUMNS).where(outbox.c.status == "pending").order_by(outbox.c.id)
        )
        filters = ((outbox.c.job, job), (outbox.c.connector, connector), (outbox.c.entity, entity))
        for column, value in filters:
            if value is not None:
                query = query.where(column == value)
        with self._read() as conn:
            return [OutboxItem(*row) for row in conn.execute(query)]

    def mark_outbox_sent(self, item_id: int) -> bool:
        """Mark a batch sent; False if it was not pending."""
        stmt = (
            sa.update(outbox)
            .where(outbox.c.id == item_id, outbox.c.status == "pending")
            .values(status="sent", sent_at=self._now())
        )
        with self._write() as conn:
            return conn.execute(stmt).rowcount == 1

    # -- counts -----------------------------------------------------------------------------

    def count_by_job(self, what: CountedRows) -> dict[str, int]:
        """How many rows each job has of ``what``: ``open_inbox`` items, ``open_rejects``
        or ``pending_outbox`` batches (counted by the database; jobs with none left out)."""
        table, status = _COUNTED[what]
        query = (
            sa.select(table.c.job, sa.func.count())
            .where(table.c.status == status)
            .group_by(table.c.job)
        )
        with self._read() as conn:
            return {job: int(n) for job, n in conn.execute(query)}


CountedRows = Literal["open_inbox", "open_rejects", "pending_outbox"]
"""What :meth:`JobsMixin.count_by_job` counts."""

_COUNTED: dict[str, tuple[sa.Table, str]] = {
    "open_inbox": (inbox_items, "open"),
    "open_rejects": (rejects, "open"),
    "pending_outbox": (outbox, "pending"),
}


def _any_row(conn: Connection, table: sa.Table, *conditions: sa.ColumnElement[bool] | None) -> bool:
    """Whether ``table`` has a row meeting ``conditions``: one cheap indexed read that spares
    a page's long ``IN`` list when, as in most imports, a job has no open rejects or items."""
    where = [c for c in conditions if c is not None]
    found = conn.execute(sa.select(sa.literal(1)).select_from(table).where(*where).limit(1))
    return found.first() is not None


def _of_records(
    conn: Connection,
    table: sa.Table,
    external_ids: Collection[str | None] | None,
    record_ids: Collection[str] | None,
) -> sa.ColumnElement[bool] | None:
    """Rows of ``table`` about these external ids or record ids; ``None`` when none can match."""
    either: list[sa.ColumnElement[bool]] = []
    named = [ext for ext in external_ids or () if ext is not None]
    if named:
        either.append(any_of(conn, table.c.external_id, named))
    if external_ids is not None and None in external_ids:
        either.append(table.c.external_id.is_(None))
    if record_ids:
        either.append(any_of(conn, table.c.record_id, list(record_ids)))
    return sa.or_(*either) if either else None
