"""What every command shares: the ``--config``/``--json`` options, output and failure helpers.

Conventions: a listing or report goes to stdout, as a rich table for people
or, with ``--json``, as exactly one JSON document; logs and errors go to
stderr. Exit 0 on success, 1 on a failure the user must act on, 2 on bad usage.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from crmbridge.errors import CrmBridgeError

if TYPE_CHECKING:  # the engine is imported by the commands that run, not by --help
    from crmbridge.config import Config
    from crmbridge.service import Bridge

__all__ = [
    "ConfigOption",
    "JsonOption",
    "LogFormatOption",
    "LogLevelOption",
    "bridge",
    "config_path",
    "emit_json",
    "err",
    "fail",
    "load",
    "out",
    "print_table",
    "start_logging",
    "store_url",
]

DEFAULT_CONFIG = "crmbridge.yaml"
DEFAULT_STORE_URL = "sqlite:///crmbridge.db"

out = Console(soft_wrap=True)
"""Rich console on stdout, for listings and reports."""
err = Console(stderr=True, soft_wrap=True)
"""Rich console on stderr, for progress, warnings and errors."""


def print_table(table: Table) -> None:
    """Print ``table`` on stdout; off a terminal at its natural width, not cut to 80 columns."""
    (out if out.is_terminal else Console(soft_wrap=True, width=TABLE_WIDTH)).print(table)


TABLE_WIDTH = 200
"""Columns a table may take when stdout is a file or a pipe, which have no width."""

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Config file \\[default: $CRMBRIDGE_CONFIG, else crmbridge.yaml].",
        show_default=False,
        # the config reader says what is wrong with the file, in one line, and how to mend it
        readable=False,
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON document on stdout instead of tables.")
]


def config_path(option: Path | None) -> Path:
    """The config file to use: the option, else ``$CRMBRIDGE_CONFIG``, else ``crmbridge.yaml``."""
    if option is not None:
        return option
    return Path(os.environ.get("CRMBRIDGE_CONFIG") or DEFAULT_CONFIG)


def emit_json(document: Any) -> None:
    """Print one JSON document on stdout (non-ASCII kept as is)."""
    sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2, default=str) + "\n")
    sys.stdout.flush()


def fail(error: CrmBridgeError | str, code: int = 1) -> NoReturn:
    """Print a one-line error on stderr and exit with ``code`` (1: the user must act)."""
    err.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False)
    raise typer.Exit(code)


def load(option: Path | None, *, required: bool = True, every: bool = False) -> Config | None:
    """Load and validate the config (connector settings included).

    With ``required=False`` a missing default config file gives ``None`` (the
    command then runs on the embedded defaults); a file named explicitly must exist.
    An unset variable in a connector's settings stops only a command that uses that
    connector, unless ``every`` connector must be ready (the daemon's commands).
    """
    path = config_path(option)
    explicit = option is not None or bool(os.environ.get("CRMBRIDGE_CONFIG"))
    if not required and not explicit and not path.exists():
        return None
    from crmbridge.config import load_config
    from crmbridge.registry import discover, settings_models

    return load_config(path, os.environ, settings_models(discover()), only_used=not every)


def bridge(option: Path | None, *, every: bool = False) -> Bridge:
    """A :class:`Bridge` over the config (which must exist); ``every`` as for :func:`load`."""
    from crmbridge.service import Bridge

    config = load(option, every=every)
    assert config is not None
    return Bridge(config)


def store_url(config: Config | None) -> str:
    """The hub store's URL from the config, or the embedded default."""
    return config.store.url if config is not None else DEFAULT_STORE_URL


LogFormatOption = Annotated[
    str | None, typer.Option("--log-format", help="text or json \\[default: log.format].")
]
LogLevelOption = Annotated[
    str | None,
    typer.Option("--log-level", help="DEBUG, INFO, WARNING ... \\[default: log.level]."),
]


def start_logging(settings: Config, log_format: str | None, log_level: str | None) -> None:
    """Log as the config's ``log`` section says, ``--log-format``/``--log-level`` winning;
    :class:`typer.BadParameter` for a format that is not text or json."""
    from crmbridge.logs import setup_logging

    fmt = log_format or settings.log.format
    if fmt not in ("text", "json"):
        raise typer.BadParameter("--log-format is text or json")
    setup_logging(log_level or settings.log.level, fmt)
