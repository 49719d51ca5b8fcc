"""``crmbridge config``: check a config file, or show it with its secrets hidden."""

from __future__ import annotations

import os

import typer
from rich.markup import escape

from crmbridge.cli.common import ConfigOption, JsonOption, config_path, emit_json, err, out

__all__ = ["app"]

app = typer.Typer(help="Check or show the config file.", no_args_is_help=True)


@app.command("check")
def check(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Print every problem in the config with its key path and line; exit 1 if there is any."""
    path = config_path(config)
    from crmbridge.config import check_config
    from crmbridge.registry import discover, settings_models

    problems = check_config(path, os.environ, settings_models(discover()))
    if as_json:
        emit_json(
            {
                "file": str(path),
                "ok": not problems,
                "problems": [
                    {"key": p.key, "message": p.message, "line": p.line, "file": p.file}
                    for p in problems
                ],
            }
        )
    elif problems:
        for problem in problems:
            err.print(
                f"{escape(problem.file or str(path))}: {escape(str(problem))}", highlight=False
            )
        err.print(f"{len(problems)} problem(s) in {escape(str(path))}", highlight=False)
    else:
        out.print(f"{escape(str(path))}: ok", highlight=False)
    if problems:
        raise typer.Exit(1)


@app.command("show")
def show(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Print the config as crmbridge reads it, defaults filled in and secrets hidden.

    A connector whose settings name an unset variable is shown with the value
    empty, and a line on stderr says which commands it stops.
    """
    from crmbridge.config import load_config
    from crmbridge.registry import discover, settings_models

    path = config_path(config)
    loaded = load_config(path, os.environ, settings_models(discover()), only_used=True)
    if as_json:
        emit_json(loaded.redacted())
    else:
        out.print(loaded.redacted_yaml(), highlight=False, markup=False)
    for name in loaded.connectors:
        unusable = loaded.unusable(name)
        if unusable is not None:
            err.print(
                f"[bold yellow]warning:[/] connector {escape(name)} cannot be used until this is "
                f"mended (crmbridge run and serve refuse to start): {escape(str(unusable))}",
                highlight=False,
            )
