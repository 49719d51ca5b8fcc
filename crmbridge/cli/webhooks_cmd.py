"""``crmbridge webhooks``: outbound webhook messages that could not be delivered."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated, Any, Protocol, runtime_checkable

import typer
from rich.table import Table

from crmbridge.cli.common import ConfigOption, JsonOption, bridge, emit_json, fail, out, print_table

if TYPE_CHECKING:
    from crmbridge.service import Bridge

__all__ = ["app"]

app = typer.Typer(
    help="List and redeliver outbound webhook messages that could not be delivered.",
    no_args_is_help=True,
)


@runtime_checkable
class _Letters(Protocol):
    def entries(self) -> list[Any]: ...


@runtime_checkable
class _Redelivers(Protocol):
    dead_letters: _Letters

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def redeliver(self, ids: list[int] | None = None) -> list[dict[str, Any]]: ...


ConnectorOption = Annotated[
    str | None,
    typer.Option("--connector", help="The webhook connector \\[default: the only one configured]."),
]


def _connector(service: Bridge, name: str | None) -> tuple[str, _Redelivers]:
    names = [n for n, c in service.config.connectors.items() if c.type == "webhook"]
    if name is None:
        if len(names) != 1:
            fail(
                "name the connector with --connector; webhook connectors: "
                + (", ".join(names) or "none configured"),
                2,
            )
        name = names[0]
    instance = service.connector(name)
    if not isinstance(instance, _Redelivers):
        fail(f"connector {name} keeps no undelivered webhook messages", 2)
    return name, instance


@app.command("dead-letters")
def dead_letters(
    connector: ConnectorOption = None, config: ConfigOption = None, as_json: JsonOption = False
) -> None:
    """List messages waiting for a retry (retrying) or given up (dead), oldest first."""
    name, instance = _connector(bridge(config), connector)
    rows = [letter.summary() for letter in instance.dead_letters.entries()]
    if as_json:
        emit_json({"connector": name, "dead_letters": rows})
        return
    table = Table(title=f"Undelivered messages of {name}: {len(rows)}")
    for column in ("id", "webhook id", "entity", "status", "attempts", "last", "reason", "next"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            str(row["id"]),
            str(row["webhook_id"]),
            str(row["entity"]),
            str(row["status"]),
            str(row["attempts"]),
            str(row["last_status"] or "-"),
            str(row["reason"]),
            str(row["next_attempt_at"] or "-"),
        )
    print_table(table)


@app.command("redeliver")
def redeliver(
    ids: Annotated[list[int] | None, typer.Argument(help="Ids from dead-letters.")] = None,
    every: Annotated[bool, typer.Option("--all", help="Every undelivered message.")] = False,
    connector: ConnectorOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Send messages again now, with their original webhook ids; exit 1 if any still fails."""
    if bool(ids) == every:
        fail("give message ids, or --all", 2)
    name, instance = _connector(bridge(config), connector)

    async def go() -> list[dict[str, Any]]:
        await instance.open()
        try:
            return await instance.redeliver(None if every else list(ids or []))
        finally:
            await instance.close()

    rows = asyncio.run(go())
    if as_json:
        emit_json({"connector": name, "redelivered": rows})
    else:
        for row in rows:
            state = "delivered" if row["delivered"] else "failed again"
            out.print(f"{row['id']} {row['webhook_id']}: {state}")
        if not rows:
            out.print("nothing to redeliver")
    if any(not row["delivered"] for row in rows):
        raise typer.Exit(1)
