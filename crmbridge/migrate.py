"""One-off migrations: everything from one connector to another, through the hub.

A migration is up to three legs of the ordinary sync engine: a *pull* leg
from the source into the hub, a *match* leg over the target, then a *push*
leg from the hub to the target. Each leg commits page by page, the pull with
its cursor, so an interrupted migration (Ctrl-C, ``kill -9``) resumes from
its last committed batch: nothing committed is written to the hub again, and
the push leg's outbox makes sure nothing is sent twice. A resumed pull reads
the source from its saved cursor, which for a source read in one pass (a CSV
file) is the start: it is read again whole, and the records the hub already
holds count as unchanged.

The match leg runs when the target's connector lists its records
(:attr:`~crmbridge.connector.Capabilities.lists_records`) and some hub record
of the entity has no link to the target yet. It lists the target whole and
links each record with a twin in the hub by the mapping's identity rules
(email, phone, ...), merging the two: the source's value wins a field both
hold, a field the source never held keeps the target's value; it creates
nothing in the hub. A twin is then updated by the push, not created a second
time; a target record with no twin is left as it is. A target record the
match cannot read or map is passed over with a warning (it may then be
duplicated). Target records that all match one hub record (the target holds
that person twice) go to the inbox, and the push holds the hub record back
until the match is settled.

Before that, the match leg asks a target that can tell cheaply
(:class:`~crmbridge.connector.ChecksPresence`) which linked records it still
holds, and forgets the links of those it lost (an export file deleted): the
push sends them again (:mod:`crmbridge.sync.presence`).

The push leg sends every hub record of the chosen entities the target has not
seen, which on a fresh hub is exactly what the source held. In a conflict the
source wins on every leg; deletes are not migrated.

A resumed run migrates the entities its first run was asked for
(:func:`resumed_migration`); a run that succeeded has nothing to resume.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from crmbridge.cells import neutralise
from crmbridge.connector import FILE_KEY, LINE_KEY
from crmbridge.errors import ConfigError, CrmBridgeError
from crmbridge.migration_progress import MigrationProgress
from crmbridge.model import ENTITY_ORDER
from crmbridge.service import Bridge
from crmbridge.store.rows import Reject, Run
from crmbridge.sync.job import COUNT_KEYS, SyncJob
from crmbridge.sync.merge import ConflictPolicy, Policy
from crmbridge.sync.runner import Leg, RunReport, dry_run_legs, run_job
from crmbridge.sync.unreadable import READ

__all__ = [
    "REJECT_COLUMNS",
    "Migration",
    "MigrationProgress",
    "MigrationReport",
    "latest_migration_run",
    "migration_job_name",
    "prepare_report_path",
    "rejects_path",
    "resumed_migration",
    "run_migration",
]

log = logging.getLogger(__name__)


_STAGE = {"pull": "pull", "match": "pull", "push": "push"}
"""The legs of a migration, in the order they run (the match leg only for a target that
lists its records), and the sync stage each runs, whose progress it shows."""


def migration_job_name(source: str, target: str) -> str:
    """The job name both legs of a migration run under; its cursors make ``--resume`` work."""
    return f"migrate-{source}-to-{target}"


@dataclass(frozen=True, slots=True)
class Migration:
    """What to migrate: from which connector to which, and which entities."""

    source: str
    target: str
    entities: tuple[str, ...] = ENTITY_ORDER

    def jobs(self, bridge: Bridge, *, match_target: bool = True) -> list[tuple[str, SyncJob]]:
        """Each leg's name and job, in order: pull, then match (with ``match_target``), push."""
        name = migration_job_name(self.source, self.target)
        common: dict[str, Any] = {
            "entities": self.entities,
            "deletes": "ignore",
            "phone_region": bridge.config.defaults.phone_region,
        }
        # the source wins: it is the pull leg's remote, and the hub speaks for it to the target
        source_wins, hub_wins = ConflictPolicy(Policy.REMOTE), ConflictPolicy(Policy.HUB)
        legs = [
            ("pull", SyncJob(name, self.source, direction="pull", conflicts=source_wins, **common))
        ]
        if match_target:
            match = SyncJob(
                name,
                self.target,
                direction="pull",
                conflicts=hub_wins,
                migrating_from=self.source,
                **common,
            )
            legs.append(("match", match))
        push = SyncJob(name, self.target, direction="push", conflicts=hub_wins, **common)
        legs.append(("push", push))
        return legs


@dataclass(slots=True)
class MigrationReport:
    """The outcome: counts per leg and entity, rejects, where the rejects file is."""

    run_id: str
    source: str
    target: str
    status: str
    legs: list[RunReport] = field(default_factory=list)
    leg_names: list[str] = field(default_factory=list)
    """The name of each of ``legs``: ``pull``, ``match`` (not for every target), ``push``."""
    duration_s: float = 0.0
    rejects_file: str | None = None
    rejects: int = 0
    dry_run: bool = False
    error: dict[str, Any] | None = None

    def entities(self) -> dict[str, dict[str, dict[str, int]]]:
        """Counts by entity, then by leg (``pull`` from the source, ``match`` and ``push`` the target).

        In a dry run the push leg's ``created`` and ``updated`` say what the
        target would get.
        """
        table: dict[str, dict[str, dict[str, int]]] = {}
        for leg_name, leg in zip(self.leg_names, self.legs, strict=False):
            planned = (leg.plan_summary or {}) if leg_name == "push" else {}
            for entity, counts in leg.by_entity.items():
                row = {k: counts.get(k, 0) for k in COUNT_KEYS}
                remote = planned.get(entity, {}).get("remote", {})
                if remote:
                    row["created"] = remote.get("create", 0)
                    row["updated"] = remote.get("update", 0)
                table.setdefault(entity, {})[leg_name] = row
        return {e: table[e] for e in sorted(table, key=_entity_rank)}

    def as_dict(self) -> dict[str, Any]:
        """The report as ``--report FILE`` and ``--json`` write it."""
        data: dict[str, Any] = {
            "run_id": self.run_id,
            "from": self.source,
            "to": self.target,
            "status": self.status,
            "dry_run": self.dry_run,
            "entities": self.entities(),
            "legs": [
                {"leg": name, **leg.as_dict()}
                for name, leg in zip(self.leg_names, self.legs, strict=False)
            ],
            "rejects": self.rejects,
            "rejects_file": self.rejects_file,
            "duration_s": round(self.duration_s, 3),
        }
        if self.error is not None:
            data["error"] = self.error
        return data


def _entity_rank(entity: str) -> int:
    """Where ``entity`` goes in a report: parents first, as the legs visit them."""
    return ENTITY_ORDER.index(entity) if entity in ENTITY_ORDER else len(ENTITY_ORDER)


def latest_migration_run(bridge: Bridge, source: str, target: str) -> Run | None:
    """The newest migration run from ``source`` to ``target`` (not its legs' sync runs)."""
    return bridge.store.last_run(migration_job_name(source, target), kind="migrate")


def resumed_migration(
    bridge: Bridge,
    run_id: str,
    source: str,
    target: str,
    entities: Sequence[str] | None = None,
) -> Migration:
    """The migration run ``run_id`` was doing, to resume it with the entities it was asked for.

    Raises :class:`ConfigError` when there is no such migration run, when it
    migrated other connectors, when ``entities`` (if given) differ from the
    ones it was asked for, or when it already succeeded (nothing to resume).
    """
    earlier = bridge.store.get_run(run_id)
    if earlier is None or earlier.kind != "migrate":
        raise ConfigError(f"no migration run {run_id}; `crmbridge runs list` shows the runs")
    saved = earlier.report or {}
    asked = saved.get("from"), saved.get("to")
    if asked != (source, target):
        raise ConfigError(
            f"run {run_id} migrated {asked[0]} to {asked[1]}, not {source} to "
            f"{target}; resume it with --from {asked[0]} --to {asked[1]}"
        )
    if earlier.status == "succeeded":
        raise ConfigError(
            f"run {run_id} already succeeded, so there is nothing to resume; run the "
            f"migration again without --resume to bring over what changed since"
        )
    kept = tuple(e for e in ENTITY_ORDER if e in (saved.get("entities_asked") or ENTITY_ORDER))
    if entities is not None and set(entities) != set(kept):
        raise ConfigError(
            f"run {run_id} migrates {', '.join(kept)}; resume it without --entities "
            f"(or with --entities {','.join(kept)})"
        )
    return Migration(source, target, kept)


async def run_migration(
    bridge: Bridge,
    migration: Migration,
    *,
    dry_run: bool = False,
    resume: str | None = None,
    report_path: Path | None = None,
    progress: MigrationProgress | None = None,
) -> MigrationReport:
    """Run (or plan) a migration and write its report and rejects files when asked.

    With ``resume``, ``migration`` must be the one that run was doing (see
    :func:`resumed_migration`). The report's folder is made before anything
    runs. The run record is closed whatever happens; a report that cannot be
    written at the end never hides the error or interrupt that ended the run.
    """
    for name in (migration.source, migration.target):
        _check_mapped(bridge, name, migration.entities)
    if resume is not None:
        resumed_migration(bridge, resume, migration.source, migration.target, migration.entities)
    if report_path is not None:
        prepare_report_path(report_path)
    source = bridge.connector(migration.source, dry_run=dry_run)
    target = bridge.connector(migration.target, dry_run=dry_run, migration_target=True)
    jobs = migration.jobs(bridge, match_target=target.capabilities.lists_records)
    connectors = {migration.source: source, migration.target: target}
    started = time.monotonic()
    if dry_run:
        legs = await dry_run_legs(
            bridge.store,
            [Leg(job, connectors[job.connector], bridge.mappers(job.connector)) for _, job in jobs],
            now=bridge.now,
        )
        report = MigrationReport(
            "dry-run",
            migration.source,
            migration.target,
            "planned",
            legs,
            [n for n, _ in jobs],
            dry_run=True,
        )
        report.status = "failed" if any(leg.status != "succeeded" for leg in legs) else "planned"
        report.error = next((leg.error for leg in legs if leg.error), None)
        report.duration_s = time.monotonic() - started
        rejects = _planned_rejects(jobs, legs)
        report.rejects = len(rejects)
        _write_report(report, report_path, rejects)
        return report

    shown = progress or MigrationProgress()
    run = _start(bridge, migration, resume)
    shown.run_started(run.id)
    report = MigrationReport(run.id, migration.source, migration.target, "running")
    met: list[tuple[str, str, datetime]] = []
    try:
        for leg_name, job in jobs:
            if leg_name != "match":  # the match leg keeps no rejects
                met.append((leg_name, job.connector, bridge.now()))
            shown.leg_started(leg_name, _totals(bridge, migration, leg_name, report))
            try:
                leg = await run_job(
                    bridge.store,
                    job,
                    connectors[job.connector],
                    bridge.mappers(job.connector),
                    now=bridge.now,
                    progress=_leg_progress(shown, leg_name),
                )
            except BaseException:
                shown.leg_finished(leg_name, complete=False)
                raise
            shown.leg_finished(leg_name, complete=leg.status == "succeeded")
            report.legs.append(leg)
            report.leg_names.append(leg_name)
            if leg.status != "succeeded":
                report.error = leg.error
                break
        report.status = "succeeded" if report.error is None else "failed"
    except BaseException:
        report.status = "interrupted"
        _close(bridge, migration, run, report, report_path, met, started, quiet=True)
        raise
    _close(bridge, migration, run, report, report_path, met, started, quiet=False)
    return report


def _close(
    bridge: Bridge,
    migration: Migration,
    run: Run,
    report: MigrationReport,
    report_path: Path | None,
    met: Sequence[tuple[str, str, datetime]],
    started: float,
    *,
    quiet: bool,
) -> None:
    """Write the report files and record how the run ended, even if the files cannot be written.

    ``quiet``: an exception is already on its way, so a report that cannot be
    written is logged instead of raised, not to replace it.
    """
    report.duration_s = time.monotonic() - started
    problem: CrmBridgeError | None = None
    try:
        rejects = _rejects(bridge, migration, met)
        report.rejects = len(rejects)
        _write_report(report, report_path, rejects)
    except CrmBridgeError as exc:
        problem = exc
    finally:
        bridge.store.finish_run(
            run.id,
            report.status,  # type: ignore[arg-type]
            counts={k: sum(leg.counts.get(k, 0) for leg in report.legs) for k in COUNT_KEYS},
            report={**report.as_dict(), "entities_asked": list(migration.entities)},
        )
    if problem is not None:
        if not quiet:
            raise problem
        log.warning("%s", problem)


def _check_mapped(bridge: Bridge, connector: str, entities: Sequence[str]) -> None:
    mapped = bridge.mappers(connector)
    missing = [e for e in entities if e not in mapped]
    if missing:
        raise ConfigError(
            f"the mapping of {connector} does not map {', '.join(missing)}; "
            f"choose entities with --entities"
        )


def _leg_progress(shown: MigrationProgress, leg: str) -> Callable[[str, str, int], None]:
    """The progress of one leg's own stage, shown as the leg's."""
    own = _STAGE[leg]

    def advance(entity: str, stage: str, records: int) -> None:
        if stage == own:
            shown.advance(entity, leg, records)

    return advance


def _start(bridge: Bridge, migration: Migration, resume: str | None) -> Run:
    run = bridge.store.start_run(
        migration_job_name(migration.source, migration.target),
        "migrate",
        host=socket.gethostname(),
        pid=os.getpid(),
    )
    # the report is written at the end; record what was asked now, so a killed run can resume
    bridge.store.finish_run(
        run.id,
        "running",
        report={
            "from": migration.source,
            "to": migration.target,
            "entities_asked": list(migration.entities),
            "resumes": resume,
        },
    )
    return run


def _totals(
    bridge: Bridge, migration: Migration, leg: str, report: MigrationReport
) -> dict[str, int | None]:
    """How many records each entity of ``leg`` expects, counted as the leg starts.

    Neither a source nor a target can say how many records it holds without
    reading them, so the pull and the match expect none. The push, counted
    after the pull filled the hub (and the match linked the target's twins),
    expects the records the target has no link to yet plus those the pull
    just updated (an estimate: a record with nothing new to send is skipped).
    """
    if leg != "push":
        return dict.fromkeys(migration.entities)
    store = bridge.store
    pulled = dict(zip(report.leg_names, report.legs, strict=False)).get("pull")
    updated = pulled.by_entity if pulled is not None else {}
    return {
        entity: max(0, store.count_records(entity) - store.count_links(migration.target, entity))
        + updated.get(entity, {}).get("updated", 0)
        for entity in migration.entities
    }


def rejects_path(report_path: Path) -> Path:
    """Where the rejected records go beside a report: ``<name>.rejects.csv``."""
    return report_path.with_name(report_path.stem + ".rejects.csv")


def prepare_report_path(report_path: Path) -> None:
    """Make sure a report and its rejects file can go there: create their folder.

    Raises :class:`ConfigError` naming the path when they cannot, so a
    migration fails before it starts rather than after it has run.
    """
    for path in (report_path, rejects_path(report_path)):
        if path.is_dir():
            raise ConfigError(f"cannot write the report to {path}: it is a folder")
    try:
        report_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the report's folder {report_path.parent}: {exc.strerror}"
        ) from None


REJECT_COLUMNS = (
    "leg",
    "connector",
    "entity",
    "file",
    "line",
    "external_id",
    "record_id",
    "field",
    "code",
    "reason",
    "attempts",
)
"""The columns of a migration's ``<name>.rejects.csv``."""


def _rejects(
    bridge: Bridge, migration: Migration, met: Sequence[tuple[str, str, datetime]]
) -> list[dict[str, Any]]:
    """Every record still rejected that this run's legs met.

    A reject retried by a later run keeps the id of the run that first
    rejected it, so these are the open rejects of each leg's connector and
    entities seen since that leg started; and those of records that could
    not be read, which stay open until a read finds them mended or gone (a
    source not changed since, such as a CSV file, is not read again). Those are
    marked as met by this run, so ``crmbridge runs show RUN --rejects`` lists them too.
    """
    job = migration_job_name(migration.source, migration.target)
    rows: list[dict[str, Any]] = []
    for leg_name, connector, since in met:
        for entity in migration.entities:
            found = {r.id: r for r in bridge.store.list_rejects_seen(job, connector, entity, since)}
            unread = [
                r.id
                for r in bridge.store.list_open_rejects(job, connector=connector, entity=entity)
                if (r.payload or {}).get("side") == READ and found.setdefault(r.id, r) is r
            ]
            bridge.store.touch_rejects(unread)
            rows.extend(_reject_row(leg_name, r) for r in sorted(found.values(), key=_line))
    return rows


def _line(reject: Reject) -> tuple[str, int]:
    """Where a rejected record is in its file (records from no file first)."""
    data = (reject.payload or {}).get("data") or {}
    line = data.get(LINE_KEY)
    return str(data.get(FILE_KEY, "")), line if isinstance(line, int) else 0


def _reject_row(leg: str, r: Reject) -> dict[str, Any]:
    data = (r.payload or {}).get("data") or {}
    return {
        "leg": leg,
        "connector": r.connector,
        "entity": r.entity,
        "file": data.get(FILE_KEY, ""),
        "line": data.get(LINE_KEY, ""),
        "external_id": r.external_id or "",
        "record_id": r.record_id or "",
        "field": r.field or "",
        "code": r.code,
        "reason": r.reason,
        "attempts": r.attempts,
    }


def _planned_rejects(
    jobs: Sequence[tuple[str, SyncJob]], legs: Sequence[RunReport]
) -> list[dict[str, Any]]:
    """What a dry run would reject, from its plan (no attempts: nothing is recorded)."""
    return [
        {
            "leg": leg_name,
            "connector": job.connector,
            "entity": item["entity"],
            "file": (item.get("where") or {}).get(FILE_KEY, ""),
            "line": (item.get("where") or {}).get(LINE_KEY, ""),
            "external_id": item.get("external_id") or "",
            "record_id": item.get("record_id") or "",
            "field": item.get("field") or "",
            "code": item.get("code") or "",
            "reason": item.get("reason") or "",
            "attempts": "",
        }
        for (leg_name, job), leg in zip(jobs, legs, strict=False)
        for item in leg.plan or ()
        if item.get("action") == "reject"
    ]


def _write_report(
    report: MigrationReport, path: Path | None, rejects: Sequence[dict[str, Any]]
) -> None:
    if path is None:
        return
    beside = rejects_path(path)
    report.rejects_file = str(beside)
    try:
        with beside.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=REJECT_COLUMNS)
            writer.writeheader()
            # people open it in a spreadsheet, and a rejected cell is whatever the source held
            writer.writerows(
                {k: neutralise(v) if isinstance(v, str) else v for k, v in row.items()}
                for row in rejects
            )
        path.write_text(
            json.dumps(report.as_dict(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
    except OSError as exc:
        raise CrmBridgeError(f"cannot write the report {path}: {exc.strerror}") from None
