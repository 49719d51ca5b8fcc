"""Deletes under the job's policy, behind the mass-delete guard.

Deletes come only from a connector's explicit deletion feed (pull) or from
hub tombstones (push), never from a record missing in a partial read. When
one run would delete more than the guard allows (default: more than 20% of
the linked records, or more than 500), none of them happens: each is parked
in the inbox as a *blocked delete* for a person to confirm.

Policies for a record deleted remotely: ``propagate`` tombstones the hub
record (and so, through the change feed, deletes it wherever other jobs
propagate deletes); ``archive`` keeps it with ``archived: true``; ``ignore``
keeps it untouched. In every case the link to the deleted remote record is
dropped.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from crmbridge.model import content_hash
from crmbridge.store import NewInboxItem, Transaction
from crmbridge.store.rows import Link, LinkWrite, RecordWrite
from crmbridge.sync.ambiguity import free_candidates, open_matches
from crmbridge.sync.context import RunContext

__all__ = ["apply_remote_deletions", "delete_in_hub", "over_guard"]


def over_guard(ctx: RunContext, count: int, linked: int) -> bool:
    """Whether ``count`` deletes out of ``linked`` records is more than the job allows."""
    job = ctx.job
    return count > job.mass_delete_count or (
        linked > 0 and count > job.mass_delete_fraction * linked
    )


def apply_remote_deletions(ctx: RunContext, tx: Transaction, entity: str) -> list[str]:
    """Apply (or block) the deletions this run queued for ``entity``, then clear the queue.

    Returns the external ids of remote records that took over the link of a
    deleted one (see :func:`_moved`): the caller merges them now.
    """
    state = ctx.state(tx, entity)
    queued: list[str] = list(state.get("deletes") or [])
    if not queued:
        return []
    links = tx.get_links_by_external_ids(ctx.job.connector, entity, queued)
    targets = [links[ext] for ext in queued if ext in links]
    content_ids = set(state.get("content_ids") or [])
    moved = _moved(ctx, tx, entity, targets, content_ids)
    targets = [link for link in targets if link.record_id not in moved]
    linked = tx.count_links(ctx.job.connector, entity)
    if targets and over_guard(ctx, len(targets), linked):
        block_deletes(ctx, tx, entity, targets, side="hub")
    elif targets:
        delete_in_hub(ctx, tx, entity, targets)
    _settle_gone(ctx, tx, entity, [ext for ext in queued if ext not in links], state)
    _settle_refused(ctx, tx, entity, queued)
    state["deletes"] = []
    state.pop("content_ids", None)
    ctx.save_state(tx, entity, state)
    return list(moved.values())


def _settle_gone(
    ctx: RunContext,
    tx: Transaction,
    entity: str,
    external_ids: Sequence[str],
    state: dict[str, Any],
) -> None:
    """Close the ambiguous matches of unlinked remote records deleted since: none is left to match.

    What they held back is queued in ``state`` (see :mod:`crmbridge.sync.ambiguity`).
    """
    if not external_ids:
        return
    settled = open_matches(tx, ctx.job.name, ctx.job.connector, entity, external_ids)
    for item in settled:
        tx.resolve_inbox_item(item.id, {"settled": "deleted"})
    free_candidates(ctx, tx, entity, settled, state)


def _settle_refused(
    ctx: RunContext, tx: Transaction, entity: str, external_ids: Sequence[str]
) -> None:
    """Resolve what the hub refused of remote records deleted since, whatever the delete
    policy: a bad row removed from its file is no longer a record to mend."""
    from crmbridge.sync.apply import PULL

    refused = tx.list_open_rejects(
        ctx.job.name, connector=ctx.job.connector, entity=entity, external_ids=external_ids
    )
    gone = [r.id for r in refused if (r.payload or {}).get("side") == PULL]
    if gone:
        tx.set_reject_status(gone, "resolved")


def _moved(
    ctx: RunContext,
    tx: Transaction,
    entity: str,
    targets: Sequence[Link],
    content_ids: Collection[str],
) -> dict[str, str]:
    """Deleted remote records that came back under another external id: hub id -> new id.

    ``targets`` are the links of deleted records. One whose hub record is the
    only identity match of a remote record this run left unlinked for that
    very reason (its ambiguous match names the deleted id as the one the hub
    record is linked to) is that record under a new id when the deleted id
    was made from the record's content (``content_ids``, see
    :attr:`Deletion.content_id`: a CSV row without an id changes its derived
    id when it is edited), or when the new record carries the hub record's
    crmbridge id (a company renamed in a file whose rows are keyed by the
    company's name). The link moves to the new id, keeping its shadow, so the
    merge that follows sees the edit as an edit; the record is not deleted.
    """
    if not targets:
        return {}
    deleted = {link.external_id: link for link in targets}
    moved: dict[str, str] = {}
    met = [ext for kind, ext in ctx.ambiguous if kind == entity]
    for item in open_matches(tx, ctx.job.name, ctx.job.connector, entity, met):
        if not item.external_id:
            continue
        if (entity, item.external_id) not in ctx.ambiguous:
            continue  # raised by an earlier run: a person may be looking at it
        old = deleted.get(str((item.remote or {}).get("_linked_to") or ""))
        if old is None or old.record_id in moved or (item.fields or []) != [old.record_id]:
            continue
        if old.external_id not in content_ids and (item.remote or {}).get("_rule") != "id":
            continue  # matched by a crmbridge id it carries: only then surely the same record
        tx.upsert_links(
            ctx.job.connector,
            entity,
            [
                LinkWrite(
                    old.record_id,
                    item.external_id,
                    old.shadow,
                    old.shadow_hash,
                    old.remote_modified_at,
                    old.last_seen_seq,
                )
            ],
        )
        tx.resolve_inbox_item(
            item.id, {"moved": {"record_id": old.record_id, "from": old.external_id}}
        )
        ctx.resolver.forget(entity, old.record_id, old.external_id)
        ctx.resolver.learn(entity, old.record_id, item.external_id)
        ctx.plan.add(entity, "hub", "relink", record_id=old.record_id, external_id=item.external_id)
        ctx.counts.add(entity, "conflicts", -1)  # met in this run, and settled here
        moved[old.record_id] = item.external_id
    return moved


def block_deletes(
    ctx: RunContext, tx: Transaction, entity: str, targets: Sequence[Link], *, side: str
) -> None:
    """Park deletes in the inbox instead of applying them, and say so in the run's report."""
    open_items = {
        i.record_id
        for i in tx.list_open_inbox(
            ctx.job.name,
            kind="blocked_delete",
            limit=1_000_000,
            record_ids=[link.record_id for link in targets],
        )
    }
    for link in targets:
        ctx.plan.add(entity, side, "blocked_delete", record_id=link.record_id)
        if link.record_id in open_items:
            continue
        tx.add_inbox_item(
            NewInboxItem(
                "blocked_delete",
                ctx.job.name,
                ctx.job.connector,
                entity,
                record_id=link.record_id,
                external_id=link.external_id,
                remote={"_side": side},
            )
        )
    ctx.counts.add(entity, "conflicts", len(targets))
    ctx.warnings.append(
        f"{len(targets)} deletes of {entity} ({'in the hub' if side == 'hub' else 'in ' + ctx.job.connector}) "
        f"blocked by the mass-delete guard (more than {ctx.job.mass_delete_count} or "
        f"{ctx.job.mass_delete_fraction:.0%} of linked records); review them with `crmbridge conflicts list`"
    )


def delete_in_hub(ctx: RunContext, tx: Transaction, entity: str, targets: Sequence[Link]) -> None:
    """Apply the job's delete policy to hub records whose remote twin was deleted."""
    ids = [link.record_id for link in targets]
    policy = ctx.job.deletes
    if policy == "propagate":
        done = tx.tombstone_records(entity, ids)
        ctx.counts.add(entity, "deleted", sum(1 for r in done if r.changed))
    elif policy == "archive":
        records = tx.get_records(entity, ids)
        writes = []
        for rid in ids:
            record = records.get(rid)
            if record is None or record.deleted or record.data.get("archived"):
                continue
            data = {**record.data, "archived": True}
            writes.append(RecordWrite(data, content_hash(data), rid))
        if writes:
            tx.upsert_records(entity, writes)
        ctx.counts.add(entity, "deleted", len(writes))
    for link in targets:
        ctx.plan.add(entity, "hub", f"delete ({policy})", record_id=link.record_id)
        ctx.resolver.forget(entity, link.record_id, link.external_id)
    tx.delete_links(ctx.job.connector, entity, ids)
