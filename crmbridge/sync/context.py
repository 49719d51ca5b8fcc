"""What one run carries through its stages: the job, the connector, the store and the plan.

Every hub read and write of a run goes through :meth:`RunContext.unit`: in a
normal run each unit is its own transaction (a page's records, links,
shadows and cursor commit together); in a dry run every unit is the same
outer transaction, rolled back at the end, so the plan sees its own effects
and the hub keeps none of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crmbridge.connector import FILE_KEY, LINE_KEY, Connector
from crmbridge.errors import RunStopped
from crmbridge.store import Store, Transaction
from crmbridge.store.rows import NewReject, Reject
from crmbridge.sync.job import Counts, SyncJob
from crmbridge.sync.ports import EntityMapper
from crmbridge.sync.prepare import PagePreparer

__all__ = ["LinkResolver", "Plan", "RunContext"]


@dataclass(slots=True)
class Plan:
    """What a dry run would do, per entity and side, record by record."""

    enabled: bool = False
    items: list[dict[str, Any]] = field(default_factory=list)
    _planned: set[tuple[str, str, str, str]] = field(default_factory=set)

    def add(self, entity: str, side: str, action: str, **detail: Any) -> None:
        """Record one planned action (``side`` is ``hub`` or ``remote``); only a dry run keeps them.

        An action on a hub record planned already is not planned twice (a
        two-way run's pull plans the update its push then sends).
        """
        if not self.enabled:
            return
        record_id = detail.get("record_id")
        if record_id is not None:
            key = (entity, side, action, record_id)
            if key in self._planned:
                return
            self._planned.add(key)
        self.items.append({"entity": entity, "side": side, "action": action, **detail})

    def withdraw_reject(self, entity: str, external_id: str) -> None:
        """Take back the planned rejection of a remote record the run took after all."""
        if self.enabled:
            self.items = [
                item
                for item in self.items
                if not (
                    item["action"] == "reject"
                    and item["entity"] == entity
                    and item.get("external_id") == external_id
                )
            ]

    def summary(self) -> dict[str, dict[str, dict[str, int]]]:
        """Counts by entity, side and action."""
        out: dict[str, dict[str, dict[str, int]]] = {}
        for item in self.items:
            side = out.setdefault(item["entity"], {}).setdefault(item["side"], {})
            side[item["action"]] = side.get(item["action"], 0) + 1
        return out


class LinkResolver:
    """Relations through the hub's links for one connector, cached for the run."""

    def __init__(self, connector: str, limit: int = 50_000) -> None:
        self.connector = connector
        self.limit = limit
        self.tx: Transaction | None = None
        self._remote: dict[tuple[str, str], str | None] = {}
        self._hub: dict[tuple[str, str], str | None] = {}

    def learn(self, entity: str, record_id: str, external_id: str) -> None:
        """Remember a link made during this run."""
        if len(self._remote) > self.limit:
            # a cache, not the truth: past the limit start again and ask the store
            self._remote.clear()
            self._hub.clear()
        self._remote[(entity, record_id)] = external_id
        self._hub[(entity, external_id)] = record_id

    def forget(self, entity: str, record_id: str, external_id: str | None) -> None:
        """Drop a link removed during this run."""
        self._remote.pop((entity, record_id), None)
        if external_id is not None:
            self._hub.pop((entity, external_id), None)

    def prefetch_external(self, refs: Iterable[tuple[str, str]]) -> None:
        """Load the links of many external ids at once."""
        for entity, ids in _group(r for r in refs if r not in self._hub).items():
            assert self.tx is not None
            found = self.tx.get_links_by_external_ids(self.connector, entity, ids)
            for ext in ids:
                link = found.get(ext)
                self._hub[(entity, ext)] = link.record_id if link else None
                if link:
                    self._remote[(entity, link.record_id)] = ext

    def know_all(self, entity: str, at_most: int) -> dict[tuple[str, str], str] | None:
        """Load every link of ``entity`` (all of them, so a miss means not linked) and return
        them by ``(entity, external id)``; ``None``, loading nothing, past ``at_most``."""
        assert self.tx is not None
        found = self.tx.linked_ids(self.connector, entity, at_most=at_most)
        if found is None:
            return None
        table = {(entity, ext): rid for ext, rid in found.items()}
        self._hub.update(table)
        self._remote.update(((entity, rid), ext) for ext, rid in found.items())
        return table

    def prefetch_records(self, refs: Iterable[tuple[str, str]]) -> None:
        """Load the links of many hub ids at once."""
        for entity, ids in _group(r for r in refs if r not in self._remote).items():
            assert self.tx is not None
            found = self.tx.get_links_by_record_ids(self.connector, entity, ids)
            for rid in ids:
                link = found.get(rid)
                self._remote[(entity, rid)] = link.external_id if link else None
                if link:
                    self._hub[(entity, link.external_id)] = rid

    def to_remote(self, entity: str, record_id: str) -> str | None:
        """The external id linked to ``record_id``, or ``None``."""
        if (entity, record_id) not in self._remote:
            self.prefetch_records([(entity, record_id)])
        return self._remote.get((entity, record_id))

    def cached(self, refs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str | None] | None:
        """The hub ids of ``refs`` from the cache alone; ``None`` if one must be looked up."""
        known = self._hub
        try:
            return {ref: known[ref] for ref in refs}
        except KeyError:
            return None

    def to_canonical(self, entity: str, external_id: str) -> str | None:
        """The hub id linked to ``external_id``, or ``None``."""
        if (entity, external_id) not in self._hub:
            self.prefetch_external([(entity, external_id)])
        return self._hub.get((entity, external_id))


_Met = tuple[str, str | None, str | None, str, str]


def _met(reject: NewReject) -> _Met:
    """Which record (and, for one read from a file, which row) a reject is of."""
    data = (reject.payload or {}).get("data") or {}
    return (
        reject.entity,
        reject.record_id,
        reject.external_id,
        str(data.get(FILE_KEY, "")),
        str(data.get(LINE_KEY, "")),
    )


def _first_time(seen: set[_Met], reject: NewReject) -> bool:
    """Whether this run meets the rejected record for the first time: the same record (and,
    for one read from a file, the same row: two rows may share an id) was not rejected yet.
    A record with no id always is met for the first time."""
    if reject.record_id is None and reject.external_id is None:
        return True
    key = _met(reject)
    if key in seen:
        return False
    seen.add(key)
    return True


def _group(refs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for entity, ident in refs:
        bucket = grouped.setdefault(entity, [])
        if ident not in bucket:
            bucket.append(ident)
    return grouped


@dataclass(slots=True)
class RunContext:
    """One run of one job."""

    job: SyncJob
    connector: Connector
    store: Store
    mappers: Mapping[str, EntityMapper]
    run_id: str
    now: Any
    dry_run: bool = False
    counts: Counts = field(default_factory=Counts)
    plan: Plan = field(default_factory=Plan)
    warnings: list[str] = field(default_factory=list)
    should_stop: Callable[[], bool] | None = None
    """Asked between pages and windows; when it says yes the run ends there, committed."""
    progress: Callable[[str, str, int], None] | None = None
    """Told ``(entity, "pull" | "push", records)`` after every committed page or batch."""
    preparer: PagePreparer | None = None
    """A worker process mapping pulled pages beside the hub's writes, when the run has one."""
    ambiguous: set[tuple[str, str]] = field(default_factory=set)
    """``(entity, external id)`` of the remote records this run left unlinked as ambiguous."""
    unreadable: dict[str, set[str]] = field(default_factory=dict)
    """Per entity whose pull read pages in this run, the unreadable records it met."""
    held: set[str] = field(default_factory=set)
    """Hub records this run's push held back (see :mod:`crmbridge.sync.ambiguity`): the
    records of later entities that refer to them wait too."""
    passed_over: dict[str, tuple[int, str]] = field(default_factory=dict)
    """Per entity, for a pull that only links (``job.pull_creates`` off): how many records
    it could not read or map, so could not compare with the hub, and the first one's reason."""
    resolver: LinkResolver = field(init=False)
    _outer: Transaction | None = None
    _counted: set[_Met] = field(default_factory=set)
    _kept: set[_Met] = field(default_factory=set)
    _retried: dict[tuple[str, str | None, str | None], bool] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.resolver = LinkResolver(self.job.connector)
        self.plan.enabled = self.dry_run

    @contextmanager
    def unit(self) -> Iterator[Transaction]:
        """A unit of work: its own transaction, or the dry run's one outer transaction."""
        if self._outer is not None:
            self.resolver.tx = self._outer
            yield self._outer
            return
        with self.store.transaction() as tx:
            self.resolver.tx = tx
            try:
                yield tx
            finally:
                self.resolver.tx = None

    def state(self, tx: Transaction, entity: str) -> dict[str, Any]:
        """The job's saved position for ``entity``: remote cursor, push seq, pending deletes."""
        value = tx.get_cursor(self.job.name, self.job.connector, entity, lock=True)
        return dict(value) if isinstance(value, dict) else {}

    def save_state(self, tx: Transaction, entity: str, state: Mapping[str, Any]) -> None:
        """Save the position, in the same transaction as the records it covers."""
        tx.set_cursor(self.job.name, self.job.connector, entity, dict(state))

    def reject(
        self,
        entity: str,
        side: str,
        code: str,
        reason: str,
        *,
        field: str | None,
        payload: Mapping[str, Any],
        external_id: str | None = None,
        record_id: str | None = None,
        where: Mapping[str, Any] | None = None,
        retry: bool = False,
    ) -> NewReject:
        """Count and plan one rejected record; the reject to keep of it unless one is open.

        ``side`` is where it would have gone (``hub`` or ``remote``); ``where``
        says where it is in its source (a file and line). ``retry``: the record
        is one parked on an earlier run, tried again from what that run kept; the
        same record read afresh later in this run is the same reject, wherever it
        now is in its source.
        """
        # a record going out is named by its hub id, one coming in by its external id
        ids = {"record_id": record_id} if record_id is not None else {"external_id": external_id}
        rejected = NewReject(
            self.job.name,
            self.job.connector,
            entity,
            code,
            reason,
            run_id=None if self.dry_run else self.run_id,
            external_id=external_id,
            record_id=record_id,
            field=field,
            payload=payload,
        )
        # a record rejected twice in one run (a parked record retried at the start, then read
        # again from its page: a resumed migration, or a file re-read whose rows moved) counts
        # once; two rows of a file sharing an id are two rejects
        met = (entity, record_id, external_id)
        if retry:
            first = _first_time(self._counted, rejected)
            self._retried[met] = first
        else:
            again = self._retried.pop(met, None) is not None
            first = _first_time(self._counted, rejected) and not again
            if again:  # the retry was this run's attempt: this one only says it afresh
                self._kept.add(_met(rejected))
        if first:
            self.counts.add(entity, "rejected")
            self.plan.add(
                entity,
                side,
                "reject",
                **ids,
                field=field,
                reason=reason,
                code=code,
                **({"where": dict(where)} if where is not None else {}),
            )
        return rejected

    def settled_afresh(self, entity: str, external_ids: Iterable[str]) -> None:
        """Records retried from what an earlier run kept and rejected again, then read
        afresh in this run and taken: they are not this run's rejects after all."""
        for ext in external_ids:
            if self._retried.pop((entity, None, ext), False):
                self.counts.add(entity, "rejected", -1)
                self.plan.withdraw_reject(entity, ext)

    def warn(self, messages: Iterable[str]) -> None:
        """Add ``messages`` to the run's warnings, each once."""
        self.warnings.extend(m for m in messages if m not in self.warnings)

    def keep_rejects(
        self, tx: Transaction, rejects: Sequence[tuple[NewReject, Reject | None]]
    ) -> None:
        """Keep this run's rejects, each with the open reject of its record if there is one:
        that one counts one more attempt (see :meth:`reject_again`), else the new one is added.
        A record kept once in this run is not kept again: one run is one attempt. An open
        reject takes what the latest rejection says of its record (the row as it is now in
        its source, and why), so a later run retries that, not a version since edited."""
        newer = [
            (old.id, new)
            for new, old in rejects
            if old is not None
            and (old.payload, old.reason, old.field, old.code)
            != (new.payload, new.reason, new.field, new.code)
        ]
        tx.refresh_rejects(newer)
        rejects = [(new, old) for new, old in rejects if _first_time(self._kept, new)]
        self.reject_again(tx, [old for _, old in rejects if old is not None])
        fresh = [new for new, old in rejects if old is None]
        if fresh:
            tx.add_rejects(fresh)

    def reject_again(self, tx: Transaction, rejects: Sequence[Reject]) -> None:
        """Count one more attempt for records rejected before; set aside those out of tries."""
        if not rejects:
            return
        tx.bump_reject_attempts([r.id for r in rejects])
        limit = self.job.max_record_failures
        spent = [r.id for r in rejects if r.attempts + 1 >= limit > 0]
        if spent:
            tx.set_reject_status(spent, "set_aside")

    def check_stop(self) -> None:
        """End the run here (everything before is committed) if a stop was asked for."""
        if self.should_stop is not None and self.should_stop():
            raise RunStopped(
                f"run {self.run_id} of {self.job.name} stopped on request after its last batch"
            )

    def pass_over(self, entity: str, which: str, reason: str) -> None:
        """Count a record a pull that only links could not compare with the hub."""
        count, first = self.passed_over.get(entity, (0, f"{which}: {reason}"))
        self.passed_over[entity] = (count + 1, first)

    def advance(self, entity: str, stage: str, records: int) -> None:
        """Report progress, if anyone listens."""
        if self.progress is not None and records:
            self.progress(entity, stage, records)

    def clock(self) -> datetime:
        """The run's clock (injectable, so tests freeze it)."""
        value = self.now()
        assert isinstance(value, datetime)
        return value
