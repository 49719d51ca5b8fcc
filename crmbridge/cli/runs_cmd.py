"""``crmbridge runs``: the history of runs, with their reports and rejected records."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from crmbridge.cli.common import (
    ConfigOption,
    JsonOption,
    bridge,
    emit_json,
    fail,
    out,
    print_table,
)

if TYPE_CHECKING:
    from crmbridge.store.rows import Reject, Run

__all__ = ["app"]

app = typer.Typer(help="List runs and show one run's report and rejects.", no_args_is_help=True)


def _run(run: Run) -> dict[str, Any]:
    return asdict(run)


def _reject(reject: Reject) -> dict[str, Any]:
    return asdict(reject)


def _where(reject: Reject) -> str:
    """Where a rejected record is, when its source says (a CSV row: ``file.csv:12``)."""
    from crmbridge.connector import FILE_KEY, LINE_KEY

    data = (reject.payload or {}).get("data") or {}
    file, line = data.get(FILE_KEY), data.get(LINE_KEY)
    if not file:
        return ""
    return f"{Path(str(file)).name}:{line}" if line else Path(str(file)).name


@app.command("list")
def list_cmd(
    job: Annotated[str | None, typer.Option(help="Only this job's runs.")] = None,
    limit: Annotated[int, typer.Option(help="How many runs, newest first.")] = 20,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """List recent runs, newest first."""
    runs = bridge(config).store.list_runs(job, limit=limit)
    if as_json:
        emit_json({"runs": [_run(r) for r in runs]})
        return
    table = Table(title="Runs")
    for column in ("run", "job", "kind", "status", "started", "duration s", "counts"):
        table.add_column(column)
    for r in runs:
        took = (r.finished_at - r.started_at).total_seconds() if r.finished_at else None
        counts = ", ".join(f"{k} {v}" for k, v in (r.counts or {}).items() if v)
        table.add_row(
            r.id,
            r.job,
            r.kind,
            r.status,
            r.started_at.isoformat(timespec="seconds"),
            "" if took is None else f"{took:.2f}",
            counts,
        )
    print_table(table)


@app.command("show")
def show_cmd(
    run_id: Annotated[str, typer.Argument(help="The run's id, from `runs list` or a report.")],
    rejects: Annotated[
        bool,
        typer.Option(
            "--rejects",
            help="List the records this run (or its migration's legs) rejected, again or first.",
        ),
    ] = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one run's report; with --rejects, its rejected records and why."""
    store = bridge(config).store
    run = store.get_run(run_id)
    if run is None:
        fail(f"no run {run_id}; `crmbridge runs list` shows recent ones")
    found = store.list_rejects_met(run) if rejects else []
    if as_json:
        document: dict[str, Any] = {"run": _run(run), "report": run.report}
        if rejects:
            document["rejects"] = [_reject(r) for r in found]
        emit_json(document)
        return
    out.print(f"run {run.id} of {run.job}: {run.status}", highlight=False)
    table = Table()
    table.add_column("count")
    table.add_column("n", justify="right")
    for key, n in (run.counts or {}).items():
        table.add_row(key, str(n))
    print_table(table)
    for warning in (run.report or {}).get("warnings", []):
        out.print(f"warning: {warning}", highlight=False)
    if run.report and run.report.get("error"):
        out.print(f"error: {run.report['error'].get('message')}", highlight=False)
    if rejects:
        listing = Table(title=f"Rejected records: {len(found)}")
        for column in (
            "connector",
            "entity",
            "external id",
            "where",
            "record",
            "field",
            "code",
            "reason",
            "attempts",
            "status",
        ):
            listing.add_column(column)
        for r in found:
            listing.add_row(
                r.connector,
                r.entity,
                r.external_id or "",
                _where(r),
                r.record_id or "",
                r.field or "",
                r.code,
                r.reason,
                str(r.attempts),
                r.status,
            )
        print_table(listing)
