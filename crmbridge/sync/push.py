"""The push stage: hub changes out to the connector, through the outbox.

It reads the change feed from the job's last pushed seq, so its cost follows
the number of changes, not the size of the hub. Each window of records
becomes batches of the connector's size; every batch is written to the
outbox with an idempotency key *before* it is sent, the batches go out up to
the connector's concurrency, and their results (links, shadows, rejects, the
new push position) commit together. A run that dies between sending and
committing replays its outbox first next time; creates carry the crmbridge id
as their key, so a replayed create updates instead of duplicating.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from crmbridge.connector import WriteOp, WriteOutcome, WriteRequest, WriteResult
from crmbridge.errors import RecordRejected
from crmbridge.model import content_hash
from crmbridge.store import LinkWrite, NewReject, Transaction
from crmbridge.store.rows import Link, OutboxItem, Record, Reject
from crmbridge.sync.ambiguity import open_matches, queue
from crmbridge.sync.context import RunContext
from crmbridge.sync.deletes import block_deletes, over_guard
from crmbridge.sync.ports import EntityMapper, RelationPending
from crmbridge.sync.values import flatten, project

__all__ = ["commit_results", "push_entity", "replay_outbox"]

PUSH = "push"


async def replay_outbox(ctx: RunContext) -> None:
    """Send again every batch a previous run recorded but did not see answered."""
    pending = ctx.store.list_pending_outbox(job=ctx.job.name, connector=ctx.job.connector)
    for item in pending:
        if ctx.dry_run:
            ctx.plan.add(item.entity, "remote", "replay", batch=item.idempotency_key)
            continue
        requests = _requests(item.payload, resent=True)
        results = await ctx.connector.write(item.entity, requests)
        with ctx.unit() as tx:
            commit_results(ctx, tx, item.entity, item, results)


async def push_entity(ctx: RunContext, entity: str) -> None:
    """Push every hub change of ``entity`` this connector has not seen.

    Windows of ``batch size x concurrency`` records are pipelined: while one
    window's batches are on the wire the next is prepared and sent, and the
    windows' results commit in order, so the connection never idles while the
    hub works. The next window is prepared only once the one before the
    window on the wire has committed, so memory holds two windows at most.
    """
    mapper = ctx.mappers[entity]
    size = ctx.job.batch_size or ctx.connector.batch_size
    window = size * max(1, ctx.connector.concurrency)
    limit = asyncio.Semaphore(max(1, ctx.connector.concurrency))
    retry_parked = True
    after: int | None = None
    previous: asyncio.Task[None] | None = None
    waiting: set[str] = set()
    held_back: set[str] = set()
    kept: set[str] = set()
    try:
        while True:
            ctx.check_stop()
            with ctx.unit() as tx:
                state = ctx.state(tx, entity)
                if after is None:
                    after = int(state.get("push_seq", 0))
                    # and what this run held back of the entities pushed before this one
                    waiting = _held_for_a_person(ctx, tx, entity) | ctx.held
                # read before the query: a change committed after it has a higher seq and waits
                ceiling = tx.max_seq()
                rows = tx.unpushed_records(ctx.job.connector, entity, after, limit=window)
                if retry_parked:
                    rows = _parked_rows(ctx, tx, entity, rows, state.pop("resend", None)) + rows
                    ctx.save_state(tx, entity, state)
                    retry_parked = False
                if not rows:
                    if ceiling > after and previous is None:
                        state["push_seq"] = ceiling
                        ctx.save_state(tx, entity, state)
                    break
                last_seq = max([after, *(record.seq for record, _ in rows if record.seq > after)])
                if len(rows) < window:
                    last_seq = max(last_seq, ceiling)
                items = _prepare(ctx, tx, entity, mapper, rows, size, waiting, held_back)
                if held_back - kept:
                    # queued in the unit that moves past them: no failure or stop can lose them
                    queue(state, "resend", sorted(held_back - kept))
                    kept |= held_back
                    ctx.save_state(tx, entity, state)
                if not items and previous is None:
                    state["push_seq"] = last_seq
                    ctx.save_state(tx, entity, state)
            if items or previous is not None:
                sending = asyncio.create_task(_send(ctx, entity, items, last_seq, limit, previous))
                if previous is not None:
                    # back-pressure: at most two windows in memory, one sending, one committing
                    await asyncio.wait([previous])
                previous = sending
            after = last_seq
            if len(rows) < window:
                break
    finally:
        if previous is not None:
            await previous
    if held_back:
        ctx.held |= held_back
        ctx.warnings.append(
            f"{len(held_back)} {entity} records were not sent to {ctx.job.connector}: each is, or "
            "refers to, a record that several of its records match; settle those matches with "
            "`crmbridge conflicts list` and `resolve`"
        )


def _parked_rows(
    ctx: RunContext,
    tx: Transaction,
    entity: str,
    rows: Sequence[tuple[Record, Link | None]],
    resend: Sequence[str] | None,
) -> list[tuple[Record, Link | None]]:
    """Records to send again whatever their seq: parked rejects, and those a resolution queued."""
    parked = [
        str(r.record_id)
        for r in tx.list_open_rejects(ctx.job.name, connector=ctx.job.connector, entity=entity)
        if r.payload and r.payload.get("side") == PUSH and r.record_id
    ]
    already = {record.id for record, _ in rows}
    ids = list(dict.fromkeys(i for i in [*parked, *(resend or [])] if i not in already))
    if not ids:
        return []
    records = tx.get_records(entity, ids)
    links = tx.get_links_by_record_ids(ctx.job.connector, entity, ids)
    return [(records[i], links.get(i)) for i in ids if i in records]


def _prepare(
    ctx: RunContext,
    tx: Transaction,
    entity: str,
    mapper: EntityMapper,
    rows: Sequence[tuple[Record, Link | None]],
    size: int,
    waiting: Collection[str],
    held_back: set[str],
) -> list[OutboxItem]:
    """Turn changed records into outbox batches; records with nothing to send are marked seen.

    A record in ``waiting`` is not created, and one that refers to such a
    record is not sent; both go into ``held_back``.
    """
    held = _held_fields(ctx, tx, entity, [record.id for record, _ in rows])
    ctx.resolver.prefetch_records(
        (target, str(value))
        for record, _ in rows
        for name, target in _relations(entity).items()
        for value in _as_list(record.data.get(name))
    )
    requests: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    failures: list[tuple[Record, RecordRejected]] = []
    deletes: list[tuple[Record, Link]] = []
    for record, link in rows:
        if record.deleted:
            if link is not None and ctx.job.deletes == "propagate":
                deletes.append((record, link))
            elif link is not None:
                seen[record.id] = record.seq
            continue
        if link is None and record.data.get("archived"):
            continue
        if link is None and record.id in waiting:
            held_back.add(record.id)
            continue
        flat = flatten(record.data)
        flat["id"] = record.id
        try:
            request = _request(ctx, mapper, record, link, flat, held.get(record.id, set()))
        except RelationPending as exc:
            if any(rid in waiting for _, rid in exc.missing or ()):
                held_back.add(record.id)  # what it refers to waits: it waits too, unrejected
            else:
                failures.append((record, exc))
            continue
        except RecordRejected as exc:
            failures.append((record, exc))
            continue
        if request is None:
            if link is not None:
                seen[record.id] = record.seq
            continue
        requests.append(request)
    if deletes:
        linked = tx.count_links(ctx.job.connector, entity)
        if over_guard(ctx, len(deletes), linked):
            block_deletes(ctx, tx, entity, [link for _, link in deletes], side="remote")
            seen.update({record.id: record.seq for record, _ in deletes})
        else:
            requests += [
                {
                    "key": record.id,
                    "op": WriteOp.DELETE.value,
                    "data": {},
                    "external_id": link.external_id,
                    "record_id": record.id,
                    "seq": record.seq,
                    "shadow": None,
                }
                for record, link in deletes
            ]
    if seen:
        tx.mark_links_seen(ctx.job.connector, entity, seen)
    _park(ctx, tx, entity, failures)
    items: list[OutboxItem] = []
    for start in range(0, len(requests), size):
        batch = requests[start : start + size]
        for req in batch:
            ctx.plan.add(entity, "remote", req["op"], record_id=req["record_id"])
        key = _batch_key(ctx, entity, batch)
        items.append(
            tx.add_outbox(ctx.job.name, ctx.job.connector, entity, key, {"requests": batch})
        )
    return [item for item in items if item.status == "pending"]


def _request(
    ctx: RunContext,
    mapper: EntityMapper,
    record: Record,
    link: Link | None,
    flat: dict[str, Any],
    held: set[str],
) -> dict[str, Any] | None:
    pushable = [f for f in mapper.fields if f not in mapper.pull_only and f not in held]
    if link is None:
        data = mapper.to_remote(flat, ctx.resolver)
        shadow = project(flat, pushable)
        op, external_id = WriteOp.CREATE, None
    else:
        base = link.shadow or {}
        changed = [
            f
            for f in pushable
            if (flat.get(f) != base[f] if f in base else flat.get(f) is not None)
        ]
        if not changed:
            return None
        data = mapper.to_remote(flat, ctx.resolver, only=changed)
        shadow = {**base, **{f: flat.get(f) for f in changed}}
        op, external_id = WriteOp.UPDATE, link.external_id
    return {
        "key": record.id,
        "op": op.value,
        "data": data,
        "external_id": external_id,
        "record_id": record.id,
        "seq": record.seq,
        "shadow": shadow,
    }


async def _send(
    ctx: RunContext,
    entity: str,
    items: Sequence[OutboxItem],
    last_seq: int,
    limit: asyncio.Semaphore,
    previous: asyncio.Task[None] | None,
) -> None:
    """Send one window's batches, then (after the window before it) commit their results."""

    async def send(item: OutboxItem) -> list[WriteResult]:
        requests = _requests(item.payload)
        if ctx.dry_run:
            return [_simulated(r) for r in requests]
        async with limit:
            return await ctx.connector.write(entity, requests)

    outcomes = await asyncio.gather(*(send(item) for item in items), return_exceptions=True)
    failed: BaseException | None = None
    if previous is not None:
        try:
            await previous
        except BaseException as exc:  # committed below, raised after
            failed = exc
    with ctx.unit() as tx:
        for item, outcome in zip(items, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                failed = failed or outcome
                continue
            commit_results(ctx, tx, entity, item, outcome)
        if failed is None:
            state = ctx.state(tx, entity)
            state["push_seq"] = max(int(state.get("push_seq", 0)), last_seq)
            ctx.save_state(tx, entity, state)
    ctx.advance(entity, "push", sum(len(item.payload["requests"]) for item in items))
    if failed is not None:
        raise failed


def commit_results(
    ctx: RunContext, tx: Transaction, entity: str, item: OutboxItem, results: Sequence[WriteResult]
) -> None:
    """Record what the remote answered for one batch: links, shadows, rejects; the batch is done."""
    by_key = {r.key: r for r in results}
    links: list[LinkWrite] = []
    dropped: list[str] = []
    gone: list[str] = []
    failures: list[tuple[str, str | None, RecordRejected]] = []
    for req in item.payload["requests"]:
        result = by_key.get(req["key"])
        record_id = req["record_id"]
        if result is None:
            reason = RecordRejected("the remote gave no result for this record", code="NO_RESULT")
            failures.append((record_id, req["external_id"], reason))
            continue
        if result.outcome is WriteOutcome.REJECTED:
            if result.code == "NOT_FOUND" and req["op"] != WriteOp.CREATE.value:
                dropped.append(record_id)  # gone remotely: next change re-creates it
                if req["op"] != WriteOp.DELETE.value:
                    gone.append(req["external_id"] or record_id)
                continue
            exc = RecordRejected(
                result.message or "rejected", code=result.code or "REJECTED", field=result.field
            )
            failures.append((record_id, req["external_id"], exc))
            continue
        ctx.counts.add(entity, "pushed")
        if result.outcome is WriteOutcome.DELETED or req["op"] == WriteOp.DELETE.value:
            dropped.append(record_id)
            continue
        external_id = result.external_id or req["external_id"]
        shadow = req["shadow"] or {}
        links.append(
            LinkWrite(
                record_id, external_id, shadow, content_hash(shadow), result.modified_at, req["seq"]
            )
        )
        ctx.resolver.learn(entity, record_id, external_id)
    if links:
        tx.upsert_links(ctx.job.connector, entity, links)
    if gone:
        ctx.warn([_gone_warning(ctx.job.connector, entity, gone)])
    if dropped:
        for record_id in dropped:
            ctx.resolver.forget(entity, record_id, None)
        tx.delete_links(ctx.job.connector, entity, dropped)
    done = {link.record_id for link in links} | set(dropped)
    parked = [
        r.id
        for r in tx.list_open_rejects(
            ctx.job.name, connector=ctx.job.connector, entity=entity, record_ids=done
        )
        if r.record_id in done and r.payload and r.payload.get("side") == PUSH
    ]
    if parked:
        tx.set_reject_status(parked, "resolved")
    records = tx.get_records(entity, [rid for rid, _, _ in failures])
    _park(ctx, tx, entity, [(records[rid], exc) for rid, _, exc in failures if rid in records])
    tx.mark_outbox_sent(item.id)


def _gone_warning(connector: str, entity: str, external_ids: Sequence[str]) -> str:
    """What the report says of updates ``connector`` found no record for."""
    shown = ", ".join(external_ids[:5]) + (", ..." if len(external_ids) > 5 else "")
    return (
        f"{len(external_ids)} {entity} records were no longer in {connector} when updated "
        f"({shown}): their links were dropped, and each is created there again on its next "
        "change in the hub"
    )


def _park(
    ctx: RunContext, tx: Transaction, entity: str, failures: Sequence[tuple[Record, RecordRejected]]
) -> None:
    if not failures:
        return
    earlier = {
        r.record_id: r
        for r in tx.list_open_rejects(
            ctx.job.name,
            connector=ctx.job.connector,
            entity=entity,
            record_ids=[record.id for record, _ in failures],
        )
        if r.payload and r.payload.get("side") == PUSH
    }
    kept: list[tuple[NewReject, Reject | None]] = []
    for record, exc in failures:
        missing = exc.missing if isinstance(exc, RelationPending) else None
        reject = ctx.reject(
            entity,
            "remote",
            exc.code,
            exc.message,
            field=exc.field,
            record_id=record.id,
            payload={"side": PUSH, "missing": missing},
        )
        kept.append((reject, earlier.get(record.id)))
    ctx.keep_rejects(tx, kept)
    tx.add_link_failures(ctx.job.connector, entity, [record.id for record, _ in failures])


def _held_fields(
    ctx: RunContext, tx: Transaction, entity: str, record_ids: Sequence[str]
) -> dict[str, set[str]]:
    """The fields open conflicts hold back, of these records."""
    held: dict[str, set[str]] = {}
    for item in tx.list_open_inbox(
        ctx.job.name,
        kind="conflict",
        limit=1_000_000,
        connector=ctx.job.connector,
        entity=entity,
        record_ids=record_ids,
    ):
        if item.record_id:
            held.setdefault(item.record_id, set()).update(item.fields or [])
    return held


def _held_for_a_person(ctx: RunContext, tx: Transaction, entity: str) -> set[str]:
    """Hub records not to create at the remote yet, of ``entity`` and the entities it refers to.

    One is the single candidate of an open ambiguous match of this connector:
    several remote records match it (the remote holds that person twice), so
    creating it would make a third copy. A match between several hub records
    (people sharing an office phone) holds nothing back: each may well be
    someone else. They go once a person, or a later pull, settles the match.
    """
    held: set[str] = set()
    for kind in {entity, *_relations(entity).values()}:
        named = {
            item.fields[0]
            for item in open_matches(tx, ctx.job.name, ctx.job.connector, kind)
            if item.fields and len(item.fields) == 1
        }
        # a candidate deleted in the hub since is no record to create
        held.update(
            rid for rid, record in tx.get_records(kind, named).items() if not record.deleted
        )
    return held


def _requests(payload: Mapping[str, Any], *, resent: bool = False) -> list[WriteRequest]:
    return [
        WriteRequest(r["key"], WriteOp(r["op"]), r["data"], r["external_id"], resent)
        for r in payload["requests"]
    ]


def _simulated(request: WriteRequest) -> WriteResult:
    outcome = {
        WriteOp.CREATE: WriteOutcome.CREATED,
        WriteOp.UPDATE: WriteOutcome.UPDATED,
        WriteOp.DELETE: WriteOutcome.DELETED,
    }[request.op]
    return WriteResult(request.key, outcome, request.external_id or f"dry-run:{request.key}")


def _batch_key(ctx: RunContext, entity: str, batch: Sequence[Mapping[str, Any]]) -> str:
    # the run id makes a later run's retry of a rejected record a new batch; a
    # crashed run's batch is replayed from the outbox itself, not rebuilt
    digest = hashlib.sha256(ctx.run_id.encode())
    for req in batch:
        digest.update(f"{req['record_id']}@{req['seq']}:{req['op']};".encode())
    return f"{ctx.job.name}:{ctx.job.connector}:{entity}:{digest.hexdigest()[:32]}"


def _relations(entity: str) -> dict[str, str]:
    from crmbridge.model import relation_fields

    return relation_fields(entity)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]
