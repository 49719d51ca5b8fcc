"""``crmbridge serve``: the HTTP service alone (webhooks, triggers, status, metrics)."""

from __future__ import annotations

import logging
import signal
from typing import Annotated

import typer

from crmbridge.cli.common import (
    ConfigOption,
    LogFormatOption,
    LogLevelOption,
    bridge,
    err,
    start_logging,
)

__all__ = ["register", "serve"]


def serve(
    config: ConfigOption = None,
    host: Annotated[
        str | None, typer.Option(help="Address to bind \\[default: server.host, 127.0.0.1].")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(help="Port to bind \\[default: server.port, 8080].", min=1, max=65535),
    ] = None,
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="Log every request.")
    ] = True,
    log_format: LogFormatOption = None,
    log_level: LogLevelOption = None,
) -> None:
    """Serve the HTTP endpoint: POST /webhooks/{connector}, POST /jobs/{job}/run, GET /runs/{id},
    /jobs, /conflicts, /healthz, /readyz, /metrics and /docs. Stop with Ctrl-C.

    Logs go to stderr as `crmbridge run` writes them, secrets scrubbed from every
    line (the access log's query strings included)."""
    import uvicorn

    from crmbridge.sync_processes import SyncProcesses
    from crmbridge.web import create_app, ready_to_serve

    service = bridge(config, every=True)
    settings = service.config
    try:
        start_logging(settings, log_format, log_level)
    except typer.BadParameter:
        service.close()
        raise
    server = settings.server
    bind_host = host or server.host
    bind_port = port or server.port
    _ = service.store  # open (and for SQLite, upgrade) now: fail here, not per request
    # httpx logs full URLs at INFO; keep it quiet so no query-string secret reaches the log
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # on PostgreSQL a run triggered over HTTP goes on in a child process, off the serving loop
    children = SyncProcesses.for_bridge(service)
    app = create_app(service, sync=children, lease_jobs=True)  # never beside a daemon's run
    ready_to_serve(service, children)
    err.print(f"crmbridge serving on http://{bind_host}:{bind_port} (docs at /docs)")
    _ignore_hangup()
    try:
        uvicorn.run(
            app,
            host=bind_host,
            port=bind_port,
            access_log=access_log,
            log_config=None,  # the handler setup_logging installed, with its secret filter
            # typed int, but waited for with asyncio.wait_for: 0.5 s is 0.5 s (int() made it
            # 0, and `or None` a wait for ever)
            timeout_graceful_shutdown=server.shutdown_grace_s,  # type: ignore[arg-type]
        )
    finally:
        if children is not None:
            children.close()
        service.close()


def _ignore_hangup() -> None:
    """Log SIGHUP and go on (uvicorn handles only SIGINT and SIGTERM): a closed terminal or
    ``systemctl kill -s HUP`` must not end the endpoint; its workers then ignore it too."""
    from crmbridge.lifetime import hangup_ignored

    hangup = getattr(signal, "SIGHUP", None)  # none on Windows
    if hangup is not None:
        signal.signal(hangup, lambda signum, frame: hangup_ignored("serve"))


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the root app."""
    app.command("serve")(serve)
