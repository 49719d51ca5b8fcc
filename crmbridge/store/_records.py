"""Canonical records and the change feed."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crmbridge.model import identity_index_keys
from crmbridge.store._base import (
    Scope,
    any_of,
    as_dict,
    columns_for,
    insert_rows,
    json_cell,
    lock_sequence,
    take_seqs,
)
from crmbridge.store.rows import Change, Link, Record, RecordWrite, WriteResult
from crmbridge.store.tables import changes, identities, links, records

_RECORD_COLUMNS = columns_for(records, Record)
_CHANGE_COLUMNS = columns_for(changes, Change)
_LINK_COLUMNS = columns_for(links, Link)

_UPDATE_RECORD = (
    sa.update(records)
    .where(records.c.id == sa.bindparam("b_id"))
    .values(
        version=sa.bindparam("version"),
        content_hash=sa.bindparam("content_hash"),
        data=sa.bindparam("data"),
        deleted=sa.bindparam("deleted"),
        updated_at=sa.bindparam("updated_at"),
        seq=sa.bindparam("seq"),
        changed_at=sa.bindparam("changed_at"),
    )
)
_INSERT_COLUMNS = (
    "id",
    "entity",
    "created_at",
    "version",
    "content_hash",
    "data",
    "deleted",
    "updated_at",
    "seq",
    "changed_at",
)
_CHANGE_NAMES = ("seq", "entity", "record_id", "version", "op", "at")
_TOUCHED = ("b_id", "version", "updated_at", "seq")
_TOUCH_RECORD = (
    sa.update(records)
    .where(records.c.id == sa.bindparam("b_id"))
    .values(
        version=sa.bindparam("version"),
        updated_at=sa.bindparam("updated_at"),
        seq=sa.bindparam("seq"),
    )
)
_TOMBSTONE_RECORD = (
    sa.update(records)
    .where(records.c.id == sa.bindparam("b_id"))
    .values(
        version=sa.bindparam("version"),
        deleted=True,
        updated_at=sa.bindparam("updated_at"),
        seq=sa.bindparam("seq"),
    )
)


def new_record_id() -> str:
    """A fresh stable crmbridge id: a UUID version 7 (RFC 9562), as text.

    Its leading millisecond timestamp makes ids of new records sort after older
    ones, so bulk inserts append to the id indexes instead of touching pages
    all over them; a 100,000-record first sync writes far less to disk.
    """
    return new_record_ids(1)[0]


# a hex digit's two low bits under the RFC variant's two high bits: 10xx
_VARIANT = str.maketrans("0123456789abcdef", "89ab89ab89ab89ab")


def new_record_ids(count: int) -> list[str]:
    """``count`` fresh ids as :func:`new_record_id` makes them, for one batch at a time.

    After the 48-bit millisecond timestamp and the version nibble come 74
    random bits: three hex digits, the variant digit's two low bits, fifteen
    hex digits (the twentieth of each id's twenty random ones goes unused).
    """
    stamp = f"{time.time_ns() // 1_000_000 & 0xFFFF_FFFF_FFFF:012x}"
    head = f"{stamp[:8]}-{stamp[8:]}-7"
    noise = os.urandom(10 * count).hex()
    variants = noise[3::20].translate(_VARIANT)
    return [
        f"{head}{noise[at : at + 3]}-{variants[n]}{noise[at + 4 : at + 7]}-{noise[at + 7 : at + 19]}"
        for n, at in enumerate(range(0, 20 * count, 20))
    ]


class RecordsMixin(Scope):
    """Records and the change feed."""

    def get_records(self, entity: str, ids: Iterable[str]) -> dict[str, Record]:
        """The records of ``entity`` with these ids (tombstones included), keyed by id."""
        wanted = list(dict.fromkeys(ids))
        found: dict[str, Record] = {}
        if not wanted:
            return found
        with self._read() as conn:
            query = sa.select(*_RECORD_COLUMNS).where(
                records.c.entity == entity, any_of(conn, records.c.id, wanted)
            )
            for row in conn.execute(query):
                found[row.id] = Record(*row)
        return found

    def get_record(self, entity: str, record_id: str) -> Record | None:
        """One record (tombstones included), or ``None``."""
        return self.get_records(entity, [record_id]).get(record_id)

    def upsert_records(self, entity: str, writes: Sequence[RecordWrite]) -> list[WriteResult]:
        """Create or update many records of ``entity`` and append their changes to the feed.

        A write whose ``content_hash`` equals the live record's is skipped
        (``changed=False``); writing to a tombstone brings the record back.
        Results are in the order of ``writes``.
        """
        minted = iter(new_record_ids(sum(1 for w in writes if not w.id)))
        items = [(w.id or next(minted), w) for w in writes]
        _check_unique(record_id for record_id, _ in items)
        with self._write() as conn:
            return _apply_upserts(conn, entity, items, self._now())

    def touch_records(self, entity: str, ids: Sequence[str]) -> list[WriteResult]:
        """Give live records a new version and seq without changing their content.

        Used when a connector must be sent a record again (a sync decided the
        hub's value wins): the change feed then carries it to the push stage.
        Unknown ids and tombstones are left out.
        """
        _check_unique(ids)
        with self._write() as conn:
            existing = _existing(conn, entity, ids)
            live = [
                (record_id, RecordWrite({}, existing[record_id].content_hash, record_id))
                for record_id in ids
                if record_id in existing and not existing[record_id].deleted
            ]
            return _apply_upserts(conn, entity, live, self._now(), touch=True)

    def tombstone_records(self, entity: str, ids: Sequence[str]) -> list[WriteResult]:
        """Mark records deleted (their data is kept) and append ``delete`` changes.

        Unknown ids are left out of the result; an existing tombstone is unchanged.
        """
        _check_unique(ids)
        with self._write() as conn:
            return _apply_tombstones(conn, entity, ids, self._now())

    def iter_records(
        self, entity: str, *, include_deleted: bool = False, batch_size: int = 1000
    ) -> Iterator[Record]:
        """Every record of ``entity`` in id order, read ``batch_size`` at a time."""
        after = ""
        while True:
            query = (
                sa.select(*_RECORD_COLUMNS)
                .where(records.c.entity == entity, records.c.id > after)
                .order_by(records.c.id)
                .limit(batch_size)
            )
            if not include_deleted:
                query = query.where(records.c.deleted.is_(False))
            with self._read() as conn:
                page = [Record(*row) for row in conn.execute(query)]
            yield from page
            if len(page) < batch_size:
                return
            after = page[-1].id

    def count_records(self, entity: str, *, include_deleted: bool = False) -> int:
        """How many records ``entity`` has."""
        query = sa.select(sa.func.count()).select_from(records).where(records.c.entity == entity)
        if not include_deleted:
            query = query.where(records.c.deleted.is_(False))
        with self._read() as conn:
            return int(conn.execute(query).scalar_one())

    def changes_since(self, entity: str | None, after_seq: int, limit: int = 1000) -> list[Change]:
        """Up to ``limit`` changes with ``seq > after_seq`` in seq order (all entities if ``None``).

        Seqs are handed out in commit order, so a reader that remembers the last
        seq it saw never skips a change committed later.
        """
        query = (
            sa.select(*_CHANGE_COLUMNS)
            .where(changes.c.seq > after_seq)
            .order_by(changes.c.seq)
            .limit(limit)
        )
        if entity is not None:
            query = query.where(changes.c.entity == entity)
        with self._read() as conn:
            return [Change(*row) for row in conn.execute(query)]

    def max_seq(self) -> int:
        """The highest change-feed number handed out so far (0 on an empty hub)."""
        with self._read() as conn:
            return int(conn.execute(sa.select(sa.func.max(changes.c.seq))).scalar() or 0)

    def find_by_identity(
        self, entity: str, keys: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], set[str]]:
        """The live records of ``entity`` holding each identity key ``(kind, value)``.

        Keys come from :func:`crmbridge.model.identity_index_keys`; keys no
        record holds are left out.
        """
        wanted = list(dict.fromkeys(keys))
        found: dict[tuple[str, str], set[str]] = {}
        by_kind: dict[str, list[str]] = {}
        for kind, value in wanted:
            by_kind.setdefault(kind, []).append(value)
        with self._read() as conn:
            for kind, values in by_kind.items():
                query = sa.select(identities.c.value, identities.c.record_id).where(
                    identities.c.entity == entity,
                    identities.c.kind == kind,
                    any_of(conn, identities.c.value, values),
                )
                for value, record_id in conn.execute(query):
                    found.setdefault((kind, value), set()).add(record_id)
        return found

    def unpushed_records(
        self, connector: str, entity: str, after_seq: int = 0, limit: int = 1000
    ) -> list[tuple[Record, Link | None]]:
        """Records of ``entity`` changed after ``after_seq`` that ``connector`` has not seen yet.

        A record counts as unseen when it has no link to the connector or its
        link's ``last_seen_seq`` is below the record's ``seq``. Ordered by seq.
        """
        joined = records.outerjoin(
            links,
            sa.and_(
                links.c.record_id == records.c.id,
                links.c.connector == connector,
                links.c.entity == entity,
            ),
        )
        query = (
            sa.select(*_RECORD_COLUMNS, *_LINK_COLUMNS)
            .select_from(joined)
            .where(
                records.c.entity == entity,
                records.c.seq > after_seq,
                sa.or_(links.c.id.is_(None), links.c.last_seen_seq < records.c.seq),
            )
            .order_by(records.c.seq)
            .limit(limit)
        )
        split = len(_RECORD_COLUMNS)
        with self._read() as conn:
            return [
                (Record(*row[:split]), Link(*row[split:]) if row[split] is not None else None)
                for row in conn.execute(query)
            ]


def _check_unique(ids: Iterable[str]) -> None:
    seen: set[str] = set()
    for record_id in ids:
        if record_id in seen:
            raise ValueError(f"record {record_id} appears twice in one batch")
        seen.add(record_id)


def _existing(conn: Connection, entity: str, ids: Sequence[str]) -> dict[str, Any]:
    columns = (
        records.c.id,
        records.c.entity,
        records.c.version,
        records.c.content_hash,
        records.c.deleted,
        records.c.seq,
    )
    found: dict[str, Any] = {}
    if not ids:
        return found
    for row in conn.execute(sa.select(*columns).where(any_of(conn, records.c.id, ids))):
        if row.entity != entity:
            raise ValueError(f"record {row.id} is a {row.entity} record, not {entity}")
        found[row.id] = row
    return found


def _apply_upserts(
    conn: Connection,
    entity: str,
    items: Sequence[tuple[str, RecordWrite]],
    now: datetime,
    *,
    touch: bool = False,
) -> list[WriteResult]:
    if not items:
        return []
    lock_sequence(conn)
    # an id minted for this write cannot exist yet; only ids given by the caller are looked up
    existing = _existing(conn, entity, [record_id for record_id, w in items if w.id is not None])
    planned: list[tuple[str, RecordWrite, int, bool]] = []
    results: list[WriteResult | None] = []
    for record_id, write in items:
        old = existing.get(record_id)
        if (
            not touch
            and old is not None
            and not old.deleted
            and old.content_hash == write.content_hash
        ):
            results.append(WriteResult(record_id, old.version, old.seq, False, False))
            continue
        version = 1 if old is None else old.version + 1
        planned.append((record_id, write, version, old is None))
        results.append(None)
    if not planned:
        return [r for r in results if r is not None]

    first = take_seqs(conn, len(planned)) - len(planned) + 1
    inserts: list[tuple[Any, ...]] = []
    updates: list[dict[str, Any]] = []
    change_rows: list[tuple[Any, ...]] = []
    done: dict[str, WriteResult] = {}
    for seq, (record_id, write, version, created) in enumerate(planned, first):
        if created:
            # in _INSERT_COLUMNS order: a tuple per row, as a big first sync writes many
            inserts.append(
                (
                    record_id,
                    entity,
                    now,
                    version,
                    write.content_hash,
                    json_cell(write.data),
                    False,
                    now,
                    seq,
                    write.changed_at or now,
                )
            )
        else:
            updates.append(
                {
                    "b_id": record_id,
                    "version": version,
                    "content_hash": write.content_hash,
                    "data": as_dict(write.data),
                    "deleted": False,
                    "updated_at": now,
                    "seq": seq,
                    "changed_at": write.changed_at or now,
                }
            )
        change_rows.append((seq, entity, record_id, version, "upsert", now))
        done[record_id] = WriteResult(record_id, version, seq, created, True)
    if touch:
        conn.execute(_TOUCH_RECORD, [{k: u[k] for k in _TOUCHED} for u in updates])
        insert_rows(conn, changes, _CHANGE_NAMES, change_rows)
        return [done[record_id] for record_id, _ in items]
    if inserts:
        insert_rows(conn, records, _INSERT_COLUMNS, inserts)
    if updates:
        conn.execute(_UPDATE_RECORD, updates)
    insert_rows(conn, changes, _CHANGE_NAMES, change_rows)
    _reindex(
        conn,
        entity,
        [record_id for record_id, _, _, created in planned if not created],
        [(record_id, write) for record_id, write, _, _ in planned],
    )
    return [
        r if r is not None else done[record_id]
        for (record_id, _), r in zip(items, results, strict=True)
    ]


def _apply_tombstones(
    conn: Connection, entity: str, ids: Sequence[str], now: datetime
) -> list[WriteResult]:
    lock_sequence(conn)
    existing = _existing(conn, entity, ids)
    results: list[WriteResult] = []
    live = [existing[i] for i in ids if i in existing and not existing[i].deleted]
    first = take_seqs(conn, len(live)) - len(live) + 1 if live else 0
    updates: list[dict[str, Any]] = []
    change_rows: list[tuple[Any, ...]] = []
    done: dict[str, WriteResult] = {}
    for offset, old in enumerate(live):
        seq, version = first + offset, old.version + 1
        updates.append({"b_id": old.id, "version": version, "updated_at": now, "seq": seq})
        change_rows.append((seq, entity, old.id, version, "delete", now))
        done[old.id] = WriteResult(old.id, version, seq, False, True)
    if live:
        conn.execute(_TOMBSTONE_RECORD, updates)
        insert_rows(conn, changes, _CHANGE_NAMES, change_rows)
        _reindex(conn, entity, [old.id for old in live], [])
    for record_id in ids:
        if record_id in done:
            results.append(done[record_id])
        elif record_id in existing:
            old = existing[record_id]
            results.append(WriteResult(record_id, old.version, old.seq, False, False))
    return results


def _reindex(
    conn: Connection,
    entity: str,
    stale: Sequence[str],
    fresh: Sequence[tuple[str, RecordWrite]],
) -> None:
    """Replace the identity keys of ``stale`` records and add those of ``fresh`` writes."""
    if stale:
        conn.execute(sa.delete(identities).where(any_of(conn, identities.c.record_id, stale)))
    rows = [
        (entity, kind, value[:512], record_id)
        for record_id, write in fresh
        for kind, value in (
            identity_index_keys(entity, write.data)
            if write.index_keys is None
            else write.index_keys
        )
    ]
    insert_rows(conn, identities, ("entity", "kind", "value", "record_id"), rows)
