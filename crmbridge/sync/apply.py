"""One page of remote records into the hub, inside the caller's unit of work.

For each record: map it (a bad one is rejected alone; one whose parent is not
linked yet waits), match it (link, else identity keys), merge it three ways
with the hub; then write the page's records, links, shadows, inbox items and
rejects together, and park its deletions and cursor in the job's state.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crmbridge.connector import FILE_KEY, LINE_KEY, Deletion, RemoteRecord
from crmbridge.encoded import Encoded
from crmbridge.errors import RecordRejected
from crmbridge.model import RequirementChange, content_hash
from crmbridge.store import LinkWrite, NewInboxItem, NewReject, Transaction
from crmbridge.store.rows import InboxItem, Link, RecordWrite, Reject
from crmbridge.sync.ambiguity import free_candidates
from crmbridge.sync.context import RunContext
from crmbridge.sync.matcher import Candidate, Match, MatchKind, decide_matches, identity_keys
from crmbridge.sync.merge import is_empty, merge
from crmbridge.sync.ports import EntityMapper, RelationPending
from crmbridge.sync.prepare import Fresh, Prepared, fresh_record
from crmbridge.sync.values import (
    blank_defaults,
    flatten,
    held_values,
    remote_fields,
    validated_content,
)
from crmbridge.sync.workflow import (
    WORKFLOW_FIELDS,
    remote_workflow_values,
    step_through_workflow,
)

__all__ = ["PULL", "apply_page"]

PULL = "pull"
"""The side a pulled record's reject is kept for (in its payload)."""
_WHERE = (FILE_KEY, LINE_KEY)
"""Keys of a record's data that say where it is (a CSV row's file and line)."""


@dataclass(slots=True)
class _New:
    external_id: str
    record: Fresh
    modified_at: datetime | None


@dataclass(slots=True)
class _Merged:
    record_id: str
    external_id: str
    seq: int
    shadow: dict[str, Any]
    content: dict[str, Any] | None
    digest: str
    modified_at: datetime | None
    to_push: bool
    since: datetime | None = None
    """when the hub's content last changed, before this merge"""


def _until(
    modified_at: datetime | None, now: datetime, since: datetime | None = None
) -> datetime | None:
    """A pulled change's time: no later than ``now``, no earlier than ``since``."""
    if modified_at is None:
        return None
    at = min(modified_at, now)
    return max(at, since) if since is not None else at


@dataclass(slots=True)
class _Pending:
    """Hub writes of one page, applied together at its end."""

    new: list[_New] = field(default_factory=list)
    merged: list[_Merged] = field(default_factory=list)


def apply_page(
    ctx: RunContext,
    tx: Transaction,
    entity: str,
    records: Sequence[RemoteRecord],
    deletions: Sequence[Deletion],
    cursor: dict[str, Any] | None,
    retried: Sequence[Reject],
    prepared: Mapping[str, Prepared | None] | None = None,
    *,
    counted: bool = False,
) -> None:
    """Merge one page into the hub inside ``tx``; the caller's unit commits it.

    ``counted``: the records were counted as pulled already (as retried ones were).

    ``prepared`` is what a worker made of the page's records (see
    :mod:`crmbridge.sync.prepare`); a record it lacks, or whose relations
    resolve differently now, is mapped here.
    """
    mapper = ctx.mappers[entity]
    latest: dict[str, RemoteRecord] = {}
    for record in records:
        latest[record.external_id] = record
    if not retried and not counted:
        ctx.counts.add(entity, "pulled", len(latest))
    ctx.resolver.prefetch_external(_references(mapper, latest, prepared))
    raw: dict[str, Mapping[str, Any]] = {}
    failures: dict[str, tuple[RemoteRecord, RecordRejected]] = {}
    ready: dict[str, Prepared] = {}
    for ext, record in latest.items():
        done = prepared.get(ext) if prepared else None
        if done is not None and done.holds(ctx.resolver.to_canonical):
            if done.flat is None:
                assert done.rejected is not None
                failures[ext] = (record, done.rejected.error(entity))
            else:
                raw[ext] = done.flat
                ready[ext] = done
            continue
        try:
            raw[ext] = mapper.to_canonical(record.data, ctx.resolver)
        except RelationPending as exc:
            partial = getattr(exc, "data", None)
            if not ctx.job.pull_creates and isinstance(partial, dict):
                # a match leg matches by identity: a relation the hub cannot resolve (a company
                # only the target holds) is left out, and the source's, if any, goes out
                raw[ext] = partial
            else:
                failures[ext] = (record, exc)
        except RecordRejected as exc:
            failures[ext] = (record, exc)

    links = tx.get_links_by_external_ids(ctx.job.connector, entity, list(raw))
    decisions = _match(ctx, tx, entity, mapper, raw, links, ready)
    hub_ids = [m.record_id for m in decisions.values() if m.record_id is not None]
    hub = tx.get_records(entity, hub_ids)
    said: dict[str, Mapping[str, Any]] = {}
    fresh: dict[str, Fresh] = {}
    for ext, flat in raw.items():
        twin = hub.get(decisions[ext].record_id or "")
        try:
            if twin is None or twin.deleted:
                # a record with no twin, ready to create, as the mapping worker makes it
                done = ready.get(ext)
                if done is None:
                    made = fresh_record(mapper, flat, ctx.job.phone_region)
                elif done.fresh is not None:
                    made = done.fresh
                else:
                    assert done.invalid is not None
                    raise done.invalid.error(entity)
                fresh[ext], said[ext] = made, Encoded(made.remote)
                continue
            # a remote record may hold only some fields (a webhook's partial update):
            # it is checked as the record it would make of its hub twin
            link = links.get(ext)
            overlaid = step_through_workflow(
                entity,
                twin,
                {**flatten(twin.data), **flat},
                where=ctx.job.connector,
                at=ctx.clock(),
                last_said=link.shadow if link is not None else None,
            )
            content, _ = validated_content(entity, overlaid, phone_region=ctx.job.phone_region)
        except RecordRejected as exc:
            failures[ext] = (latest[ext], exc)
            continue
        # compare what the hub would store, so a value the model normalises is no change;
        # only fields the remote record holds take part (a file without a column clears nothing)
        held = held_values(flat, content)
        if entity == RequirementChange.entity:
            held.update(remote_workflow_values(flat))  # its own trail, not the hub's step
        said[ext] = remote_fields(mapper.fields, held)
    items = tx.list_open_inbox(
        ctx.job.name,
        limit=1_000_000,
        connector=ctx.job.connector,
        entity=entity,
        external_ids=list(said),
        record_ids=hub_ids,
    )
    open_items: set[tuple[str, str | None]] = {
        (i.kind, i.record_id if i.kind == "conflict" else i.external_id) for i in items
    }
    _settle_ambiguous(ctx, tx, entity, items, decisions)
    pending = _Pending()
    # a migration's match leg: what the source said of each twin (a field it never held is
    # the target's to keep)
    sources = (
        tx.get_links_by_record_ids(ctx.job.migrating_from, entity, hub_ids)
        if ctx.job.migrating_from is not None
        else {}
    )
    for ext, remote in said.items():
        record = latest[ext]
        try:
            _decide(
                ctx,
                tx,
                entity,
                mapper,
                record,
                remote,
                fresh.get(ext),
                decisions[ext],
                links,
                hub,
                open_items,
                pending,
                sources,
            )
        except RecordRejected as exc:
            failures[ext] = (record, exc)
    _write(ctx, tx, entity, mapper, pending)
    if ctx.job.pull_creates:
        _settle_rejects(ctx, tx, entity, failures, retried, latest)
    else:
        for ext, (_, failure) in failures.items():
            ctx.pass_over(entity, ext, failure.message)
    if deletions or cursor is not None:
        state = ctx.state(tx, entity)
        if deletions:
            queued = list(state.get("deletes", []))
            queued.extend(d.external_id for d in deletions if d.external_id not in queued)
            state["deletes"] = queued
            derived = [d.external_id for d in deletions if d.content_id]
            if derived:
                state["content_ids"] = [*state.get("content_ids", []), *derived]
        if cursor is not None:
            state["remote"] = cursor
        ctx.save_state(tx, entity, state)


def _references(
    mapper: EntityMapper,
    latest: Mapping[str, RemoteRecord],
    prepared: Mapping[str, Prepared | None] | None,
) -> Iterator[tuple[str, str]]:
    """What a page's records refer to; for one a worker mapped, what it looked up."""
    for ext, record in latest.items():
        done = prepared.get(ext) if prepared else None
        if done is not None:
            yield from (ref for ref, _ in done.lookups)
        else:
            yield from mapper.references(record.data)


def _match(
    ctx: RunContext,
    tx: Transaction,
    entity: str,
    mapper: EntityMapper,
    mapped: Mapping[str, Mapping[str, Any]],
    links: dict[str, Any],
    ready: Mapping[str, Prepared],
) -> dict[str, Match]:
    def keys_of(ext: str, flat: Mapping[str, Any]) -> list[tuple[str, str]]:
        if ext in links:
            return []
        if ext in ready:
            return ready[ext].keys
        return identity_keys(entity, mapper.identity, flat, ctx.job.phone_region)

    candidates = [Candidate(ext, keys_of(ext, flat)) for ext, flat in mapped.items()]
    keys = {key for cand in candidates for key in cand.keys}
    index = tx.find_by_identity(entity, [k for k in keys if k[0] != "id"])
    id_keys = [value for kind, value in keys if kind == "id"]
    if id_keys:
        for rid, rec in tx.get_records(entity, id_keys).items():
            if not rec.deleted:
                index[("id", rid)] = {rid}
    found = {rid for ids in index.values() for rid in ids}
    taken = tx.get_links_by_record_ids(ctx.job.connector, entity, list(found))
    return decide_matches(
        candidates,
        linked={ext: link.record_id for ext, link in links.items()},
        index=index,
        linked_elsewhere={rid: link.external_id for rid, link in taken.items()},
    )


def _decide(
    ctx: RunContext,
    tx: Transaction,
    entity: str,
    mapper: EntityMapper,
    record: RemoteRecord,
    remote: Mapping[str, Any],
    fresh: Fresh | None,
    decision: Match,
    links: dict[str, Any],
    hub: dict[str, Any],
    open_items: set[tuple[str, str | None]],
    pending: _Pending,
    sources: Mapping[str, Link],
) -> None:
    """What to do with one remote record: ``remote`` is what it says of the mapping's fields,
    as stored; ``fresh`` the record it makes when it has no hub twin."""
    ext = record.external_id
    if decision.kind is MatchKind.AMBIGUOUS:
        ctx.counts.add(entity, "conflicts")
        ctx.ambiguous.add((entity, ext))
        if ("ambiguous_match", ext) not in open_items:
            tx.add_inbox_item(
                NewInboxItem(
                    "ambiguous_match",
                    ctx.job.name,
                    ctx.job.connector,
                    entity,
                    external_id=ext,
                    fields=list(decision.candidates),
                    remote={
                        **remote,
                        "_reason": decision.reason,
                        **(
                            {"_linked_to": decision.linked_to, "_rule": decision.rule}
                            if decision.linked_to
                            else {}
                        ),
                    },
                )
            )
            open_items.add(("ambiguous_match", ext))
        ctx.plan.add(entity, "hub", "ambiguous", external_id=ext, reason=decision.reason)
        return
    if decision.kind is MatchKind.NEW:
        if not ctx.job.pull_creates:
            ctx.counts.add(entity, "unchanged")
            return
        assert fresh is not None  # a record with no twin
        pending.new.append(_New(ext, fresh, record.modified_at))
        ctx.plan.add(entity, "hub", "create", external_id=ext)
        return
    assert decision.record_id is not None
    current = hub.get(decision.record_id)
    link = links.get(ext)
    if current is None or current.deleted:
        ctx.counts.add(entity, "unchanged")
        return
    if link is not None and link.shadow_hash == content_hash(remote):
        ctx.counts.add(entity, "unchanged")
        return
    present = list(remote)
    hub_flat = flatten(current.data)
    # a link made by hand (an ambiguous match settled with --link) has no shadow yet
    base, fields, pinned = (
        (link.shadow, present, {})
        if link is not None and link.shadow is not None
        else _first_merge(ctx, mapper, hub_flat, present, sources.get(current.id))
    )
    result = merge(
        base,
        hub_flat,
        remote,
        fields=fields,
        policy=ctx.job.conflicts,
        hub_modified_at=current.modified_at,
        remote_modified_at=_until(record.modified_at, ctx.clock()),
        pull_only=mapper.pull_only,
        push_only=mapper.push_only,
    )
    held = {c.field for c in result.held}
    if result.conflicts:
        ctx.counts.add(entity, "conflicts")
    if held and ("conflict", current.id) not in open_items:
        fields = sorted(held)
        tx.add_inbox_item(
            NewInboxItem(
                "conflict",
                ctx.job.name,
                ctx.job.connector,
                entity,
                record_id=current.id,
                external_id=ext,
                fields=fields,
                base={f: (base or {}).get(f) for f in fields},
                hub={f: hub_flat.get(f) for f in fields},
                remote={f: remote.get(f) for f in fields},
            )
        )
        open_items.add(("conflict", current.id))
        ctx.plan.add(entity, "hub", "conflict", record_id=current.id, fields=fields)
    shadow = {f: v for f, v in (base or {}).items() if f not in present}
    shadow.update(
        (f, v)
        for f, v in result.shadow.items()
        if f not in result.to_remote and (f not in held or (base and f in base))
    )
    # a field the hub must send keeps the remote's present value as its base, so the
    # push sends it even when the hub's value is empty
    shadow.update((f, remote.get(f)) for f in result.to_remote)
    shadow.update(pinned)
    write: dict[str, Any] | None = None
    digest = current.content_hash
    stepped: list[str] = []
    if result.to_hub:
        merged = step_through_workflow(
            entity,
            current,
            {**hub_flat, **result.to_hub},
            where=ctx.job.connector,
            at=_until(record.modified_at, ctx.clock()) or ctx.clock(),
        )
        write, digest = validated_content(entity, merged, phone_region=ctx.job.phone_region)
        if entity == RequirementChange.entity:
            # a workflow step (or a trail the hub kept) the remote's fields do not hold is sent
            stepped = [f for f in WORKFLOW_FIELDS if f in present and write.get(f) != remote.get(f)]
            shadow.update((f, remote.get(f)) for f in stepped)
        if digest == current.content_hash:  # what the remote said the hub did not take
            write = None
    if write is not None:
        ctx.plan.add(entity, "hub", "update", record_id=current.id, fields=sorted(result.to_hub))
    else:
        ctx.counts.add(entity, "unchanged")
    if result.to_remote or stepped:
        ctx.plan.add(
            entity,
            "remote",
            "update",
            record_id=current.id,
            fields=sorted({*result.to_remote, *stepped}),
        )
    pending.merged.append(
        _Merged(
            current.id,
            ext,
            current.seq,
            shadow,
            write,
            digest,
            record.modified_at,
            bool(result.to_remote or stepped),
            current.modified_at,
        )
    )


def _settle_ambiguous(
    ctx: RunContext,
    tx: Transaction,
    entity: str,
    items: Sequence[InboxItem],
    decisions: Mapping[str, Match],
) -> None:
    """Close the ambiguous matches of remote records that match plainly now.

    An open one holds its candidates back from being created at the remote
    (see the push), so it must not outlive its reason: the remote record
    changed, or a person linked or removed a candidate, and it now matches one
    hub record or none. What it held back is queued (see :mod:`crmbridge.sync.ambiguity`).
    """
    settled: list[InboxItem] = []
    for item in items:
        decision = decisions.get(str(item.external_id))
        if item.kind != "ambiguous_match" or decision is None:
            continue
        if decision.kind is not MatchKind.AMBIGUOUS:
            tx.resolve_inbox_item(item.id, {"settled": decision.kind.value})
            settled.append(item)
    if settled:
        state = ctx.state(tx, entity)
        free_candidates(ctx, tx, entity, settled, state)
        ctx.save_state(tx, entity, state)


def _first_merge(
    ctx: RunContext,
    mapper: EntityMapper,
    hub_flat: Mapping[str, Any],
    present: Sequence[str],
    source: Link | None,
) -> tuple[dict[str, Any] | None, Sequence[str], dict[str, Any]]:
    """The base, fields and pinned shadow values of a record's first merge with its hub twin.

    In a sync there is no base. In a migration's match leg the target must
    lose nothing the source never said: a field the hub holds nothing in, or
    one the source's own record did not hold (the hub has a model default
    there), reads as unchanged from the base, so the target's value is kept
    (and taken into the hub); a field both hold still goes by the policy (the
    source wins). Such a field the mapping only pushes is left out of the
    merge and pinned in the shadow to the hub's value, so the push does not
    send it over the target's.
    """
    if ctx.job.pull_creates:
        return None, present, {}
    said = source.shadow if source is not None else None
    defaults = blank_defaults(mapper.entity)
    kept = {
        f: hub_flat.get(f)
        for f in present
        if is_empty(hub_flat.get(f))
        or (said is not None and f not in said)
        # a blank the model filled with its default is nothing the source said either
        or (f in defaults and hub_flat.get(f) == defaults[f])
    }
    pinned = {f: value for f, value in kept.items() if f in mapper.push_only}
    return kept, [f for f in present if f not in pinned], pinned


def _write(
    ctx: RunContext, tx: Transaction, entity: str, mapper: EntityMapper, pending: _Pending
) -> None:
    changed = [m for m in pending.merged if m.content is not None]
    # a pulled change happened when the remote says it did (the newest policy compares that),
    # but never later than now (a remote clock ahead would win every conflict after), and a
    # merged record is as new as its newest part (an older change to another field cannot
    # make the fields the hub changed since look older)
    now = ctx.clock()
    # a page's records mostly share one modification time (a file's): compare it once
    until = {at: _until(at, now) for at in {n.modified_at for n in pending.new}}
    writes = [
        RecordWrite(
            Encoded(n.record.content),
            n.record.digest,
            n.record.record_id,
            until[n.modified_at],
            n.record.index_keys,
        )
        for n in pending.new
    ]
    writes += [
        RecordWrite(m.content or {}, m.digest, m.record_id, _until(m.modified_at, now, m.since))
        for m in changed
    ]
    results = tx.upsert_records(entity, writes) if writes else []
    seqs = {r.id: r.seq for r in results}
    fresh: list[LinkWrite] = []
    links: list[LinkWrite] = []
    for new, result in zip(pending.new, results, strict=False):
        link = LinkWrite(
            result.id,
            new.external_id,
            Encoded(new.record.remote),
            new.record.remote_hash,
            new.modified_at,
            result.seq,
        )
        # a record made now has no link; one revived from a tombstone may keep its old one
        (fresh if result.created else links).append(link)
        ctx.resolver.learn(entity, result.id, new.external_id)
    ctx.counts.add(entity, "created", len(pending.new))
    ctx.counts.add(entity, "updated", len(changed))
    touch: list[str] = []
    for m in pending.merged:
        if m.to_push and m.content is None:
            touch.append(m.record_id)
        # a link left behind the record's seq makes the push stage send the hub's values
        seen = 0 if m.to_push else seqs.get(m.record_id, m.seq)
        links.append(
            LinkWrite(
                m.record_id, m.external_id, m.shadow, content_hash(m.shadow), m.modified_at, seen
            )
        )
        ctx.resolver.learn(entity, m.record_id, m.external_id)
    if fresh:
        tx.insert_links(ctx.job.connector, entity, fresh)
    if links:
        tx.upsert_links(ctx.job.connector, entity, links)
    if touch:
        tx.touch_records(entity, touch)


def _settle_rejects(
    ctx: RunContext,
    tx: Transaction,
    entity: str,
    failures: dict[str, tuple[RemoteRecord, RecordRejected]],
    retried: Sequence[Reject],
    latest: dict[str, RemoteRecord],
) -> None:
    earlier = {
        r.external_id: r
        for r in tx.list_open_rejects(
            ctx.job.name, connector=ctx.job.connector, entity=entity, external_ids=list(latest)
        )
        if r.payload and r.payload.get("side") == PULL
    }
    kept: list[tuple[NewReject, Reject | None]] = []
    tried_again = {r.external_id for r in retried}
    for ext, (record, exc) in failures.items():
        reject = ctx.reject(
            entity,
            "hub",
            exc.code,
            exc.message,
            field=exc.field,
            external_id=ext,
            where={k: v for k, v in record.data.items() if k in _WHERE},
            payload={
                "side": PULL,
                "data": dict(record.data),
                "modified_at": record.modified_at.isoformat() if record.modified_at else None,
                "missing": exc.missing if isinstance(exc, RelationPending) else None,
            },
            retry=ext in tried_again,
        )
        kept.append((reject, earlier.get(ext)))
    ctx.keep_rejects(tx, kept)
    settled = [r.id for ext, r in earlier.items() if ext in latest and ext not in failures]
    if settled:
        tx.set_reject_status(settled, "resolved")
    if not retried:
        ctx.settled_afresh(entity, [ext for ext in latest if ext not in failures])
