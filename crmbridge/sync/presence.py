"""Links to records the remote no longer holds: forgotten, so the push sends them again.

A migration's match leg asks a target that can tell cheaply
(:class:`~crmbridge.connector.ChecksPresence`) which of the records linked to
it it still holds. An export file deleted, or rows cut from it, would
otherwise stay missing: the hub sent those records once, and their links say
the target has seen them. Their links are dropped, and the push starts again
from the first change, so those records (and only those: every other one is
still linked) go out as creates.
"""

from __future__ import annotations

from typing import Final

from crmbridge.connector import ChecksPresence
from crmbridge.sync.context import RunContext

__all__ = ["forget_lost_records"]

_PAGE: Final = 2_000


async def forget_lost_records(ctx: RunContext, entity: str) -> int:
    """Forget the links of ``entity``'s records the job's connector no longer holds, with
    a warning that says how many; returns how many (0 when the connector cannot tell)."""
    connector = ctx.connector
    if not isinstance(connector, ChecksPresence):
        return 0
    name = ctx.job.connector
    after: str | None = None
    forgotten = 0
    while True:
        ctx.check_stop()
        with ctx.unit() as tx:
            linked = tx.linked_page(name, entity, after=after, limit=_PAGE)
        if not linked:
            break
        after = linked[-1][0]
        held = await connector.still_held(entity, dict(linked))
        if held is None:
            return 0
        lost = [record_id for external_id, record_id in linked if external_id not in held]
        if not lost:
            continue
        with ctx.unit() as tx:
            tx.delete_links(name, entity, lost)
            state = ctx.state(tx, entity)
            if state.pop("push_seq", None) is not None:
                ctx.save_state(tx, entity, state)
        forgotten += len(lost)
    if forgotten:
        ctx.warn(
            [
                f"{forgotten} {entity} records sent to {name} before are no longer there; "
                "they are sent again"
            ]
        )
    return forgotten
