"""Reading one mapping file into a :class:`~crmbridge.mapping.spec.FileSpec`, checked key by key."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from crmbridge.mapping.checks import check_pair
from crmbridge.mapping.problems import Loc, Problems, choices, read_yaml
from crmbridge.mapping.spec import (
    DEFAULT_KEYS,
    DIRECTIONS,
    ENTITY_KEYS,
    NOT_SET,
    PAIR_KEYS,
    PARTS,
    TOP_KEYS,
    VARIANT_KEYS,
    EntitySpec,
    FieldPair,
    FileSpec,
    Step,
    VariantSpec,
)
from crmbridge.mapping.transforms import TRANSFORMS
from crmbridge.mapping.values import KINDS
from crmbridge.model import ENTITIES

__all__ = ["parse_file"]


def _strings(value: Any, loc: Loc, problems: Problems, what: str) -> tuple[str, ...] | None:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(v, str) and v.strip() for v in items):
        problems.add(loc, f"expected {what}: a name or a list of names")
        return None
    return tuple(v.strip() for v in items)


def _unknown_keys(
    data: Mapping[Any, Any], allowed: tuple[str, ...], loc: Loc, problems: Problems
) -> None:
    for key in data:
        if key not in allowed:
            problems.add(loc.at(str(key)), f"unknown key {key!r}; {choices(allowed, str(key))}")


def _mapping(value: Any, loc: Loc, problems: Problems) -> Mapping[Any, Any] | None:
    if isinstance(value, dict):
        return value
    problems.add(loc, f"expected a mapping of keys to values, got {type(value).__name__}")
    return None


def parse_file(path: Path, problems: Problems) -> FileSpec | None:
    """Read and check one mapping file; ``None`` when it cannot be used at all.

    Raises :class:`~crmbridge.errors.ConfigError` when the file is missing or not YAML.
    """
    data, lines = read_yaml(path)
    loc = Loc(str(path), (), lines)
    top = _mapping(data, loc, problems)
    if top is None:
        return None
    _unknown_keys(top, TOP_KEYS, loc, problems)
    connector = top.get("connector")
    if not isinstance(connector, str) or not connector:
        problems.add(
            loc.at("connector"), "name the connector type this file maps (zoho, csv, webhook ...)"
        )
        connector = None
    extends = top.get("extends")
    if extends is not None and not isinstance(extends, str):
        problems.add(
            loc.at("extends"), "expected a shipped mapping name (zoho) or a path (./base.yaml)"
        )
        extends = None
    defaults = _defaults(top.get("defaults") or {}, loc.at("defaults"), problems)
    entities: dict[str, EntitySpec] = {}
    raw = _mapping(top.get("entities") or {}, loc.at("entities"), problems) or {}
    for name, section in raw.items():
        where = loc.at("entities", str(name))
        if name not in ENTITIES:
            problems.add(where, f"unknown entity {name!r}; {choices(ENTITIES, str(name))}")
            continue
        body = _mapping(section, where, problems)
        if body is not None:
            entities[name] = _entity(name, body, where, problems)
    return FileSpec(path, loc, connector, extends, defaults, entities)


def _defaults(raw: Any, loc: Loc, problems: Problems) -> dict[str, tuple[Any, Loc]]:
    import phonenumbers

    body = _mapping(raw, loc, problems) or {}
    _unknown_keys(body, DEFAULT_KEYS, loc, problems)
    found: dict[str, tuple[Any, Loc]] = {}
    for key in DEFAULT_KEYS:
        if key not in body:
            continue
        value, where = body[key], loc.at(key)
        if key == "timezone":
            if not _check_zone(value, where, problems):
                continue
        elif key == "phone_region":
            if value is not None and value not in phonenumbers.SUPPORTED_REGIONS:
                problems.add(
                    where, f"{value!r} is not a phone region; use a code such as CN, US, DE"
                )
                continue
        elif key in ("date_format", "datetime_format"):
            formats = _strings(value, where, problems, "formats")
            if formats is None:
                continue
            value = formats
        elif key == "nested_paths" and not isinstance(value, bool):
            problems.add(where, "expected true or false")
            continue
        elif key == "list_separator" and not (isinstance(value, str) and value):
            problems.add(where, "expected a separator such as ';'")
            continue
        found[key] = (value, where)
    return found


def _check_zone(value: Any, loc: Loc, problems: Problems) -> bool:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        problems.add(
            loc, f"{value!r} is not a time zone; use an IANA name such as Asia/Shanghai or UTC"
        )
        return False
    return True


def _entity(entity: str, body: Mapping[Any, Any], loc: Loc, problems: Problems) -> EntitySpec:
    _unknown_keys(body, ENTITY_KEYS, loc, problems)
    remote = body.get("remote")
    if remote is not None and not (isinstance(remote, str) and remote):
        problems.add(loc.at("remote"), "expected the remote object's name")
        remote = None
    remote_id = (
        _strings(body["remote_id"], loc.at("remote_id"), problems, "the id field")
        if "remote_id" in body
        else None
    )
    identity = None
    if "identity" in body:
        identity = (
            _strings(body["identity"], loc.at("identity"), problems, "canonical fields") or ()
        )
    variant_by = body.get("variant_by")
    remote_key = body.get("remote_key")
    fields = _pairs(entity, body.get("fields"), loc.at("fields"), problems)
    variants: dict[str, VariantSpec] = {}
    for name, section in (
        _mapping(body.get("variants") or {}, loc.at("variants"), problems) or {}
    ).items():
        where = loc.at("variants", str(name))
        vbody = _mapping(section, where, problems)
        if vbody is None:
            continue
        _unknown_keys(vbody, VARIANT_KEYS, where, problems)
        when = _strings(vbody.get("when", []), where.at("when"), problems, "values") or ()
        vremote = vbody.get("remote") if isinstance(vbody.get("remote"), str) else None
        if vremote is None and "remote" in vbody:
            problems.add(where.at("remote"), "expected the remote object's name")
        variants[str(name)] = VariantSpec(
            str(name),
            where,
            vremote,
            when,
            _pairs(entity, vbody.get("fields"), where.at("fields"), problems),
        )
    return EntitySpec(
        entity, loc, remote, remote_id, identity, fields, variant_by, remote_key, variants
    )


def _pairs(entity: str, raw: Any, loc: Loc, problems: Problems) -> tuple[FieldPair, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.add(loc, "expected a list of field pairs")
        return ()
    pairs = []
    for i, item in enumerate(raw):
        body = _mapping(item, loc.at(i), problems)
        if body is not None:
            pair = _pair(entity, body, loc.at(i), problems)
            if pair is not None:
                pairs.append(pair)
    return tuple(pairs)


def _pair(entity: str, body: Mapping[Any, Any], loc: Loc, problems: Problems) -> FieldPair | None:
    _unknown_keys(body, PAIR_KEYS, loc, problems)
    before = len(problems)
    canonical_names, canonical_parts = _side(body.get("canonical"), loc.at("canonical"), problems)
    canonical = None
    if canonical_names and len(canonical_names) > 1:
        problems.add(
            loc.at("canonical"), "a pair maps one canonical field (aliases are for the remote side)"
        )
    elif canonical_names:
        canonical = canonical_names[0]
    remote, remote_parts = _side(body.get("remote"), loc.at("remote"), problems)
    direction = body.get("direction", "both")
    if direction not in DIRECTIONS:
        problems.add(
            loc.at("direction"),
            f"unknown direction {direction!r}; {choices(DIRECTIONS, str(direction))}",
        )
    kind = body.get("type")
    if kind is not None and kind not in KINDS:
        problems.add(loc.at("type"), f"unknown type {kind!r}; {choices(KINDS, str(kind))}")
    extra = body.get("with") or {}
    if not isinstance(extra, dict):
        problems.add(
            loc.at("with"), "expected remote keys and the constant values written beside the field"
        )
        extra = {}
    pair = FieldPair(
        loc,
        canonical,
        canonical_parts,
        remote or (),
        remote_parts,
        direction if direction in DIRECTIONS else "both",
        _steps(body.get("transform"), loc.at("transform"), problems),
        body.get("const", NOT_SET),
        body.get("default", NOT_SET),
        kind,
        bool(body.get("remote_custom", False)),
        extra,
        body.get("note") if isinstance(body.get("note"), str) else None,
        bool(body.get("remove", False)),
    )
    if pair.remove:
        if not pair.canonical_side and not pair.remote_side:
            problems.add(loc, "a pair with remove: true names the canonical field it removes")
        return pair if len(problems) == before else None
    if len(problems) == before:
        check_pair(entity, pair, problems)
    return pair if len(problems) == before else None


def _side(value: Any, loc: Loc, problems: Problems) -> tuple[Any, Any]:
    """(name or aliases, parts) of one side of a pair."""
    if value is None:
        return None, None
    if isinstance(value, dict):
        if set(value) != set(PARTS):
            problems.add(loc, "name parts are written {given: <field>, family: <field>}")
            return None, None
        given = _strings(value["given"], loc.at("given"), problems, "a field")
        family = _strings(value["family"], loc.at("family"), problems, "a field")
        return None, (given, family) if given and family else None
    names = _strings(value, loc, problems, "a field")
    return names, None


def _steps(raw: Any, loc: Loc, problems: Problems) -> tuple[Step, ...]:
    if raw is None:
        return ()
    items = raw if isinstance(raw, list) else [raw]
    steps = []
    for i, item in enumerate(items):
        where = loc.at(i) if isinstance(raw, list) else loc
        args: Any
        if isinstance(item, str):
            name, args = item, {}
        elif isinstance(item, dict) and len(item) == 1:
            ((name, args),) = item.items()
            args = args if args is not None else {}
        else:
            problems.add(
                where,
                "a transform is a name (phone) or one name with its arguments ({date: {format: ...}})",
            )
            continue
        if name not in TRANSFORMS:
            problems.add(where, f"unknown transform {name!r}; {choices(TRANSFORMS, str(name))}")
            continue
        if not isinstance(args, dict):
            problems.add(where.at(name), f"expected the arguments of {name} as a mapping")
            continue
        for arg in args:
            if arg not in TRANSFORMS[name].args:
                problems.add(
                    where.at(name, str(arg)),
                    f"unknown argument {arg!r} of {name}; {choices(TRANSFORMS[name].args, str(arg)) if TRANSFORMS[name].args else 'it takes none'}",
                )
        steps.append(Step(name, args, where))
    return tuple(steps)
