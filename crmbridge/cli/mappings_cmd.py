"""``crmbridge mappings``: check the mappings a config uses, or show one entity's effective mapping."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from crmbridge.cli.common import (
    ConfigOption,
    JsonOption,
    emit_json,
    err,
    fail,
    load,
    out,
    print_table,
)
from crmbridge.errors import ConfigError

if TYPE_CHECKING:
    from crmbridge.config import Config

__all__ = ["app"]

app = typer.Typer(
    help="Check mapping files, or show how one entity is mapped.", no_args_is_help=True
)

FilesArgument = Annotated[
    list[Path] | None,
    typer.Argument(
        help="Mapping files to check instead of the config's.", show_default=False, dir_okay=False
    ),
]


def _connectors(config: Config | None) -> list[tuple[str, str, str | None]]:
    if config is None:
        return []
    for name in config.connectors:
        _check_named(config, name)
    return [(name, c.type, c.mapping) for name, c in config.connectors.items()]


def _check_named(config: Config, name: str) -> None:
    """Fail with the unset-variable error when ``name``'s type or mapping is one: which
    mapping it uses is then unknown."""
    unset = set(config.unset_keys(name))
    if {f"connectors.{name}.type", f"connectors.{name}.mapping"} & unset:
        unusable = config.unusable(name)
        assert unusable is not None
        fail(unusable)


def _base_dir(config: Config | None) -> Path:
    return config.base_dir if config is not None else Path()


@app.command("check")
def check(
    files: FilesArgument = None, config: ConfigOption = None, as_json: JsonOption = False
) -> None:
    """Check every mapping the config's connectors use (or the FILES given).

    Lists each problem with its file, line and key path; exits 1 if there is any.
    """
    from crmbridge.mapping import check_config_mappings, check_mapping, mapping_source

    results: list[dict[str, Any]] = []
    if files:
        for path in files:
            problems = check_mapping(path)
            results.append(
                {"connector": None, "type": None, "file": str(path), "problems": problems}
            )
    else:
        loaded = load(config)
        defaults = loaded.defaults if loaded is not None else None
        found = check_config_mappings(
            _connectors(loaded),
            base_dir=_base_dir(loaded),
            phone_region=defaults.phone_region if defaults else None,
            timezone=defaults.timezone if defaults else None,
        )
        for name, problems in found.items():
            kind = loaded.connectors[name] if loaded is not None else None
            try:
                source = (
                    str(mapping_source(kind.type, kind.mapping, _base_dir(loaded)))
                    if kind
                    else None
                )
            except ConfigError:
                source = None
            results.append(
                {
                    "connector": name,
                    "type": kind.type if kind else None,
                    "file": source,
                    "problems": problems,
                }
            )
    bad = sum(len(r["problems"]) for r in results)
    if as_json:
        emit_json(
            {
                "ok": bad == 0,
                "mappings": [
                    {**r, "ok": not r["problems"], "problems": [p.as_dict() for p in r["problems"]]}
                    for r in results
                ],
            }
        )
    else:
        for r in results:
            label = f"{r['connector']} ({r['type']}): " if r["connector"] else ""
            if not r["problems"]:
                out.print(f"{escape(label)}{escape(str(r['file']))}: ok", highlight=False)
            for problem in r["problems"]:
                err.print(f"{escape(label)}{escape(str(problem))}", highlight=False)
        if bad:
            err.print(f"{bad} problem(s)", highlight=False)
        elif not results:
            out.print("no connectors configured: nothing to check", highlight=False)
    if bad:
        raise typer.Exit(1)


@app.command("show")
def show(
    connector: Annotated[
        str,
        typer.Argument(
            help="A connector name from the config, or a shipped mapping (zoho, csv, webhook)."
        ),
    ],
    entity: Annotated[
        str, typer.Argument(help="The entity: organizations, stakeholders, interactions ...")
    ],
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print the effective mapping of one entity (extends applied) as a table."""
    from crmbridge.mapping import describe_entity, load_mapping, mapping_source, shipped_mappings

    loaded = load(config, required=False)
    section = loaded.connectors.get(connector) if loaded is not None else None
    defaults = loaded.defaults if loaded is not None else None
    try:
        if section is not None:
            assert loaded is not None
            _check_named(loaded, connector)
            path = mapping_source(section.type, section.mapping, _base_dir(loaded))
        elif connector in shipped_mappings():
            path = shipped_mappings()[connector]
        else:
            known = sorted(set(loaded.connectors if loaded else ()) | set(shipped_mappings()))
            fail(
                f"no connector or shipped mapping named {connector!r}; choose one of {', '.join(known)}",
                2,
            )
        mapping = load_mapping(
            path,
            phone_region=defaults.phone_region if defaults else None,
            timezone=defaults.timezone if defaults else None,
        )
        document = describe_entity(mapping.spec, entity)
    except ConfigError as exc:
        fail(exc)
    except KeyError as exc:
        fail(str(exc.args[0]), 2)
    if as_json:
        emit_json(document)
        return
    _print_table(document)


def _print_table(doc: dict[str, Any]) -> None:
    head = f"{doc['entity']} <-> {doc['remote'] or ', '.join(v['remote'] for v in doc['variants'])}"
    out.print(f"[bold]{escape(head)}[/]  ({escape(doc['file'])})", highlight=False)
    out.print(
        f"identity: {escape(', '.join(doc['identity']) or '-')}   remote id: {escape(', '.join(doc['remote_id']))}",
        highlight=False,
    )
    for variant in doc["variants"]:
        out.print(
            f"variant {escape(variant['name'])}: {escape(str(variant['remote']))} when "
            f"{escape(doc['variant_by'] or '')} is {escape(', '.join(variant['when']))}",
            highlight=False,
        )
    table = Table(show_lines=False)
    show_variant = any(row["variant"] for row in doc["fields"])
    if show_variant:
        table.add_column("variant")
    for column in ("canonical", "dir", "remote", "transforms", "notes", "source"):
        table.add_column(column)
    arrows = {"both": "<->", "pull": "<-", "push": "->"}
    for row in doc["fields"]:
        cells = [
            row["canonical"],
            arrows[row["direction"]],
            row["remote"],
            "; ".join(row["transforms"]),
            "; ".join(row["notes"]),
            row["source"],
        ]
        table.add_row(*([row["variant"]] if show_variant else []), *map(escape, cells))
    print_table(table)
