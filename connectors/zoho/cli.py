"""``crmbridge zoho ...`` and ``crmbridge sandbox zoho``: commands the Zoho connector adds.

They reach the command line through entry points (``crmbridge.commands`` and
``crmbridge.sandboxes``), so crmbridge itself never imports this package.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.markup import escape

from crmbridge.cli.common import ConfigOption, JsonOption, emit_json, err, fail, load, out

if TYPE_CHECKING:  # the connector loads when a command runs, not with crmbridge --help
    from connectors.zoho.settings import ZohoSettings

__all__ = ["app", "sandbox"]

app = typer.Typer(
    help="Zoho CRM: exchange a grant code, watch modules for changes.", no_args_is_help=True
)

ConnectorOption = Annotated[
    str | None,
    typer.Option(
        "--connector", help="The zoho connector, as named in the config \\[default: the only one]."
    ),
]


def _settings(
    config: Any, name: str | None, *, token_unset: bool = False
) -> tuple[str, ZohoSettings]:
    """The settings of the zoho connector ``name`` (the only one when ``None``); with
    ``token_unset``, its refresh token may be an unset variable (it is being made)."""
    from connectors.zoho.settings import ZohoSettings

    loaded = load(config)
    assert loaded is not None
    zoho = {n: c for n, c in loaded.connectors.items() if c.type == "zoho"}
    if name is None:
        if len(zoho) != 1:
            fail(
                f"name the zoho connector with --connector ({', '.join(sorted(zoho)) or 'none configured'})",
                code=2,
            )
        name = next(iter(zoho))
    if name not in zoho:
        fail(
            f"no zoho connector {name!r} in the config ({', '.join(sorted(zoho)) or 'none configured'})",
            code=2,
        )
    token_key = f"connectors.{name}.refresh_token"
    unusable = loaded.unusable(name)
    only_the_token = token_unset and loaded.unset_keys(name) == [token_key]
    if unusable is not None and not only_the_token:
        fail(unusable)
    raw = dict(zoho[name].settings())
    raw.setdefault("refresh_token", "")
    try:
        return name, ZohoSettings.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        fail(f"connectors.{name}.{'.'.join(str(p) for p in first['loc'])}: {first['msg']}")


@app.command("auth")
def auth(
    grant_code: Annotated[
        str,
        typer.Option(
            "--grant-code", help="A one-time code from the Zoho API console (Self Client)."
        ),
    ],
    connector: ConnectorOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Exchange a Self Client grant code for a refresh token, and say where to put it."""
    from connectors.zoho.auth import exchange_grant_code

    name, settings = _settings(config, connector, token_unset=True)
    token = asyncio.run(exchange_grant_code(settings, grant_code))
    if as_json:
        emit_json({"connector": name, "refresh_token": token})
        return
    out.print(f"refresh token for connector {escape(name)}:\n  {token}", highlight=False)
    err.print(
        "Keep it secret: put it in the environment (for example ZOHO_REFRESH_TOKEN) and refer to it "
        f'as refresh_token: "${{ZOHO_REFRESH_TOKEN}}" under connectors.{name} in the config.',
        highlight=False,
    )


@app.command("watch")
def watch(
    notify_url: Annotated[
        str,
        typer.Option(
            "--notify-url", help="Where Zoho POSTs: this service's /webhooks/<connector>."
        ),
    ],
    modules: Annotated[
        str, typer.Option(help="Comma-separated modules to watch.")
    ] = "Contacts,Accounts,Calls,Events,Tasks",
    connector: ConnectorOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Enable a Zoho notification channel for the synced modules, with a random token."""
    from connectors.zoho.metadata import enable_notifications

    name, settings = _settings(config, connector)
    configured = settings.notify_token.get_secret_value() if settings.notify_token else ""
    token = configured or secrets.token_urlsafe(24)
    channel = asyncio.run(
        enable_notifications(
            settings, [m.strip() for m in modules.split(",") if m.strip()], notify_url, token=token
        )
    )
    if as_json:
        emit_json({"connector": name, **channel})
        return
    out.print(
        f"watching {escape(modules)} for connector {escape(name)}: channel {channel.get('channel_id')}, "
        f"expires {channel.get('expires')}",
        highlight=False,
    )
    if not configured:
        err.print(
            f"A new channel token was made: set it as notify_token under connectors.{name} "
            "(from the environment, for example ZOHO_NOTIFY_TOKEN) so the webhook route can "
            "verify Zoho's callbacks. It is in the channel details: run again with --json.",
            highlight=False,
        )


def sandbox(
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
    config: ConfigOption = None,
) -> None:
    """Serve a Zoho CRM sandbox: OAuth, records, COQL, search, deleted feed, metadata, notifications."""
    from connectors.zoho.sandbox import run_sandbox

    try:
        run_sandbox(port, latency_ms, concurrency, faults, seed_records, seed, host=host)
    except ValueError as exc:
        fail(f"--faults: {exc}", code=2)
