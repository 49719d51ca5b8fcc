"""``crmbridge connectors`` and ``crmbridge schema``: what is installed and what the model is."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from crmbridge.cli.common import ConfigOption, JsonOption, emit_json, fail, out, print_table
from crmbridge.names import ENTITY_NAMES

__all__ = ["connectors", "register", "schema"]

_FLAGS = (
    "read",
    "write",
    "delete",
    "incremental",
    "push_notifications",
    "fetch_by_ids",
    "lists_records",
)


def connectors(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """List every installed connector with its capabilities; one that fails to load is reported."""
    from crmbridge.registry import discover

    found = discover()
    rows: list[dict[str, Any]] = []
    for name, ct in found.items():
        caps = ct.capabilities
        row: dict[str, Any] = {
            "type": name,
            "target": ct.target,
            "distribution": ct.distribution,
            "loaded": ct.error is None,
            "error": ct.error,
        }
        if caps is not None:
            row["entities"] = list(caps.entities)
            row.update({flag: getattr(caps, flag) for flag in _FLAGS})
        rows.append(row)
    if as_json:
        emit_json({"connectors": rows})
        return
    table = Table(title="Installed connectors")
    for column in ("type", "entities", "read", "write", "delete", "incremental", "push", "status"):
        table.add_column(column)
    for row in rows:
        if not row["loaded"]:
            table.add_row(row["type"], "", "", "", "", "", "", f"[red]failed: {row['error']}[/]")
            continue
        yes = {True: "yes", False: "-"}
        table.add_row(
            row["type"],
            ", ".join(row["entities"]),
            *(yes[row[f]] for f in ("read", "write", "delete", "incremental")),
            yes[row["push_notifications"]],
            "ok",
        )
    print_table(table)


def schema(
    entity: Annotated[
        str | None,
        typer.Argument(help=f"One of: {', '.join(ENTITY_NAMES)}. Without it, all of them."),
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print the JSON Schema of a canonical entity (or of all of them), always as JSON."""
    from crmbridge.model import ENTITIES

    if entity is None:
        document: dict[str, Any] = {
            name: model.model_json_schema() for name, model in ENTITIES.items()
        }
    elif entity in ENTITIES:
        document = ENTITIES[entity].model_json_schema()
    else:
        fail(f"unknown entity {entity!r}; choose one of {', '.join(ENTITIES)}", code=2)
    if as_json:
        emit_json(document)
    else:
        out.print_json(json.dumps(document, ensure_ascii=False))


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("connectors")(connectors)
    app.command("schema")(schema)
