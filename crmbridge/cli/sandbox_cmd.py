"""``crmbridge sandbox``: local fakes of the CRMs, for rehearsals and tests without an account."""

from __future__ import annotations

from typing import Annotated

import typer

from crmbridge.cli.common import fail

__all__ = ["app"]

app = typer.Typer(
    help="Run a local fake of a CRM's API (no account, no credits spent).", no_args_is_help=True
)


@app.command("zoho")
def zoho(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8790,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    latency_ms: Annotated[int, typer.Option(help="Delay added to every API call.")] = 0,
    concurrency: Annotated[
        int, typer.Option(help="Calls in flight before 429 (0: no limit).")
    ] = 10,
    faults: Annotated[
        str,
        typer.Option(
            help="Faults to inject, e.g. '5xx:0.05,reset:0.02,token_expiry:every=500,partial:0.1'."
        ),
    ] = "",
    seed_records: Annotated[
        int, typer.Option(help="Fill the modules with this many generated records.")
    ] = 0,
    seed: Annotated[
        int, typer.Option(help="Seed of the fault and data generators, so runs repeat.")
    ] = 0,
) -> None:
    """Serve a Zoho CRM sandbox: OAuth, records, COQL, search, deleted feed, metadata, notifications."""
    try:
        from connectors.zoho.sandbox import run_sandbox
    except ImportError as exc:  # the built-in connectors package is not installed
        fail(f"the Zoho sandbox is not available: {exc}")
    try:
        run_sandbox(port, latency_ms, concurrency, faults, seed_records, seed, host=host)
    except ValueError as exc:
        fail(f"--faults: {exc}", code=2)
