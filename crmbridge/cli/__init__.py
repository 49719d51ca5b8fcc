"""The ``crmbridge`` command line: thin faces over the service functions.

Each command group lives in its own module and is registered here.
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated, Any

import typer
from rich.markup import escape
from typer.core import TyperGroup

from crmbridge import __version__
from crmbridge.cli import (
    basics_cmd,
    config_cmd,
    db_cmd,
    inbox_cmd,
    mappings_cmd,
    migrate_cmd,
    run_cmd,
    runs_cmd,
    sandbox_cmd,
    serve_cmd,
    status_cmd,
    sync_cmd,
    webhooks_cmd,
)
from crmbridge.cli.common import err
from crmbridge.cli.plugins import add_plugin_commands
from crmbridge.errors import CrmBridgeError
from crmbridge.heap import tune

__all__ = ["app", "main"]


class _Group(TyperGroup):
    """The root group: a foreseeable error becomes one line on stderr and exit 1."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except CrmBridgeError as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=_Group,
    name="crmbridge",
    help=(
        "Keep your own record of customer stakeholders in step with the CRMs your teams use "
        "(Zoho CRM, CSV files, webhooks)."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"crmbridge {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log debug detail on stderr.")
    ] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    tune()


basics_cmd.register(app)
sync_cmd.register(app)
migrate_cmd.register(app)
status_cmd.register(app)
run_cmd.register(app)
serve_cmd.register(app)
app.add_typer(inbox_cmd.app, name="conflicts")
app.add_typer(runs_cmd.app, name="runs")
app.add_typer(sandbox_cmd.app, name="sandbox")
add_plugin_commands(app, sandbox_cmd.app)
app.add_typer(config_cmd.app, name="config")
app.add_typer(mappings_cmd.app, name="mappings")
app.add_typer(db_cmd.app, name="db")
app.add_typer(webhooks_cmd.app, name="webhooks")


def main() -> None:
    """Entry point of the ``crmbridge`` script; a foreseeable error never shows a traceback."""
    try:
        app()
    except CrmBridgeError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
