"""``crmbridge run``: the daemon: every scheduled job, the HTTP service, leases for replicas."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from crmbridge.cli.common import (
    ConfigOption,
    LogFormatOption,
    LogLevelOption,
    bridge,
    start_logging,
)

__all__ = ["register", "run"]


def run(
    config: ConfigOption = None,
    host: Annotated[
        str | None, typer.Option(help="Address to bind \\[default: server.host].")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to bind \\[default: server.port].", min=1, max=65535)
    ] = None,
    log_format: LogFormatOption = None,
    log_level: LogLevelOption = None,
) -> None:
    """Run every job on its schedule and serve the HTTP endpoint until SIGTERM or Ctrl-C.

    Several replicas may share one PostgreSQL store (a job runs on one of them
    at a time); SQLite serves one process. The first signal lets running syncs
    finish their current batch and exits 0; a second exits at once. SIGHUP is
    logged and ignored (the config is not reloaded: restart to change it).
    """
    from crmbridge.daemon import Daemon, sqlite_guard

    service = bridge(config, every=True)
    settings = service.config
    start_logging(settings, log_format, log_level)
    daemon = Daemon(service, host=host, port=port)
    try:
        with sqlite_guard(str(service.store.url)):
            daemon.check()
            code = asyncio.run(daemon.run())
    finally:
        service.close()
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add ``run`` to the root app."""
    app.command("run")(run)
