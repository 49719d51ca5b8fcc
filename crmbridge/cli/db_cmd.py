"""``crmbridge db``: create, upgrade and inspect the hub store's schema."""

from __future__ import annotations

import typer
from rich.markup import escape

from crmbridge.cli.common import ConfigOption, JsonOption, emit_json, load, out, store_url

__all__ = ["app"]

app = typer.Typer(help="Create, upgrade and inspect the hub store.", no_args_is_help=True)


@app.command("upgrade")
def upgrade_cmd(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Create or upgrade the hub store's tables; running it again changes nothing."""
    from crmbridge.store.engine import describe, normalize_url
    from crmbridge.store.schema import current_revision, upgrade

    url = store_url(load(config, required=False))
    before = current_revision(url)
    upgrade(url)
    after = current_revision(url)
    where = describe(normalize_url(url))
    if as_json:
        emit_json({"store": where, "from": before, "to": after, "changed": before != after})
    elif before == after:
        out.print(f"{escape(where)}: already at {after}", highlight=False)
    else:
        out.print(f"{escape(where)}: upgraded {before or 'empty'} -> {after}", highlight=False)


@app.command("current")
def current_cmd(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Show the store's schema revision; exit 1 if it is not the one this version needs."""
    from crmbridge.store.engine import describe, normalize_url
    from crmbridge.store.schema import current_revision, head_revision

    url = store_url(load(config, required=False))
    revision, head = current_revision(url), head_revision()
    where = describe(normalize_url(url))
    if as_json:
        emit_json({"store": where, "revision": revision, "head": head, "current": revision == head})
    else:
        state = "current" if revision == head else f"needs `crmbridge db upgrade` to {head}"
        out.print(f"{escape(where)}: {revision or 'empty'} ({state})", highlight=False)
    if revision != head:
        raise typer.Exit(1)
