"""``crmbridge migrate``: a one-off migration with progress bars, a report and a safe resume."""

from __future__ import annotations

import asyncio
import shlex
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from crmbridge.cli.common import ConfigOption, JsonOption, bridge, emit_json, err, fail, out
from crmbridge.errors import ConfigError
from crmbridge.migrate import (
    Migration,
    MigrationReport,
    latest_migration_run,
    resumed_migration,
    run_migration,
)
from crmbridge.model import ENTITY_ORDER
from crmbridge.sync.job import COUNT_KEYS

__all__ = ["migrate", "register"]


class _Feedback:
    """Progress per entity and leg: rich bars on a terminal, a plain line every few seconds elsewhere."""

    def __init__(self, totals: dict[str, int], live: bool) -> None:
        self.live = live
        self.totals = totals
        self.done: dict[str, int] = {}
        self.started = time.monotonic()
        self.last_line = 0.0
        self.bars = Progress(
            TextColumn("{task.description:<32}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>9} rec/s"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err,
            disable=not live,
        )
        self.tasks: dict[str, TaskID] = {}

    def __call__(self, entity: str, stage: str, records: int) -> None:
        key = f"{stage} {entity}"
        self.done[key] = self.done.get(key, 0) + records
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = f"{self.done[key] / elapsed:,.0f}"
        if self.live:
            if key not in self.tasks:
                self.tasks[key] = self.bars.add_task(key, total=self.totals.get(key), rate=rate)
            self.bars.update(self.tasks[key], completed=self.done[key], rate=rate)
        elif time.monotonic() - self.last_line >= 2.0:
            self.last_line = time.monotonic()
            total = self.totals.get(key)
            of = f"/{total}" if total else ""
            err.print(f"{key}: {self.done[key]}{of} records, {rate} records/s", highlight=False)


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
            help=f"Comma-separated entities [default: all the mappings map: {', '.join(ENTITY_ORDER)}]."
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
        Path | None,
        typer.Option(
            help="Write the report as JSON here, and the rejected records beside it as <name>.rejects.csv."
        ),
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Move everything from one connector to another through the hub, with progress and a report."""
    service = bridge(config)
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
    totals = {f"push {e}": service.store.count_records(e) for e in chosen} if not dry_run else {}
    feedback = _Feedback(totals, live=sys.stderr.isatty() and not as_json)
    try:
        with feedback.bars:
            result = asyncio.run(
                run_migration(
                    service,
                    migration,
                    dry_run=dry_run,
                    resume=resume,
                    report_path=report,
                    progress=feedback,
                )
            )
    except KeyboardInterrupt:
        last = latest_migration_run(service, source, target)
        again = ["crmbridge", "migrate", *(["-c", str(config)] if config else [])]
        again += ["--from", source, "--to", target]
        again += ["--entities", ",".join(migration.entities)] if entities is not None else []
        again += ["--report", str(report)] if report is not None else []
        again += ["--resume", last.id if last is not None else "RUN_ID"]
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


def _entities(
    asked: str | None, source: Mapping[str, object], target: Mapping[str, object]
) -> tuple[str, ...]:
    if asked is None:
        return tuple(e for e in ENTITY_ORDER if e in source and e in target)
    names = tuple(n.strip() for n in asked.split(",") if n.strip())
    unknown = [n for n in names if n not in ENTITY_ORDER]
    if unknown:
        fail(
            f"unknown entities {', '.join(unknown)}; choose from {', '.join(ENTITY_ORDER)}", code=2
        )
    return names


def _summary(result: MigrationReport) -> None:
    verb = "Plan for" if result.dry_run else "Migration"
    table = Table(
        title=f"{verb} {result.source} -> {result.target}: {result.status} ({result.duration_s:.1f} s)",
        caption=f"pull: {result.source} -> hub; push: hub -> {result.target}",
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
    out.print(table)
    if not result.dry_run:
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
