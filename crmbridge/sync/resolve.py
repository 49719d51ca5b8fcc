"""Settling inbox items by hand: conflicts, ambiguous matches and blocked deletes.

A resolution changes the hub (and the links) now; what it means for the
remote is sent by the next run of the job, through the usual push stage:

- a **conflict**: ``take="hub"`` keeps the hub's values and pushes them;
  ``take="remote"`` writes the remote's values into the hub; ``values``
  writes chosen values into the hub and pushes them;
- an **ambiguous match**: ``take="remote"`` creates a new hub record from the
  remote one; ``link=ID`` ties the remote record to hub record ``ID`` (the
  next run fetches it again and merges it);
- a **blocked delete**: ``take="remote"`` applies the delete the remote asked
  for (or, for a hub delete, sends it); ``take="hub"`` keeps the hub's state
  and sends it to the remote again.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from crmbridge.errors import CrmBridgeError
from crmbridge.model import content_hash
from crmbridge.store import LinkWrite, Store, Transaction
from crmbridge.store.rows import InboxItem, Record, RecordWrite
from crmbridge.sync.ambiguity import partners, queue
from crmbridge.sync.values import flatten, validated_content
from crmbridge.sync.workflow import step_through_workflow

__all__ = ["ResolveError", "queue_refetch", "queue_resend", "resolve_item"]


class ResolveError(CrmBridgeError):
    """The resolution asked for does not fit the item (wrong choice, unknown record, closed item)."""


def queue_refetch(
    tx: Transaction, job: str, connector: str, entity: str, external_ids: list[str]
) -> None:
    """Ask the next run to fetch these remote records again and merge them."""
    _queue(tx, job, connector, entity, "refetch", external_ids)


def queue_resend(
    tx: Transaction, job: str, connector: str, entity: str, record_ids: list[str]
) -> None:
    """Ask the next run to send these hub records to the remote again, whatever their seq."""
    _queue(tx, job, connector, entity, "resend", record_ids)


def _queue(
    tx: Transaction, job: str, connector: str, entity: str, key: str, ids: list[str]
) -> None:
    value = tx.get_cursor(job, connector, entity, lock=True)
    state = dict(value) if isinstance(value, dict) else {}
    queue(state, key, ids)
    tx.set_cursor(job, connector, entity, state)


def resolve_item(
    store: Store,
    item_id: int,
    *,
    take: str | None = None,
    values: Mapping[str, Any] | None = None,
    link: str | None = None,
    deletes: str = "propagate",
    phone_region: str | None = None,
) -> InboxItem:
    """Settle one open inbox item; returns it as resolved. Raises :class:`ResolveError`."""
    with store.transaction() as tx:
        item = tx.get_inbox_item(item_id)
        if item is None:
            raise ResolveError(
                f"no inbox item {item_id}; `crmbridge conflicts list` shows the open ones"
            )
        if item.status != "open":
            raise ResolveError(f"inbox item {item_id} is already {item.status}")
        if item.kind == "conflict":
            resolution = _conflict(tx, item, take, values, phone_region)
        elif item.kind == "ambiguous_match":
            resolution = _ambiguous(tx, item, take, link, phone_region)
        elif item.kind == "blocked_delete":
            resolution = _blocked_delete(tx, item, take, deletes)
        else:
            raise ResolveError(f"inbox item {item_id} is a {item.kind} item and settles by itself")
        tx.resolve_inbox_item(item_id, resolution)
        resolved = tx.get_inbox_item(item_id)
    assert resolved is not None
    return resolved


def _conflict(
    tx: Transaction,
    item: InboxItem,
    take: str | None,
    values: Mapping[str, Any] | None,
    phone_region: str | None,
) -> dict[str, Any]:
    if (take is None) == (values is None):
        raise ResolveError("say --take hub, --take remote, or --value FIELD=JSON (one of them)")
    fields = item.fields or []
    if values is not None:
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ResolveError(
                f"{', '.join(unknown)} not in conflict; the conflicting fields are {', '.join(fields)}"
            )
    record_id = str(item.record_id)
    record = tx.get_record(item.entity, record_id)
    if record is None or record.deleted:
        raise ResolveError(f"hub record {record_id} no longer exists")
    links = tx.get_links_by_record_ids(item.connector, item.entity, [record_id])
    current = links.get(record_id)
    shadow = dict(current.shadow or {}) if current else {}
    remote = dict(item.remote or {})
    if take == "hub":
        shadow.update({f: remote.get(f) for f in fields})
        chosen = {f: (item.hub or {}).get(f) for f in fields}
    elif take == "remote":
        chosen = {f: remote.get(f) for f in fields}
        shadow.update(chosen)
        _write_fields(tx, item, record, chosen, phone_region)
    elif take is None and values is not None:
        chosen = dict(values)
        shadow.update({f: remote.get(f) for f in chosen})
        _write_fields(tx, item, record, chosen, phone_region)
    else:
        raise ResolveError(f"--take must be hub or remote, not {take!r}")
    if current is not None:
        tx.update_shadow(item.connector, item.entity, record_id, shadow, content_hash(shadow))
    queue_resend(tx, item.job, item.connector, item.entity, [record_id])
    return {"take": take, "values": chosen}


def _write_fields(
    tx: Transaction,
    item: InboxItem,
    record: Record,
    chosen: Mapping[str, Any],
    phone_region: str | None,
) -> None:
    try:
        merged = step_through_workflow(
            item.entity,
            record,
            {**flatten(record.data), **chosen},
            where=f"{item.connector} (a conflict settled by hand)",
            at=datetime.now(UTC),
        )
        content, digest = validated_content(item.entity, merged, phone_region=phone_region)
    except CrmBridgeError as exc:
        raise ResolveError(f"that value does not fit: {exc}") from None
    tx.upsert_records(item.entity, [RecordWrite(content, digest, record.id)])


def _ambiguous(
    tx: Transaction, item: InboxItem, take: str | None, link: str | None, phone_region: str | None
) -> dict[str, Any]:
    external_id = str(item.external_id)
    remote = {k: v for k, v in (item.remote or {}).items() if not k.startswith("_")}
    if link is not None:
        target = tx.get_record(item.entity, link)
        if target is None or target.deleted:
            raise ResolveError(f"no live {item.entity} record {link} in the hub")
        taken = tx.get_links_by_record_ids(item.connector, item.entity, [link])
        if link in taken and taken[link].external_id != external_id:
            raise ResolveError(f"hub record {link} is already linked to {taken[link].external_id}")
        tx.upsert_links(item.connector, item.entity, [LinkWrite(link, external_id)])
        queue_refetch(tx, item.job, item.connector, item.entity, [external_id])
        _free_candidates(tx, item)
        return {"link": link}
    if take != "remote":
        raise ResolveError("say --take remote (create a new hub record) or --link RECORD_ID")
    try:
        content, digest = validated_content(item.entity, remote, phone_region=phone_region)
    except CrmBridgeError as exc:
        raise ResolveError(f"the remote record does not validate: {exc}") from None
    (made,) = tx.upsert_records(item.entity, [RecordWrite(content, digest)])
    shadow = {k: v for k, v in flatten(content).items() if k in remote}
    tx.upsert_links(
        item.connector,
        item.entity,
        [LinkWrite(made.id, external_id, shadow, content_hash(shadow), None, made.seq)],
    )
    _free_candidates(tx, item)
    return {"created": made.id}


def _free_candidates(tx: Transaction, item: InboxItem) -> None:
    """Queue what an ambiguous match held back (see :mod:`crmbridge.sync.ambiguity`)."""
    if item.fields:
        queue_resend(tx, item.job, item.connector, item.entity, list(item.fields))
        others = partners(tx, item.job, item.connector, item.entity, set(item.fields), {item.id})
        queue_refetch(tx, item.job, item.connector, item.entity, others)


def _blocked_delete(
    tx: Transaction, item: InboxItem, take: str | None, deletes: str
) -> dict[str, Any]:
    record_id = str(item.record_id)
    side = (item.remote or {}).get("_side", "hub")
    if take not in ("hub", "remote"):
        raise ResolveError("say --take remote (apply the delete) or --take hub (keep the record)")
    if side == "remote":
        # the hub deleted the record; the guard held the delete back from the remote
        if take == "remote":
            tx.delete_links(item.connector, item.entity, [record_id])
            queue_refetch(tx, item.job, item.connector, item.entity, [str(item.external_id)])
            return {"kept": "remote"}
        queue_resend(tx, item.job, item.connector, item.entity, [record_id])
        return {"deleted": "remote"}
    if take == "remote":
        if deletes == "propagate":
            tx.tombstone_records(item.entity, [record_id])
        elif deletes == "archive":
            record = tx.get_record(item.entity, record_id)
            if record is not None and not record.deleted:
                data = {**record.data, "archived": True}
                tx.upsert_records(item.entity, [RecordWrite(data, content_hash(data), record_id)])
        tx.delete_links(item.connector, item.entity, [record_id])
        return {"deleted": "hub", "policy": deletes}
    tx.delete_links(item.connector, item.entity, [record_id])
    queue_resend(tx, item.job, item.connector, item.entity, [record_id])
    return {"kept": "hub"}
