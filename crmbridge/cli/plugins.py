"""Commands that installed packages add to the command line, through entry points.

A connector package may bring commands of its own without crmbridge importing
it: a Typer app in the group ``crmbridge.commands`` becomes ``crmbridge NAME``,
and a command function in ``crmbridge.sandboxes`` becomes ``crmbridge sandbox
NAME``. A package whose commands fail to load is skipped (``crmbridge
connectors`` says why its connector failed).
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points
from typing import Any

import typer

__all__ = ["add_plugin_commands"]

log = logging.getLogger(__name__)


def _load(group: str) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for entry in sorted(entry_points(group=group), key=lambda e: e.name):
        try:
            found.append((entry.name, entry.load()))
        except Exception as exc:  # one broken package must not take the CLI down
            log.debug("commands %s from %s not loaded: %s", entry.name, entry.value, exc)
    return found


def add_plugin_commands(app: typer.Typer, sandbox: typer.Typer) -> None:
    """Add installed command groups to ``app`` and sandbox commands to ``sandbox``."""
    for name, group in _load("crmbridge.commands"):
        if isinstance(group, typer.Typer):
            app.add_typer(group, name=name)
    for name, command in _load("crmbridge.sandboxes"):
        if callable(command):
            sandbox.command(name)(command)
