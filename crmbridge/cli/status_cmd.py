"""``crmbridge status``: every job at a glance."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from crmbridge.cli.common import ConfigOption, JsonOption, bridge, emit_json, print_table

__all__ = ["register", "status"]


def status(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Show every job: schedule, last run, next run, lag, open conflicts, rejects, outbox, lease.

    The next run is the live scheduler's while `crmbridge run` is up ("scheduler"),
    else computed from the config's schedule and the last run ("config").
    """
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
            _next_run(row),
            "-" if row["lag_s"] is None else str(row["lag_s"]),
            str(row["open_conflicts"]),
            str(row["open_rejects"]),
            str(row["outbox_depth"]),
            row["lease_holder"] or "-",
        )
    print_table(table)


def _next_run(row: dict[str, Any]) -> str:
    if row["next_run"] is None:
        return "-"
    return f"{row['next_run']} ({row['next_run_source']})"


def register(app: typer.Typer) -> None:
    """Add ``status`` to the root app."""
    app.command("status")(status)
