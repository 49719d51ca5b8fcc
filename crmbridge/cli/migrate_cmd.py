"""``crmbridge migrate``: a one-off migration with progress bars, a report and a safe resume."""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from typing_extensions import override

from crmbridge.cli.common import (
    ConfigOption,
    JsonOption,
    bridge,
    emit_json,
    err,
    fail,
    out,
    print_table,
)
from crmbridge.errors import ConfigError
from crmbridge.migration_progress import MigrationProgress
from crmbridge.names import COUNT_KEYS, ENTITY_NAMES

if TYPE_CHECKING:
    from crmbridge.migrate import MigrationReport

__all__ = ["migrate", "register"]


@dataclass(slots=True)
class _Stage:
    """One entity's leg: what it expects, what it has done, since when."""

    key: str
    total: int | None
    started: float
    done: int = 0
    task: TaskID | None = None

    def rate(self, now: float) -> float:
        return self.done / max(now - self.started, 1e-6)

    def eta(self, now: float) -> str:
        """Time left at the current rate, when the total is known."""
        rate = self.rate(now)
        if self.total is None or not rate:
            return ""
        return str(timedelta(seconds=round(max(self.total - self.done, 0) / rate)))

    def count(self) -> str:
        return f"{self.done}/{self.total}" if self.total is not None else str(self.done)


class _Feedback(MigrationProgress):
    """Progress per entity and leg: rich bars on a terminal, a plain line every few seconds elsewhere.

    Rates count from when each entity's leg began (the leg's start for its
    first entity, the previous entity's last batch for the next); the ETA
    shows whenever the entity's total is known.
    """

    def __init__(
        self,
        live: bool,
        *,
        console: Console = err,
        clock: Callable[[], float] = time.monotonic,
        every_s: float = 2.0,
    ) -> None:
        self.live = live
        self.console = console
        self.clock = clock
        self.every_s = every_s
        self.last_line: float | None = None
        self.run_id: str | None = None
        self.totals: dict[str, dict[str, int | None]] = {}
        self.mark: dict[str, float] = {}
        self.stages: dict[str, _Stage] = {}
        self.current: dict[str, _Stage] = {}
        self.bars = Progress(
            TextColumn("{task.description:<32}"),
            BarColumn(),
            TextColumn("{task.fields[count]:>13}"),
            TextColumn("{task.fields[rate]:>9} rec/s"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[eta]}"),
            console=console,
            disable=not live,
            get_time=clock,
        )

    @override
    def run_started(self, run_id: str) -> None:
        self.run_id = run_id

    @override
    def leg_started(self, leg: str, totals: Mapping[str, int | None]) -> None:
        self.totals[leg] = dict(totals)
        self.mark[leg] = self.clock()

    @override
    def advance(self, entity: str, leg: str, records: int) -> None:
        now = self.clock()
        key = f"{leg} {entity}"
        stage = self.stages.get(key)
        if stage is None:
            previous = self.current.get(leg)
            if previous is not None:
                self._finish(previous)
            total = self.totals.get(leg, {}).get(entity)
            stage = _Stage(key, total, self.mark.get(leg, now))
            self.stages[key] = self.current[leg] = stage
        stage.done += records
        self.mark[leg] = now
        eta = f"ETA {stage.eta(now)}" if stage.eta(now) else ""
        count, rate = stage.count(), f"{stage.rate(now):,.0f}"
        if self.live:
            if stage.task is None:
                stage.task = self.bars.add_task(
                    key, total=stage.total, completed=stage.done, count=count, rate=rate, eta=eta
                )
                self._task(stage.task).start_time = stage.started
            else:
                self.bars.update(stage.task, completed=stage.done, count=count, rate=rate, eta=eta)
        elif self.last_line is None or now - self.last_line >= self.every_s:
            self.last_line = now
            self.console.print(
                f"{key}: {count} records, {rate} records/s" + (f", {eta}" if eta else ""),
                highlight=False,
                markup=False,
            )

    @override
    def leg_finished(self, leg: str, *, complete: bool = True) -> None:
        stage = self.current.pop(leg, None)
        if stage is not None:
            self._finish(stage, complete=complete)

    def _finish(self, stage: _Stage, *, complete: bool = True) -> None:
        """End an entity's bar where it stands (done: its total becomes what was done), or say
        so; a stage the leg did not finish says it stopped there."""
        end = self.mark.get(stage.key.split(" ", 1)[0], self.clock())
        if complete:
            stage.total = stage.done
        if stage.task is not None:
            self.bars.update(
                stage.task,
                total=stage.total,
                completed=stage.done,
                count=stage.count(),
                rate=f"{stage.rate(end):,.0f}",
                eta="" if complete else "stopped",
            )
            self.bars.stop_task(stage.task)
        elif not self.live:
            done = (
                f"{stage.done} records in"
                if complete
                else f"stopped after {stage.count()} records,"
            )
            self.console.print(
                f"{stage.key}: {done} {end - stage.started:.1f} s, "
                f"{stage.rate(end):,.0f} records/s",
                highlight=False,
                markup=False,
            )

    def _task(self, task_id: TaskID) -> Task:
        return next(t for t in self.bars.tasks if t.id == task_id)


def migrate(
    source: Annotated[
        str, typer.Option("--from", help="The connector to migrate from, as named in the config.")
    ],
    target: Annotated[
        str, typer.Option("--to", help="The connector to migrate to, as named in the config.")
    ],
    entities: Annotated[
        str | None,
        typer.Option(
            help=(
                "Comma-separated entities, at least one \\[default: all that both mappings map: "
                f"{', '.join(ENTITY_NAMES)}; with --resume, the run's own]."
            )
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Change nothing; print what would be created, updated and rejected."
        ),
    ] = False,
    resume: Annotated[
        str | None,
        typer.Option(
            help=(
                "Go on with an interrupted migration run from its last committed batch, "
                "with the entities it was asked for; a run that succeeded is refused (exit 2)."
            )
        ),
    ] = None,
    report: Annotated[
        str | None,
        typer.Option(
            help=(
                "Write the report as JSON here (its folder is created), and every record still "
                "rejected beside it as <name>.rejects.csv."
            )
        ),
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Move everything from one connector to another through the hub, with progress and a report.

    Three legs: pull the source into the hub, match the target's records to
    their twins in the hub, push to the target. Records the target already
    holds (found by the mapping's identity rules: email, phone) are updated,
    not created a second time: the source's values win, a field the source
    never held keeps the target's value, and target records with no twin are
    left as they are.
    """
    if source == target:
        fail(f"--from and --to both name {source!r}: a migration moves records between two", 2)
    from crmbridge.migrate import (
        Migration,
        latest_migration_run,
        resumed_migration,
        run_migration,
    )

    report_path = _report_path(report)
    service = bridge(config)
    known = sorted(service.config.connectors)
    for side, name in (("--from", source), ("--to", target)):
        if name not in known:
            service.close()
            fail(f"{side}: no connector {name!r} in the config; connectors: {', '.join(known)}", 2)
    chosen = _entities(entities, service.mappers(source), service.mappers(target))
    if resume is None:
        migration = Migration(source, target, chosen)
    else:
        try:
            migration = resumed_migration(
                service, resume, source, target, chosen if entities is not None else None
            )
        except ConfigError as exc:
            service.close()
            fail(exc, code=2)
    if not dry_run:
        service.interrupt_dead_runs()  # a migration killed outright left its runs "running"
    feedback = _Feedback(live=err.is_terminal and not as_json)
    try:
        with feedback.bars, _terminate_as_interrupt():
            result = asyncio.run(
                run_migration(
                    service,
                    migration,
                    dry_run=dry_run,
                    resume=resume,
                    report_path=report_path,
                    progress=feedback,
                )
            )
    except KeyboardInterrupt:
        last = latest_migration_run(service, source, target) if feedback.run_id is None else None
        again = ["crmbridge", "migrate", *(["-c", str(config)] if config else [])]
        again += ["--from", source, "--to", target]
        again += ["--entities", ",".join(migration.entities)] if entities is not None else []
        again += ["--report", report] if report is not None else []
        again += ["--resume", feedback.run_id or (last.id if last is not None else "RUN_ID")]
        err.print(
            f"interrupted; what was committed stays. Resume with:\n  {shlex.join(again)}",
            highlight=False,
            markup=False,
        )
        raise typer.Exit(130) from None
    finally:
        service.close()
    if as_json:
        emit_json(result.as_dict())
    else:
        _summary(result)
    if result.status not in ("succeeded", "planned"):
        raise typer.Exit(1)


def _report_path(given: str | None) -> Path | None:
    """``--report`` as a path; one ending in a slash names a folder, not the report's file."""
    if given is None:
        return None
    if given.endswith(("/", os.sep)):
        fail(
            f"--report {given}: names a folder; give the report's file, such as {given}report.json",
            2,
        )
    return Path(given)


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """A SIGTERM (``kill``, a container stopping) ends the migration as Ctrl-C does:
    what was committed stays, and the command that resumes it is printed."""
    # a job started in the background (`crmbridge migrate ... &` in a script) ignores SIGINT:
    # raising it would do nothing, so SIGTERM keeps ending the process there
    interruptible = signal.getsignal(signal.SIGINT) is signal.default_int_handler
    if threading.current_thread() is not threading.main_thread() or not interruptible:
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda *_: signal.raise_signal(signal.SIGINT))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _entities(
    asked: str | None, source: Mapping[str, object], target: Mapping[str, object]
) -> tuple[str, ...]:
    if asked is None:
        return tuple(e for e in ENTITY_NAMES if e in source and e in target)
    names = tuple(n.strip() for n in asked.split(",") if n.strip())
    unknown = [n for n in names if n not in ENTITY_NAMES]
    if unknown:
        fail(
            f"unknown entities {', '.join(unknown)}; choose from {', '.join(ENTITY_NAMES)}", code=2
        )
    if not names:
        fail(f"--entities names no entity; choose from {', '.join(ENTITY_NAMES)}", code=2)
    return names


def _summary(result: MigrationReport) -> None:
    verb = "Plan for" if result.dry_run else "Migration"
    table = Table(
        title=f"{verb} {result.source} -> {result.target}: {result.status} ({result.duration_s:.1f} s)",
        caption=f"pull: {result.source} -> hub; match: {result.target}'s records linked to "
        f"their twins; push: hub -> {result.target}"
        + ("; push created/updated: what the target would get" if result.dry_run else ""),
    )
    table.add_column("entity", no_wrap=True)
    table.add_column("leg")
    shown = [k for k in COUNT_KEYS if k != "deleted"]
    for key in shown:
        table.add_column(key, justify="right")
    for entity, legs in result.entities().items():
        for leg_name, counts in legs.items():
            table.add_row(
                entity,
                leg_name,
                *(str(counts.get(k, 0)) for k in shown),
            )
    print_table(table)
    if result.dry_run:
        out.print(
            f"nothing was changed; records that would be rejected: {result.rejects}",
            highlight=False,
        )
    else:
        out.print(f"run {result.run_id}; rejected records: {result.rejects}", highlight=False)
    if result.rejects_file:
        out.print(f"report written; rejects in {result.rejects_file}", highlight=False)
    for leg in result.legs:
        for warning in leg.warnings:
            err.print(f"[yellow]warning:[/] {warning}", highlight=False)
    if result.error:
        err.print(f"[bold red]error:[/] {result.error.get('message')}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``migrate`` to the root app."""
    app.command("migrate")(migrate)
