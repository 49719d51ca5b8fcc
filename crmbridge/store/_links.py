"""Links (a hub record's id and shadow in one connector) and sync cursors."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from crmbridge.store._base import (
    Scope,
    any_of,
    as_dict,
    chunks,
    columns_for,
    insert_rows,
    json_cell,
    lock_sequence,
    upsert_insert,
)
from crmbridge.store.rows import Link, LinkWrite
from crmbridge.store.tables import cursors, links, records

_LINK_COLUMNS = columns_for(links, Link)

_MARK_SEEN = (
    sa.update(links)
    .where(
        links.c.connector == sa.bindparam("b_connector"),
        links.c.entity == sa.bindparam("b_entity"),
        links.c.record_id == sa.bindparam("b_record_id"),
        links.c.last_seen_seq < sa.bindparam("b_seq"),
    )
    .values(last_seen_seq=sa.bindparam("b_seq"), updated_at=sa.bindparam("b_now"))
)


_LINK_INSERT = (
    "connector",
    "entity",
    "record_id",
    "external_id",
    "shadow",
    "shadow_hash",
    "remote_modified_at",
    "last_seen_seq",
    "failures",
    "updated_at",
)


class LinksMixin(Scope):
    """Links and cursors."""

    def get_links_by_external_ids(
        self, connector: str, entity: str, external_ids: Iterable[str]
    ) -> dict[str, Link]:
        """The links of ``connector``/``entity`` with these external ids, keyed by external id."""
        return {
            link.external_id: link
            for link in self._links_where(connector, entity, links.c.external_id, external_ids)
        }

    def get_links_by_record_ids(
        self, connector: str, entity: str, record_ids: Iterable[str]
    ) -> dict[str, Link]:
        """The links of ``connector``/``entity`` for these hub record ids, keyed by record id."""
        return {
            link.record_id: link
            for link in self._links_where(connector, entity, links.c.record_id, record_ids)
        }

    def _links_where(
        self, connector: str, entity: str, column: sa.Column[Any], values: Iterable[str]
    ) -> list[Link]:
        wanted = list(dict.fromkeys(values))
        found: list[Link] = []
        if not wanted:
            return found
        with self._read() as conn:
            query = sa.select(*_LINK_COLUMNS).where(
                links.c.connector == connector,
                links.c.entity == entity,
                any_of(conn, column, wanted),
            )
            found.extend(Link(*row) for row in conn.execute(query))
        return found

    def upsert_links(self, connector: str, entity: str, writes: Sequence[LinkWrite]) -> None:
        """Create or replace links, keyed by record id; resets their failure count.

        If two writes name the same record, the last wins. Linking an external
        id that another record already holds raises :class:`StoreError`.
        """
        if not writes:
            return
        now = self._now()
        by_record = {w.record_id: w for w in writes}
        rows = [
            {
                "connector": connector,
                "entity": entity,
                "record_id": w.record_id,
                "external_id": w.external_id,
                "shadow": as_dict(w.shadow),
                "shadow_hash": w.shadow_hash,
                "remote_modified_at": w.remote_modified_at,
                "last_seen_seq": w.last_seen_seq,
                "failures": 0,
                "updated_at": now,
            }
            for w in by_record.values()
        ]
        with self._write() as conn:
            stmt = upsert_insert(conn, links)
            new = stmt.excluded
            stmt = stmt.on_conflict_do_update(
                index_elements=[links.c.connector, links.c.entity, links.c.record_id],
                set_={
                    "external_id": new.external_id,
                    "shadow": new.shadow,
                    "shadow_hash": new.shadow_hash,
                    "remote_modified_at": sa.func.coalesce(
                        new.remote_modified_at, links.c.remote_modified_at
                    ),
                    "last_seen_seq": sa.case(
                        (new.last_seen_seq > links.c.last_seen_seq, new.last_seen_seq),
                        else_=links.c.last_seen_seq,
                    ),
                    "failures": 0,
                    "updated_at": new.updated_at,
                },
            )
            conn.execute(stmt, rows)

    def insert_links(self, connector: str, entity: str, writes: Sequence[LinkWrite]) -> None:
        """Create links for records that have none yet (a first sync's new records).

        Faster than :meth:`upsert_links`; a record or external id already
        linked raises :class:`StoreError` (a unique constraint).
        """
        if not writes:
            return
        now = self._now()
        rows = [
            (
                connector,
                entity,
                w.record_id,
                w.external_id,
                json_cell(w.shadow),
                w.shadow_hash,
                w.remote_modified_at,
                w.last_seen_seq,
                0,
                now,
            )
            for w in writes
        ]
        with self._write() as conn:
            insert_rows(conn, links, _LINK_INSERT, rows)

    def update_shadow(
        self,
        connector: str,
        entity: str,
        record_id: str,
        shadow: Mapping[str, Any] | None,
        shadow_hash: str | None,
    ) -> bool:
        """Replace one link's shadow; False if the record has no link to ``connector``."""
        stmt = (
            sa.update(links)
            .where(
                links.c.connector == connector,
                links.c.entity == entity,
                links.c.record_id == record_id,
            )
            .values(shadow=as_dict(shadow), shadow_hash=shadow_hash, updated_at=self._now())
        )
        with self._write() as conn:
            return conn.execute(stmt).rowcount == 1

    def mark_links_seen(self, connector: str, entity: str, seen: Mapping[str, int]) -> None:
        """Record that ``connector`` has the hub's changes up to ``seen[record_id]``.

        A link's ``last_seen_seq`` only ever moves forward.
        """
        if not seen:
            return
        now = self._now()
        params = [
            {
                "b_connector": connector,
                "b_entity": entity,
                "b_record_id": record_id,
                "b_seq": seq,
                "b_now": now,
            }
            for record_id, seq in seen.items()
        ]
        with self._write() as conn:
            conn.execute(_MARK_SEEN, params)

    def add_link_failures(self, connector: str, entity: str, record_ids: Sequence[str]) -> None:
        """Count one more failed push for each of these links."""
        with self._write() as conn:
            for part in chunks(record_ids):
                conn.execute(
                    sa.update(links)
                    .where(
                        links.c.connector == connector,
                        links.c.entity == entity,
                        links.c.record_id.in_(part),
                    )
                    .values(failures=links.c.failures + 1, updated_at=self._now())
                )

    def delete_links(self, connector: str, entity: str, record_ids: Sequence[str]) -> int:
        """Forget these records' links to ``connector``; returns how many were removed."""
        removed = 0
        with self._write() as conn:
            for part in chunks(record_ids):
                removed += conn.execute(
                    sa.delete(links).where(
                        links.c.connector == connector,
                        links.c.entity == entity,
                        links.c.record_id.in_(part),
                    )
                ).rowcount
        return removed

    def count_links(self, connector: str, entity: str) -> int:
        """How many records of ``entity`` are linked to ``connector``."""
        query = (
            sa.select(sa.func.count())
            .select_from(links)
            .where(links.c.connector == connector, links.c.entity == entity)
        )
        with self._read() as conn:
            return int(conn.execute(query).scalar_one())

    def linked_ids(self, connector: str, entity: str, *, at_most: int) -> dict[str, str] | None:
        """Every external id of ``connector``/``entity`` with its record's id; ``None`` when
        there are more than ``at_most``."""
        query = (
            sa.select(links.c.external_id, links.c.record_id)
            .where(links.c.connector == connector, links.c.entity == entity)
            .limit(at_most + 1)
        )
        with self._read() as conn:
            found = conn.execute(query).all()
        return None if len(found) > at_most else {ext: rid for ext, rid in found}

    def linked_page(
        self, connector: str, entity: str, *, after: str | None, limit: int
    ) -> list[tuple[str, str]]:
        """Up to ``limit`` ``(external id, record id)`` of ``connector``/``entity``, in
        external id order, from the first after ``after`` (``None``: from the start)."""
        query = sa.select(links.c.external_id, links.c.record_id).where(
            links.c.connector == connector, links.c.entity == entity
        )
        if after is not None:
            query = query.where(links.c.external_id > after)
        query = query.order_by(links.c.external_id).limit(limit)
        with self._read() as conn:
            return [(ext, rid) for ext, rid in conn.execute(query)]

    def has_unlinked(self, connector: str, entity: str) -> bool:
        """Whether some live record of ``entity`` has no link to ``connector`` yet."""
        linked = sa.exists().where(
            links.c.connector == connector,
            links.c.entity == entity,
            links.c.record_id == records.c.id,
        )
        query = (
            sa.select(records.c.id)
            .where(records.c.entity == entity, records.c.deleted.is_(False), ~linked)
            .limit(1)
        )
        with self._read() as conn:
            return conn.execute(query).first() is not None

    def get_cursor(self, job: str, connector: str, entity: str, *, lock: bool = False) -> Any:
        """The saved cursor of a job's connector and entity (any JSON value), or ``None``.

        ``lock``: in a transaction about to write it back, hold it until the
        transaction ends, so two writers never save over each other's changes.
        On PostgreSQL this is the hub's writer lock (the change-feed counter),
        which a unit of work holds from its start anyway (see
        :meth:`~crmbridge.store.Store.transaction`; a unit that did not queue
        takes it here), not a lock on the cursor's row: a job that never ran has
        no row to lock. SQLite has one writer at a time anyway.
        """
        query = sa.select(cursors.c.value).where(
            cursors.c.job == job, cursors.c.connector == connector, cursors.c.entity == entity
        )
        with self._read() as conn:
            if lock and conn.dialect.name == "postgresql":
                lock_sequence(conn)
            return conn.execute(query).scalar()

    def set_cursor(self, job: str, connector: str, entity: str, value: Any) -> None:
        """Save a cursor (any JSON value), replacing the previous one."""
        row = {
            "job": job,
            "connector": connector,
            "entity": entity,
            "value": value,
            "updated_at": self._now(),
        }
        with self._write() as conn:
            stmt = upsert_insert(conn, cursors)
            stmt = stmt.on_conflict_do_update(
                index_elements=[cursors.c.job, cursors.c.connector, cursors.c.entity],
                set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
            )
            conn.execute(stmt, row)
