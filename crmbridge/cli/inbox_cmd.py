"""``crmbridge conflicts``: the inbox of conflicts, ambiguous matches and blocked deletes."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from crmbridge.cli.common import ConfigOption, JsonOption, bridge, emit_json, fail, out, print_table

if TYPE_CHECKING:
    from crmbridge.store.rows import InboxItem

__all__ = ["app"]

app = typer.Typer(
    help="List, show and settle conflicts, ambiguous matches and blocked deletes.",
    no_args_is_help=True,
)


def _row(item: InboxItem) -> dict[str, Any]:
    return asdict(item)


@app.command("list")
def list_cmd(
    job: Annotated[str | None, typer.Option(help="Only this job's items.")] = None,
    kind: Annotated[
        str | None, typer.Option(help="conflict, ambiguous_match or blocked_delete.")
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the open inbox items, oldest first."""
    service = bridge(config)
    items = service.store.list_open_inbox(job, kind=kind, limit=10_000)  # type: ignore[arg-type]
    if as_json:
        emit_json({"items": [_row(i) for i in items]})
        return
    table = Table(title=f"Open inbox items: {len(items)}")
    for column in ("id", "kind", "job", "entity", "record", "external id", "fields"):
        table.add_column(column)
    for i in items:
        table.add_row(
            str(i.id),
            i.kind,
            i.job,
            i.entity,
            i.record_id or "",
            i.external_id or "",
            ", ".join(i.fields or []) if i.kind != "ambiguous_match" else "",
        )
    print_table(table)


@app.command("show")
def show_cmd(
    item_id: Annotated[int, typer.Argument(help="The item's id, from `conflicts list`.")],
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one item with its base, hub and remote values."""
    item = bridge(config).store.get_inbox_item(item_id)
    if item is None:
        fail(f"no inbox item {item_id}; `crmbridge conflicts list` shows the open ones")
    if as_json:
        emit_json(_row(item))
        return
    out.print(
        f"#{item.id} {item.kind} ({item.status}) in job {item.job}, "
        f"{item.connector} {item.entity}, record {item.record_id or '-'}, "
        f"remote {item.external_id or '-'}",
        highlight=False,
    )
    table = Table()
    for column in ("field", "base", "hub", "remote"):
        table.add_column(column)
    names = item.fields if item.kind == "conflict" else sorted((item.remote or {}).keys())
    for name in names or []:
        table.add_row(
            name,
            *(
                escape(json.dumps((side or {}).get(name), ensure_ascii=False))
                for side in (item.base, item.hub, item.remote)
            ),
        )
    print_table(table)


def _parse_values(pairs: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            fail(f"--value takes FIELD=JSON, got {pair!r}", code=2)
        try:
            values[name] = json.loads(text)
        except json.JSONDecodeError:
            fail(f"--value {name}: {text!r} is not JSON (quote text: {name}='\"text\"')", code=2)
    return values


@app.command("resolve")
def resolve_cmd(
    item_id: Annotated[int, typer.Argument(help="The item's id, from `conflicts list`.")],
    take: Annotated[
        str | None, typer.Option(help="hub or remote: whose value (or decision) wins.")
    ] = None,
    value: Annotated[
        list[str] | None,
        typer.Option("--value", help="FIELD=JSON: write this value; repeat for more fields."),
    ] = None,
    link: Annotated[
        str | None,
        typer.Option(help="For an ambiguous match: the hub record the remote one is."),
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Settle one item; the next run of its job sends the outcome to the remote."""
    if take is not None and take not in ("hub", "remote"):
        fail(f"--take is hub or remote, not {take!r}", code=2)
    values = _parse_values(value) if value else None
    item = bridge(config).resolve(item_id, take=take, values=values, link=link)
    if as_json:
        emit_json(_row(item))
    else:
        out.print(
            f"#{item.id} resolved: {json.dumps(item.resolution, ensure_ascii=False)}",
            highlight=False,
        )
