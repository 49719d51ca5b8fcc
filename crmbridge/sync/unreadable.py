"""Records a connector could not read, kept as rejects of the run that met them.

A malformed file row never reaches the mapping, so it cannot be rejected as
a mapped record is; the connector reports it on its page instead (see
:class:`crmbridge.connector.Unreadable`). Each is kept once as an open reject
(a later read that meets it again counts another attempt) and settled when a
pull of the entity that read pages no longer reports it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from crmbridge.connector import FILE_KEY, LINE_KEY, Unreadable
from crmbridge.store import NewReject, Transaction
from crmbridge.store.rows import Reject
from crmbridge.sync.context import RunContext

__all__ = [
    "READ",
    "UNREADABLE",
    "keep_unreadable",
    "pass_over_unreadable",
    "settle_unreadable",
]

READ = "read"
"""``payload["side"]`` of these rejects: they come from reading, and mapping cannot retry them."""

UNREADABLE = "UNREADABLE"
"""Their reject code."""


def _key(external_id: str | None, field: str | None, where: Mapping[str, Any]) -> str:
    return json.dumps([external_id, field, sorted(where.items())], default=str)


def _open(
    ctx: RunContext, tx: Transaction, entity: str, items: Sequence[Unreadable] | None = None
) -> dict[str, Reject]:
    """The open unreadable rejects (of ``items``' external ids, when given), by key."""
    found: dict[str, Reject] = {}
    about = None if items is None else {item.external_id for item in items}
    for r in tx.list_open_rejects(
        ctx.job.name, connector=ctx.job.connector, entity=entity, external_ids=about
    ):
        payload = r.payload or {}
        if payload.get("side") == READ:
            found[_key(r.external_id, r.field, payload.get("data") or {})] = r
    return found


def keep_unreadable(
    ctx: RunContext, tx: Transaction, entity: str, items: Sequence[Unreadable]
) -> None:
    """Count and keep what a page reports unreadable; one seen before counts another attempt."""
    seen = ctx.unreadable.setdefault(entity, set())
    if not items:
        return
    earlier = _open(ctx, tx, entity, items)
    fresh: list[NewReject] = []
    again: list[int] = []
    for item in items:
        key = _key(item.external_id, item.column, item.where)
        if key in seen:
            continue
        seen.add(key)
        ctx.counts.add(entity, "pulled")
        reject = ctx.reject(
            entity,
            "hub",
            UNREADABLE,
            item.reason,
            field=item.column,
            external_id=item.external_id,
            where=item.where,
            payload={"side": READ, "data": dict(item.where)},
        )
        old = earlier.get(key)
        if old is not None:
            again.append(old.id)
        else:
            fresh.append(reject)
    if again:
        tx.bump_reject_attempts(again)
    if fresh:
        tx.add_rejects(fresh)


def pass_over_unreadable(ctx: RunContext, entity: str, items: Sequence[Unreadable]) -> None:
    """Count what a page reports unreadable as passed over, for a pull that only links."""
    seen = ctx.unreadable.setdefault(entity, set())
    for item in items:
        key = _key(item.external_id, item.column, item.where)
        if key not in seen:
            seen.add(key)
            where = _where(item.where)
            which = f"{item.external_id} ({where})" if item.external_id else where
            ctx.pass_over(entity, which, item.reason)


def _where(where: Mapping[str, Any]) -> str:
    """Where a record is, as a person looks for it: ``file line n``."""
    if FILE_KEY in where:
        return f"{where[FILE_KEY]} line {where.get(LINE_KEY, '?')}"
    return ", ".join(f"{key} {value}" for key, value in where.items()) or "a record with no id"


def settle_unreadable(ctx: RunContext, tx: Transaction, entity: str) -> None:
    """After a pull that read pages: resolve the earlier unreadable records it did not meet."""
    seen = ctx.unreadable.get(entity)
    if seen is None:
        return
    gone = [r.id for key, r in _open(ctx, tx, entity).items() if key not in seen]
    if gone:
        tx.set_reject_status(gone, "resolved")
