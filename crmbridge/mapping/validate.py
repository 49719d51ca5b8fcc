"""Loading with every problem reported, checks against a remote's own field list, and the config's mappings."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crmbridge.errors import ConfigError
from crmbridge.mapping.mapper import CompiledMapping, compile_spec
from crmbridge.mapping.problems import MappingProblem, Problems, choices
from crmbridge.mapping.shipped import MappingSpec, load_spec, mapping_source
from crmbridge.mapping.spec import FieldPair

__all__ = [
    "MappingRecipe",
    "RemoteField",
    "RemoteFields",
    "check_against_remote",
    "check_config_mappings",
    "check_mapping",
    "entity_mappers",
    "load_connector_mapping",
    "load_mapping",
    "require_fits_remote",
]


def _load(
    path: Path, problems: Problems, phone_region: str | None, timezone: str | None
) -> MappingSpec | None:
    try:
        return load_spec(Path(path), problems, phone_region=phone_region, timezone=timezone)
    except ConfigError as exc:
        problems.append(MappingProblem(exc.path or str(path), exc.key or "", exc.message, exc.line))
        return None


def check_mapping(
    path: str | Path, *, phone_region: str | None = None, timezone: str | None = None
) -> list[MappingProblem]:
    """Every problem in a mapping file and the files it extends; ``[]`` when it is fine."""
    problems = Problems()
    _load(Path(path), problems, phone_region, timezone)
    return list(problems)


def load_mapping(
    path: str | Path,
    *,
    connector: str | None = None,
    phone_region: str | None = None,
    timezone: str | None = None,
) -> CompiledMapping:
    """Load, check and compile a mapping file, before any I/O happens.

    Raises :class:`ConfigError` with the file, line and key path of the first
    problem (and how many more there are). ``connector`` is the connector
    instance's name, written into rejections; ``phone_region`` and
    ``timezone`` are the config's defaults, used unless the file sets its own.
    """
    problems = Problems()
    spec = _load(Path(path), problems, phone_region, timezone)
    if problems or spec is None:
        first = problems[0] if problems else MappingProblem(str(path), "", "cannot be used")
        more = (
            f" (and {len(problems) - 1} more; run `crmbridge mappings check`)"
            if len(problems) > 1
            else ""
        )
        raise ConfigError(
            first.message + more, path=first.file, key=first.key or None, line=first.line
        )
    return compile_spec(spec, connector)


def load_connector_mapping(
    name: str,
    connector_type: str,
    mapping: str | None,
    *,
    base_dir: str | Path = ".",
    phone_region: str | None = None,
    timezone: str | None = None,
) -> CompiledMapping:
    """The compiled mapping of one configured connector (its ``mapping:`` or the shipped one)."""
    path = mapping_source(connector_type, mapping, base_dir)
    compiled = load_mapping(path, connector=name, phone_region=phone_region, timezone=timezone)
    if compiled.spec.connector != connector_type:
        raise ConfigError(
            f"connector {name} is of type {connector_type} but its mapping is for {compiled.spec.connector}",
            path=str(path),
            key="connector",
        )
    return compiled


@dataclass(frozen=True, slots=True)
class MappingRecipe:
    """How to compile one connector's mapping again, as plain values a worker process can take."""

    name: str
    connector_type: str
    mapping: str | None
    base_dir: str
    phone_region: str | None
    timezone: str | None

    def compile(self) -> CompiledMapping:
        """The compiled mapping."""
        return load_connector_mapping(
            self.name,
            self.connector_type,
            self.mapping,
            base_dir=self.base_dir,
            phone_region=self.phone_region,
            timezone=self.timezone,
        )

    def __call__(self) -> dict[str, Any]:
        """One mapper per entity the mapping maps, in the model's entity order."""
        return entity_mappers(self.compile())


def entity_mappers(compiled: CompiledMapping) -> dict[str, Any]:
    """One mapper per entity ``compiled`` maps, in the model's entity order."""
    from crmbridge.model import ENTITY_ORDER

    return {e: compiled.entity(e) for e in ENTITY_ORDER if e in compiled.spec.entities}


def check_config_mappings(
    connectors: Iterable[tuple[str, str, str | None]],
    *,
    base_dir: str | Path = ".",
    phone_region: str | None = None,
    timezone: str | None = None,
) -> dict[str, list[MappingProblem]]:
    """Check the mapping of every ``(name, type, mapping or None)`` connector of a config.

    Returns the problems by connector name (an empty list for a good mapping).
    """
    found: dict[str, list[MappingProblem]] = {}
    for name, connector_type, mapping in connectors:
        problems = Problems()
        try:
            path = mapping_source(connector_type, mapping, base_dir)
        except ConfigError as exc:
            problems.append(MappingProblem(f"connectors.{name}", "mapping", exc.message))
            found[name] = list(problems)
            continue
        spec = _load(path, problems, phone_region, timezone)
        if spec is not None and spec.connector != connector_type:
            problems.append(
                MappingProblem(
                    str(path),
                    "connector",
                    f"connector {name} is of type {connector_type} but this mapping is for {spec.connector}",
                )
            )
        found[name] = list(problems)
    return found


@dataclass(frozen=True, slots=True)
class RemoteField:
    """One field as the remote describes it (Zoho: an item of ``/settings/fields``).

    ``picklist`` holds the allowed values of a pick-list field, else ``None``.
    """

    name: str
    read_only: bool = False
    picklist: tuple[str, ...] | None = None
    data_type: str | None = None
    custom: bool = False


@dataclass(frozen=True, slots=True)
class RemoteFields:
    """The fields of one remote object (a Zoho module), by API name."""

    remote: str
    fields: Mapping[str, RemoteField] = field(default_factory=dict)


def check_against_remote(
    mapping: MappingSpec | CompiledMapping, remote: Iterable[RemoteFields]
) -> list[MappingProblem]:
    """Check a mapping against the remote's own field lists: unknown fields, read-only ones, pick-lists.

    Only objects described in ``remote`` are checked. Remote names starting
    with ``$`` are system keys and not checked.
    """
    spec = mapping.spec if isinstance(mapping, CompiledMapping) else mapping
    described = {r.remote: r for r in remote}
    problems = Problems()
    for entity in spec.entities.values():
        groups = (
            [(v.remote, (*entity.fields, *v.fields)) for v in entity.variants.values()]
            if entity.variants
            else [(entity.remote, entity.fields)]
        )
        for name, pairs in groups:
            fields = described.get(name or "")
            if fields is None:
                continue
            for pair in pairs:
                if not pair.remove:
                    _check_remote_pair(pair, fields, problems)
    return list(problems)


def require_fits_remote(
    mapping: MappingSpec | CompiledMapping,
    remote: Iterable[RemoteFields],
    *,
    connector: str | None = None,
) -> None:
    """Raise :class:`ConfigError` for the first problem :func:`check_against_remote` finds.

    The message says how many more there are; ``connector`` names the connector instance.
    """
    problems = check_against_remote(mapping, remote)
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ConfigError(
            first.message + more,
            path=first.file,
            key=first.key or None,
            line=first.line,
            connector=connector,
        )


def _remote_names(pair: FieldPair) -> list[tuple[tuple[str, ...], Any]]:
    loc = pair.loc.at("remote")
    if pair.remote_parts:
        return [(pair.remote_parts[0], loc.at("given")), (pair.remote_parts[1], loc.at("family"))]
    return [(pair.remote, loc)] if pair.remote else []


def _check_remote_pair(pair: FieldPair, fields: RemoteFields, problems: Problems) -> None:
    for aliases, loc in _remote_names(pair):
        tops = [alias.split(".")[0] for alias in aliases]
        if all(top.startswith("$") for top in tops):
            continue
        known = next((fields.fields[t] for t in tops if t in fields.fields), None)
        if known is None:
            what = "custom field" if pair.remote_custom else "field"
            hint = (
                " yet; create it in the CRM or remove this pair"
                if pair.remote_custom
                else f"; {choices(fields.fields, tops[0])}"
            )
            problems.add(loc, f"{fields.remote} has no {what} {tops[0]!r}{hint}")
            continue
        if pair.pushes and known.read_only:
            problems.add(loc, f"{fields.remote}.{known.name} is read-only; use direction: pull")
        if known.picklist is not None:
            _check_picklist(pair, known, fields.remote, problems)


def _check_picklist(pair: FieldPair, known: RemoteField, remote: str, problems: Problems) -> None:
    allowed = set(known.picklist or ())
    for step in pair.steps:
        if step.name != "map":
            continue
        for key, value in (step.args.get("values") or {}).items():
            items = value if isinstance(value, list) else [value]
            written = items[0] if items else None
            if pair.pushes and written is not None and written not in allowed:
                problems.add(
                    step.loc.at("map", "values", str(key)),
                    f"{written!r} is not a value of the pick-list {remote}.{known.name}; {choices(allowed, str(written))}",
                )
