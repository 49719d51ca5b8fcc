"""``crmbridge status``: every job at a glance."""

from __future__ import annotations

import typer
from rich.table import Table

from crmbridge.cli.common import ConfigOption, JsonOption, bridge, emit_json, out

__all__ = ["register", "status"]


def status(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Show every job: schedule, last run, next run, lag, open conflicts, rejects, outbox, lease."""
    rows = bridge(config).status()
    if as_json:
        emit_json({"jobs": rows})
        return
    table = Table(title="Jobs")
    for column in (
        "job",
        "schedule",
        "last run",
        "next run",
        "lag s",
        "conflicts",
        "rejects",
        "outbox",
        "lease",
    ):
        table.add_column(column)
    for row in rows:
        last = row["last_run"]
        table.add_row(
            row["job"],
            row["schedule"],
            "-" if last is None else f"{last['status']} {last['started_at'][:19]}",
            row["next_run"] or "-",
            "-" if row["lag_s"] is None else str(row["lag_s"]),
            str(row["open_conflicts"]),
            str(row["open_rejects"]),
            str(row["outbox_depth"]),
            row["lease_holder"] or "-",
        )
    out.print(table)


def register(app: typer.Typer) -> None:
    """Add ``status`` to the root app."""
    app.command("status")(status)
