"""Finding mapping files (shipped or the user's), following ``extends:`` and merging.

A shipped mapping is found in the installed wheel (``crmbridge/_shipped_mappings``,
copied there by the build) and else in a source checkout (``<repo>/mappings``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from crmbridge.errors import ConfigError
from crmbridge.mapping.checks import check_entity
from crmbridge.mapping.parse import parse_file
from crmbridge.mapping.problems import Problems, choices
from crmbridge.mapping.spec import EntitySpec, FieldPair, FileSpec, VariantSpec
from crmbridge.mapping.transforms import Env

__all__ = [
    "MappingSpec",
    "load_spec",
    "mapping_source",
    "shipped_mapping_path",
    "shipped_mappings",
]

_PACKAGE_DIR = Path(__file__).resolve().parent.parent / "_shipped_mappings"
_REPO_DIR = Path(__file__).resolve().parent.parent.parent / "mappings"


def _search_dirs() -> list[Path]:
    return [d for d in (_PACKAGE_DIR, _REPO_DIR) if d.is_dir()]


def shipped_mappings() -> dict[str, Path]:
    """Every shipped mapping by connector type (the first found wins: wheel, then checkout)."""
    found: dict[str, Path] = {}
    for folder in _search_dirs():
        for path in sorted(folder.glob("*.yaml")):
            found.setdefault(path.stem, path)
    return found


def shipped_mapping_path(connector_type: str) -> Path:
    """The shipped mapping of ``connector_type``; :class:`ConfigError` names the shipped ones."""
    shipped = shipped_mappings()
    try:
        return shipped[connector_type]
    except KeyError:
        raise ConfigError(
            f"no shipped mapping for connector type {connector_type!r}; "
            f"{choices(shipped, connector_type)}, or give the connector a mapping: file"
        ) from None


def mapping_source(connector_type: str, mapping: str | None, base_dir: str | Path = ".") -> Path:
    """The file a connector uses: its ``mapping:`` (relative to ``base_dir``), else the shipped one.

    A bare name without a slash or ``.yaml`` (``mapping: zoho``) names a shipped mapping.
    """
    if mapping is None:
        return shipped_mapping_path(connector_type)
    if "/" not in mapping and "\\" not in mapping and not mapping.endswith((".yaml", ".yml")):
        return shipped_mapping_path(mapping)
    path = Path(mapping).expanduser()
    return path if path.is_absolute() else Path(base_dir) / path


@dataclass(frozen=True, slots=True)
class MappingSpec:
    """A mapping with ``extends:`` applied: what gets compiled, shown and checked.

    ``files`` lists the file and those it extends, nearest first; ``defaults``
    holds the raw ``defaults:`` values (for display), ``env`` the resolved ones.
    """

    path: Path
    connector: str
    files: tuple[Path, ...]
    env: Env
    defaults: Mapping[str, Any] = field(default_factory=dict)
    entities: Mapping[str, EntitySpec] = field(default_factory=dict)


def load_spec(
    path: Path,
    problems: Problems,
    *,
    phone_region: str | None = None,
    timezone: str | None = None,
) -> MappingSpec | None:
    """Read ``path`` and what it extends, merge, and check; ``None`` if it cannot be used.

    ``phone_region`` and ``timezone`` (the config's defaults) apply unless the
    mapping's own ``defaults:`` set them. Problems go to ``problems``; a file
    that is missing or not YAML raises :class:`ConfigError`.
    """
    chain = _chain(path, problems)
    if not chain:
        return None
    merged = chain[-1]
    for child in reversed(chain[:-1]):
        merged = _merge_files(merged, child, problems)
    connector = merged.connector
    if connector is None:
        return None
    defaults = {key: value for key, (value, _loc) in merged.defaults.items()}
    zone = defaults.get("timezone") or timezone or "UTC"
    env = Env(
        timezone=ZoneInfo(str(zone)),
        phone_region=defaults.get("phone_region") or phone_region,
        date_formats=tuple(defaults.get("date_format") or ("iso",)),
        datetime_formats=tuple(defaults.get("datetime_format") or ("iso",)),
        list_separator=str(defaults.get("list_separator", ";")),
    )
    for spec in merged.entities.values():
        check_entity(spec, problems)
    return MappingSpec(
        path, connector, tuple(f.path for f in chain), env, defaults, merged.entities
    )


def _chain(path: Path, problems: Problems) -> list[FileSpec]:
    """The file and every file it extends, nearest first."""
    chain: list[FileSpec] = []
    seen: set[Path] = set()
    current: Path | None = path
    while current is not None:
        resolved = current.resolve()
        if resolved in seen:
            problems.add(
                chain[-1].loc.at("extends"), f"extends goes round in a circle back to {current}"
            )
            break
        seen.add(resolved)
        spec = parse_file(current, problems)
        if spec is None:
            return []
        chain.append(spec)
        current = None
        if spec.extends:
            try:
                current = _parent(spec.extends, spec.path)
            except ConfigError as exc:
                problems.add(spec.loc.at("extends"), exc.message)
    return chain


def _parent(extends: str, child: Path) -> Path:
    if extends.startswith((".", "/", "~")) or extends.endswith((".yaml", ".yml")):
        path = Path(extends).expanduser()
        return path if path.is_absolute() else child.parent / path
    return shipped_mapping_path(extends)


def _merge_files(base: FileSpec, child: FileSpec, problems: Problems) -> FileSpec:
    if child.connector and base.connector and child.connector != base.connector:
        problems.add(
            child.loc.at("connector"),
            f"this file is for {child.connector} but extends a mapping for {base.connector}",
        )
    entities = dict(base.entities)
    for name, spec in child.entities.items():
        entities[name] = _merge_entity(entities[name], spec) if name in entities else spec
    return replace(
        child,
        connector=child.connector or base.connector,
        defaults={**base.defaults, **child.defaults},
        entities=entities,
    )


def _merge_entity(base: EntitySpec, child: EntitySpec) -> EntitySpec:
    variants = dict(base.variants)
    for name, variant in child.variants.items():
        old = variants.get(name)
        variants[name] = (
            variant
            if old is None
            else VariantSpec(
                name,
                variant.loc,
                variant.remote or old.remote,
                variant.when or old.when,
                merge_pairs(old.fields, variant.fields),
            )
        )
    return EntitySpec(
        base.entity,
        child.loc,
        child.remote or base.remote,
        child.remote_id if child.remote_id is not None else base.remote_id,
        child.identity if child.identity is not None else base.identity,
        merge_pairs(base.fields, child.fields),
        child.variant_by or base.variant_by,
        child.remote_key or base.remote_key,
        variants,
    )


def merge_pairs(base: tuple[FieldPair, ...], child: tuple[FieldPair, ...]) -> tuple[FieldPair, ...]:
    """``base`` with each of ``child``'s pairs replacing the pairs for the same field (or removing them)."""
    result: list[FieldPair | None] = list(base)
    for pair in child:
        slots = [i for i, old in enumerate(result) if old is not None and old.key == pair.key]
        for i in slots:
            result[i] = None
        if pair.remove:
            continue
        if slots:
            result[slots[0]] = pair
        else:
            result.append(pair)
    return tuple(p for p in result if p is not None)
