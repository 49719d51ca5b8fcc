"""The pull stage: a connector's changes into the hub, one page per transaction.

Pages are read from the connector (mapped beside the run by the mapping
worker when there is one) and each is applied by :func:`~crmbridge.sync.apply.apply_page`
in its own unit of work, with the new cursor. Deletions are only ever taken
from the connector's deletion feed; they are parked with the cursor and
applied at the end of the entity, after the mass-delete guard has seen them all.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from crmbridge.connector import Page, RemoteRecord, list_records
from crmbridge.errors import CrmBridgeError
from crmbridge.store import Transaction
from crmbridge.store.rows import Reject
from crmbridge.sync.apply import PULL, apply_page
from crmbridge.sync.context import RunContext
from crmbridge.sync.ports import EntityMapper
from crmbridge.sync.prepare import PagePreparer, Prepared, Shipped, received
from crmbridge.sync.presence import forget_lost_records
from crmbridge.sync.unreadable import keep_unreadable, pass_over_unreadable, settle_unreadable

__all__ = ["pull_entity", "retry_parked"]

log = logging.getLogger("crmbridge.sync")


async def pull_entity(ctx: RunContext, entity: str) -> None:
    """Bring ``entity``'s remote changes into the hub, then apply its remote deletions."""
    if not ctx.job.pull_creates:
        await _link_twins(ctx, entity)
        return
    with ctx.unit() as tx:
        retry_parked(ctx, tx, entity)
        state = ctx.state(tx, entity)
        cursor, refetch = state.get("remote"), state.get("refetch")
    if refetch:
        await _refetch(ctx, entity, list(refetch))
    if ctx.preparer is None:
        async for page in ctx.connector.read_changes(entity, cursor):
            _apply(ctx, entity, page, None)
    else:
        await _pull_pipelined(ctx, ctx.preparer, entity, cursor)
    from crmbridge.sync.deletes import apply_remote_deletions

    with ctx.unit() as tx:
        moved = apply_remote_deletions(ctx, tx, entity)
        settle_unreadable(ctx, tx, entity)
        # records a deletion freed (an ambiguous match it settled held them back)
        freed = [ext for ext in ctx.state(tx, entity).get("refetch") or [] if ext not in moved]
    if moved:
        await _refetch(ctx, entity, moved, pulled=False)
    if freed:
        await _refetch(ctx, entity, freed)


async def _link_twins(ctx: RunContext, entity: str) -> None:
    """A pull that only links (a migration's match leg): every remote record, matched to the hub.

    The remote is listed whole each time and no cursor is kept, since a
    remote record with no twin now may have one later (a source row mended,
    a person added to the source); it is not read at all while every live
    hub record is linked to it already, nor for an entity the mapping
    identifies by nothing but the crmbridge id (interactions, say): only a
    record written there from this hub carries one, and that one is linked.
    First, the links to records the remote no longer holds are forgotten (when it
    can tell), so the push sends those again.
    """
    await forget_lost_records(ctx, entity)
    if all(rule == "id" for rule in ctx.mappers[entity].identity):
        return
    with ctx.unit() as tx:
        state = ctx.state(tx, entity)
        if state.pop("refetch", None) is not None:  # a resolution asked; the listing covers it
            ctx.save_state(tx, entity, state)
        if not tx.has_unlinked(ctx.job.connector, entity):
            return
    async for page in list_records(ctx.connector, entity):
        listed = Page(records=page.records, unreadable=page.unreadable, warnings=page.warnings)
        _apply(ctx, entity, listed, None)
    passed = ctx.passed_over.pop(entity, None)
    if passed is not None:
        count, first = passed
        ctx.warnings.append(
            f"{count} {entity} records of {ctx.job.connector} could not be compared with the "
            f"hub's records, so none of them was taken as a twin (the first: {first}); a "
            "record the hub sends there may duplicate one of them"
        )


def _apply(
    ctx: RunContext, entity: str, page: Page, prepared: Mapping[str, Prepared | None] | None
) -> None:
    ctx.warn(page.warnings)
    with ctx.unit() as tx:
        if ctx.job.pull_creates:
            keep_unreadable(ctx, tx, entity, page.unreadable)
        else:
            pass_over_unreadable(ctx, entity, page.unreadable)
        apply_page(ctx, tx, entity, page.records, page.deletions, page.cursor, [], prepared)
    ctx.advance(entity, "pull", len(page.records) + len(page.deletions) + len(page.unreadable))
    ctx.check_stop()


async def _pull_pipelined(
    ctx: RunContext, preparer: PagePreparer, entity: str, cursor: Any
) -> None:
    """Pull with a worker: page N + 1 is mapped there while page N is written here.

    Pages are still applied one by one in order, and a page read before the
    connector failed is applied before the failure ends the run. The last
    records of each page, as many as :attr:`PagePreparer.balance` says, are
    mapped here as the page is applied, so neither process waits for the other.
    """
    mapper = ctx.mappers[entity]
    held: deque[_Sent] = deque()
    # the links of every entity this one refers to, when there are few enough, go with the
    # first page the worker maps; it keeps them, so no page's references are worked out here
    parents: dict[tuple[str, str], str | None] | None = None
    loaded = False

    async def settle() -> None:
        sent = held.popleft()
        following = held[0].at if held and held[0].future is not None else None
        try:
            _apply(ctx, entity, sent.page, await _answer(preparer, sent, following))
        except BaseException:
            # the pages after one not applied (or a stop asked for) are not applied: the
            # cursor one of them carries would skip the records of this one
            held.clear()
            raise

    try:
        async for page in ctx.connector.read_changes(entity, cursor):
            future: asyncio.Future[Shipped] | None = None
            latest = list({r.external_id: r for r in page.records}.values())
            ahead = preparer.to_send(latest)
            if preparer.wants(ahead):
                if not loaded:
                    parents, loaded = _parent_links(ctx, mapper), True
                links = parents if parents is not None else _page_links(ctx, mapper, page)
                try:
                    future = preparer.submit(entity, ahead, links, ctx.job.phone_region)
                    if parents is not None:
                        parents = {}  # the worker has them
                except Exception:  # a value that cannot be pickled: this page is mapped here
                    log.warning("cannot hand a page to the mapping worker", exc_info=True)
            held.append(_Sent(page, future, len(ahead), len(latest), time.monotonic()))
            # a page the worker is not mapping is written at once, after those before it
            while len(held) > _IN_FLIGHT or (held and future is None):
                await settle()
    except CrmBridgeError:
        while held:
            await settle()
        raise
    while held:
        await settle()


_IN_FLIGHT = 2
"""Pages handed to the worker ahead of the one being written: with two, a page that takes
the worker longer than the one before does not keep the run waiting."""


class _Sent(NamedTuple):
    """A page read, and the worker's future for the first ``sent`` of its ``size`` records."""

    page: Page
    future: asyncio.Future[Shipped] | None
    sent: int
    size: int
    at: float


async def _answer(
    preparer: PagePreparer, sent: _Sent, next_sent_at: float | None
) -> dict[str, Prepared | None] | None:
    """The worker's work on a page; ``None`` (map it here) if the worker failed or is gone.

    The page's timing steers :attr:`PagePreparer.balance` when the next page
    went to the worker too (the worker's wait for it is known then).
    """
    if sent.future is None or preparer.broken:
        return None  # a page sent before the worker failed may have been dropped with it
    ready = sent.future.done()
    waiting = time.monotonic()
    try:
        answer = received(await sent.future)
    except Exception:
        log.warning("the mapping worker failed; mapping here from now on", exc_info=True)
        preparer.disable()
        return None
    if next_sent_at is not None:
        preparer.balance.observe(
            waited=0.0 if ready else time.monotonic() - waiting,
            idle=max(0.0, next_sent_at - answer.finished),
            busy=answer.busy,
            sent=sent.sent,
            count=sent.size,
        )
    return answer.prepared


def _parent_links(
    ctx: RunContext, mapper: EntityMapper
) -> dict[tuple[str, str], str | None] | None:
    """Every link of the entities ``mapper``'s records refer to; ``None`` when there are
    more than half the resolver's cache holds (each page's then go with it)."""
    budget = ctx.resolver.limit // 2
    found: dict[tuple[str, str], str | None] = {}
    with ctx.unit():
        for target in sorted(mapper.refers_to):
            table = ctx.resolver.know_all(target, at_most=budget - len(found))
            if table is None:
                return None
            found.update(table)
    return found


def _page_links(
    ctx: RunContext, mapper: EntityMapper, page: Page
) -> dict[tuple[str, str], str | None]:
    """The links of what a page's records refer to, for the worker."""
    refs = {ref for record in page.records for ref in mapper.references(record.data)}
    links = ctx.resolver.cached(refs)
    if links is None:  # some are not known yet: one read of the hub for them
        with ctx.unit():
            ctx.resolver.prefetch_external(refs)
            links = {ref: ctx.resolver.to_canonical(*ref) for ref in refs}
    return links


async def _refetch(
    ctx: RunContext, entity: str, external_ids: list[str], *, pulled: bool = True
) -> None:
    """Fetch and merge records a resolution or a webhook hint asked for, then clear the list.

    ``pulled=False``: the run counted them pulled already.
    """
    records: list[RemoteRecord] = []
    if ctx.connector.capabilities.fetch_by_ids:
        records = await ctx.connector.fetch(entity, external_ids)
    else:
        ctx.warnings.append(
            f"{ctx.job.connector} cannot fetch records by id; {len(external_ids)} {entity} "
            "records are merged when they next change"
        )
    with ctx.unit() as tx:
        apply_page(ctx, tx, entity, records, [], None, [], counted=not pulled)
        state = ctx.state(tx, entity)
        left = [ext for ext in state.pop("refetch", None) or [] if ext not in external_ids]
        if left:
            state["refetch"] = left
        ctx.save_state(tx, entity, state)


def retry_parked(ctx: RunContext, tx: Transaction, entity: str) -> None:
    """Map again the records parked on earlier runs (bad values, parents not linked yet)."""
    parked = _parked(ctx, tx, entity)
    if parked:
        apply_page(ctx, tx, entity, [_from_payload(r) for r in parked], [], None, parked)


def _parked(ctx: RunContext, tx: Transaction, entity: str) -> list[Reject]:
    return [
        r
        for r in tx.list_open_rejects(ctx.job.name, connector=ctx.job.connector, entity=entity)
        if r.payload and r.payload.get("side") == PULL and r.external_id
    ]


def _from_payload(reject: Reject) -> RemoteRecord:
    payload = reject.payload or {}
    modified = payload.get("modified_at")
    return RemoteRecord(
        str(reject.external_id),
        payload.get("data") or {},
        datetime.fromisoformat(modified) if modified else None,
    )
