"""What follows when an ambiguous match is settled: its hub candidates are free to go.

While an ambiguous match naming a single hub record is open, the push holds
that record back (the remote may hold it twice already). Once one such match
is settled, by a later pull or by the remote record's deletion, the record is
queued for the push again, and the remote records of the other open matches
naming it are fetched again: alone now, they may match it plainly.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any

from crmbridge.store import Transaction
from crmbridge.store.rows import InboxItem
from crmbridge.sync.context import RunContext

__all__ = ["free_candidates", "open_matches", "partners", "queue"]


def free_candidates(
    ctx: RunContext,
    tx: Transaction,
    entity: str,
    settled: Sequence[InboxItem],
    state: dict[str, Any],
) -> None:
    """Queue in ``state`` (saved by the caller) what the settled matches held back.

    ``settled`` are ambiguous matches just resolved in ``tx``.
    """
    freed = {record_id for item in settled for record_id in item.fields or []}
    if not freed:
        return
    if ctx.job.pull_creates:  # a match leg lists its remote whole on every run anyway
        done = {item.id for item in settled}
        queue(state, "refetch", partners(tx, ctx.job.name, ctx.job.connector, entity, freed, done))
    if ctx.job.pushes or not ctx.job.pull_creates:  # a match leg's push reads the same state
        queue(state, "resend", sorted(freed))


def partners(
    tx: Transaction,
    job: str,
    connector: str,
    entity: str,
    freed: set[str],
    done: set[int],
) -> list[str]:
    """The remote records of the other open ambiguous matches naming any of ``freed``."""
    return [
        str(item.external_id)
        for item in open_matches(tx, job, connector, entity)
        if item.id not in done and item.external_id and freed & set(item.fields or [])
    ]


def open_matches(
    tx: Transaction,
    job: str,
    connector: str,
    entity: str,
    external_ids: Collection[str] | None = None,
) -> list[InboxItem]:
    """The open ambiguous matches of a job's connector and entity (of these remote records)."""
    return tx.list_open_inbox(
        job,
        kind="ambiguous_match",
        limit=1_000_000,
        connector=connector,
        entity=entity,
        external_ids=external_ids,
    )


def queue(state: dict[str, Any], key: str, ids: Iterable[str]) -> None:
    """Add ids to the list ``state[key]`` (``refetch`` or ``resend``), each once."""
    queued = list(state.get(key) or [])
    state[key] = queued + [i for i in dict.fromkeys(ids) if i not in queued]
