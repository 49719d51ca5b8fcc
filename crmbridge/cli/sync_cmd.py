"""``crmbridge sync JOB``: run one job once, or plan it with ``--dry-run``."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

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
from crmbridge.names import COUNT_KEYS

if TYPE_CHECKING:
    from crmbridge.sync.runner import RunReport

__all__ = ["register", "sync"]


def sync(
    job: Annotated[
        str, typer.Argument(help="The job to run, as named under `jobs:` in the config.")
    ],
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Write nothing anywhere, hub included; print what would happen."
        ),
    ] = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run one sync job once and print its report (pulled, created, updated, ... pushed).

    The run holds the job's lease, as the daemon's runs do: while the job runs
    elsewhere (a daemon, another `sync`), it stops at once and says where."""
    from crmbridge.job_lease import JobBusy, holding_job

    service = bridge(config)
    try:
        service.job(job)  # an unknown job is bad usage, named with the jobs there are
    except ConfigError as exc:
        service.close()
        fail(exc, code=2)
    try:
        if dry_run:
            report = asyncio.run(service.sync(job, dry_run=True))
        else:
            service.interrupt_dead_runs()  # a run killed outright was left "running"
            ttl = timedelta(seconds=service.config.server.lease_ttl_s)
            with holding_job(service.store, job, ttl):  # never beside the daemon's run of it
                report = asyncio.run(service.sync(job))
    except JobBusy as exc:
        fail(exc)
    finally:
        service.close()
    if as_json:
        emit_json(report.as_dict())
    else:
        _print(report)
    if report.status != "succeeded":
        raise typer.Exit(1)


def _print(report: RunReport) -> None:
    title = (
        f"{'Plan' if report.dry_run else 'Run'} {report.run_id} of {report.job}: {report.status}"
    )
    table = Table(title=title)
    table.add_column("entity")
    for key in COUNT_KEYS:
        table.add_column(key, justify="right")
    for entity, counts in report.by_entity.items():
        table.add_row(entity, *(str(counts.get(k, 0)) for k in COUNT_KEYS))
    table.add_row("[bold]total[/]", *(f"[bold]{report.counts[k]}[/]" for k in COUNT_KEYS))
    print_table(table)
    # a connector that counts no calls (files, memory) has none to show
    calls = "" if report.api_calls is None else f"API calls {report.api_calls}, "
    out.print(f"{calls}{report.duration_s:.2f} s", highlight=False)
    if report.plan_summary:
        plan = Table(title="What the run would do")
        for column in ("entity", "side", "action", "records"):
            plan.add_column(column)
        summary: dict[str, Any] = report.plan_summary
        for entity, sides in summary.items():
            for side, actions in sides.items():
                for action, n in actions.items():
                    plan.add_row(entity, side, action, str(n))
        out.print(plan)
    for warning in report.warnings:
        err.print(f"[yellow]warning:[/] {warning}", highlight=False)
    if report.error:
        err.print(f"[bold red]error:[/] {report.error['message']}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``sync`` to the root app."""
    app.command("sync")(sync)
