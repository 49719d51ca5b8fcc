"""``crmbridge sandbox fxiaoke``: the command the Fxiaoke connector adds.

It reaches the command line through the ``crmbridge.sandboxes`` entry point, so
crmbridge itself never imports this package.
"""

from __future__ import annotations

from typing import Annotated

import typer

from crmbridge.cli.common import ConfigOption, fail

__all__ = ["sandbox"]


def sandbox(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8791,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    latency_ms: Annotated[int, typer.Option(help="Delay added to every business call.")] = 0,
    rate_limit: Annotated[
        int, typer.Option(help="Calls per endpoint per --rate-window before 14001 (0: no limit).")
    ] = 100,
    rate_window: Annotated[float, typer.Option(help="Seconds of the rate-limit window.")] = 20.0,
    daily_quota: Annotated[
        int, typer.Option(help="Business calls per day before 30002 (-1: unlimited, 0: 30003).")
    ] = -1,
    token_lifetime: Annotated[int, typer.Option(help="Seconds a token lives.")] = 7200,
    token_max_calls: Annotated[
        int, typer.Option(help="A token dies (20016) after this many calls (0: never).")
    ] = 0,
    faults: Annotated[
        str,
        typer.Option(
            help="Faults to inject, e.g. 'busy:0.05,limit:at=3,reset:0.02@after@write,timeout:0.01@2s'."
        ),
    ] = "",
    seed_contacts: Annotated[int, typer.Option(help="Generated ContactObj records.")] = 0,
    seed_accounts: Annotated[int, typer.Option(help="Generated AccountObj records.")] = 0,
    seed_activities: Annotated[int, typer.Option(help="Generated ActiveRecordObj records.")] = 0,
    seed_custom: Annotated[int, typer.Option(help="Generated custom-object records.")] = 0,
    custom_object: Annotated[
        str, typer.Option(help="apiName of the custom object.")
    ] = "RequirementChange__c",
    seed: Annotated[
        int, typer.Option(help="Seed of the fault and data generators, so runs repeat.")
    ] = 0,
    config: ConfigOption = None,
) -> None:
    """Serve a Fxiaoke OpenAPI sandbox: both token conventions, objects, limits, faults."""
    from connectors.fxiaoke.sandbox import SandboxOptions, run_sandbox

    if not custom_object.endswith("__c"):
        fail("--custom-object: a custom object's apiName ends in __c", code=2)

    options = SandboxOptions(
        host=host,
        port=port,
        latency_ms=latency_ms,
        rate_limit=rate_limit,
        rate_window_s=rate_window,
        daily_quota=None if daily_quota < 0 else daily_quota,
        token_lifetime_s=token_lifetime,
        token_max_calls=token_max_calls,
        faults=faults,
        seed_contacts=seed_contacts,
        seed_accounts=seed_accounts,
        seed_activities=seed_activities,
        seed_custom=seed_custom,
        custom_object=custom_object,
        seed=seed,
    )
    try:
        run_sandbox(options)
    except ValueError as exc:
        fail(f"--faults: {exc}", code=2)
