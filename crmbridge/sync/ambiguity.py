"""What follows when an ambiguous match is settled: its hub candidates are free to go.

While an ambiguous match naming a single hub record is open, the push holds
that record back (the remote may hold it twice already). Once one such match
is settled, by a later pull or by the remote record's deletion, the record is
queued for the push again, and the remote records of the other open matches
naming it are fetched again: alone now, they may match it plainly. So are
those of the other open matches of new remote records sharing an identity key
with a settled one (two rows of a file holding one person): once the
duplicate is gone, the one left is created.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any

from crmbridge.store import Transaction
from crmbridge.store.rows import InboxItem
from crmbridge.sync.context import RunContext
from crmbridge.sync.matcher import identity_keys

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
    unnamed = [item for item in settled if not item.fields]
    if ctx.job.pull_creates and unnamed:  # a match leg lists its remote whole on every run
        queue(state, "refetch", _sharing(ctx, tx, entity, unnamed, {i.id for i in settled}))
    if not freed:
        return
    if ctx.job.pull_creates:
        done = {item.id for item in settled}
        queue(state, "refetch", partners(tx, ctx.job.name, ctx.job.connector, entity, freed, done))
    if ctx.job.pushes or not ctx.job.pull_creates:  # a match leg's push reads the same state
        queue(state, "resend", sorted(freed))


def _sharing(
    ctx: RunContext, tx: Transaction, entity: str, settled: Sequence[InboxItem], done: set[int]
) -> list[str]:
    """The remote records of the other open matches of new records that share an identity
    key with one of ``settled`` (matches naming no hub record)."""
    mapper = ctx.mappers.get(entity)
    if mapper is None:
        return []

    def keys(item: InboxItem) -> set[tuple[str, str]]:
        remote = {k: v for k, v in (item.remote or {}).items() if not k.startswith("_")}
        return set(identity_keys(entity, mapper.identity, remote, ctx.job.phone_region))

    shared = set().union(*(keys(item) for item in settled))
    return [
        str(item.external_id)
        for item in open_matches(tx, ctx.job.name, ctx.job.connector, entity)
        if item.id not in done and item.external_id and not item.fields and keys(item) & shared
    ]


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
