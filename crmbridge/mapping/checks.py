"""Checks of one field pair and of one whole entity section, with choices in every message."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import phonenumbers

from crmbridge.mapping.problems import Loc, Problems, choices
from crmbridge.mapping.spec import NOT_SET, EntitySpec, FieldPair, Step, canonical_value
from crmbridge.mapping.transforms import TRANSFORMS
from crmbridge.mapping.values import CUSTOM_PREFIX, CanonicalField, canonical_fields, lookup_field

__all__ = ["check_entity", "check_pair"]

_RELATION_STEPS = frozenset({"split", "objects", "single", "json"})
_NAME_FIELDS = ("full_name", "given_name", "family_name")


def _field(
    entity: str, name: str, kind: str | None, loc: Loc, problems: Problems
) -> CanonicalField | None:
    info = lookup_field(entity, name, kind)
    if info is None:
        allowed = [*canonical_fields(entity), "custom.<name>"]
        problems.add(
            loc.at("canonical"),
            f"unknown canonical field {name!r} of {entity}; {choices(allowed, name)}",
        )
    elif kind is not None and not name.startswith(CUSTOM_PREFIX):
        problems.add(
            loc.at("type"), f"type: is only for custom.<name> fields; {name} is {info.kind}"
        )
    return info


def check_pair(entity: str, pair: FieldPair, problems: Problems) -> None:
    """Report what is wrong with one pair: unknown fields, transforms that do not fit, bad values."""
    loc = pair.loc
    info: CanonicalField | None = None
    if pair.canonical:
        info = _field(entity, pair.canonical, pair.kind, loc, problems)
    if pair.canonical_parts:
        for part, name in zip(("given", "family"), pair.canonical_parts, strict=True):
            if name not in _NAME_FIELDS or lookup_field(entity, name) is None:
                problems.add(
                    loc.at("canonical", part),
                    f"name parts are {', '.join(_NAME_FIELDS[1:])} of stakeholders",
                )
    _check_sides(pair, loc, problems)
    if info is not None:
        for what in ("const", "default"):
            value = getattr(pair, what)
            if value is NOT_SET or (what == "const" and not pair.canonical_side):
                continue
            try:
                canonical_value(entity, info.name, pair.kind, value)
            except (ValueError, TypeError) as exc:
                problems.add(loc.at(what), f"{value!r} cannot be a value of {info.name}: {exc}")
    names = [step.name for step in pair.steps]
    if (pair.canonical_parts or pair.remote_parts) and "name" not in names:
        problems.add(loc.at("transform"), "name parts ({given, family}) need transform: name")
    for step in pair.steps:
        _check_step(entity, pair, info, step, problems)


def _check_sides(pair: FieldPair, loc: Loc, problems: Problems) -> None:
    const = pair.const is not NOT_SET
    if const and pair.canonical_side and pair.remote_side:
        problems.add(loc.at("const"), "const: fills one side; give canonical or remote, not both")
    elif not const and not (pair.canonical_side and pair.remote_side):
        missing = "remote" if pair.canonical_side else "canonical"
        problems.add(
            loc.at(missing) if pair.canonical_side or pair.remote_side else loc,
            f"a pair needs a {missing} field (or const: on the other side)",
        )
    if pair.extra and not pair.remote_side:
        problems.add(
            loc.at("with"), "with: writes remote keys beside a remote field; this pair has none"
        )
    if pair.canonical_parts and pair.remote_parts:
        problems.add(loc, "name parts go on one side only; the other side holds the full name")


def _check_step(
    entity: str, pair: FieldPair, info: CanonicalField | None, step: Step, problems: Problems
) -> None:
    spec = TRANSFORMS[step.name]
    loc = step.loc
    kind = "text" if pair.canonical_parts else (info.kind if info else None)
    if kind is not None and kind not in spec.kinds:
        problems.add(
            loc,
            f"transform {step.name} does not fit {pair.canonical} ({kind}); it takes {', '.join(sorted(spec.kinds))} fields",
        )
        return
    if info is not None and info.relation and step.name not in _RELATION_STEPS:
        problems.add(
            loc,
            f"{info.name} refers to {info.relation} and is translated through links; it takes {', '.join(sorted(_RELATION_STEPS))} only",
        )
        return
    args = step.args
    if step.name == "map":
        _check_map(entity, pair, info, step, problems)
    elif step.name == "phone":
        _one_of(args, "format", ("e164", "national", "international"), loc, problems)
        region = args.get("region")
        if region is not None and region not in phonenumbers.SUPPORTED_REGIONS:
            problems.add(
                loc.at("phone", "region"),
                f"{region!r} is not a phone region; use a code such as CN, US, DE",
            )
    elif step.name in ("date", "datetime"):
        _check_formats(step, problems)
    elif step.name == "duration":
        _one_of(args, "unit", ("minutes", "seconds", "hours", "mm:ss", "hh:mm"), loc, problems)
    elif step.name == "number":
        if str(args.get("decimal", ".")) == str(args.get("thousands", ",")):
            problems.add(loc.at("number"), "decimal and thousands marks must differ")
    elif step.name == "objects" and not isinstance(args.get("key"), str):
        problems.add(
            loc.at("objects", "key"), "name the key holding each value (for Zoho tags: name)"
        )
    elif step.name == "name":
        if not (pair.canonical_parts or pair.remote_parts):
            problems.add(loc, "transform name needs {given: ..., family: ...} on one side")
        if len(pair.steps) > 1:
            problems.add(loc, "transform name cannot be combined with other transforms")
    elif step.name == "end_time" and not isinstance(args.get("start"), str):
        problems.add(loc.at("end_time", "start"), "name the remote field holding the start")


def _one_of(args: Any, key: str, allowed: tuple[str, ...], loc: Loc, problems: Problems) -> None:
    value = args.get(key)
    if value is not None and value not in allowed:
        problems.add(loc.at(key), f"unknown {key} {value!r}; {choices(allowed, str(value))}")


def _check_formats(step: Step, problems: Problems) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    fmt = step.args.get("format")
    for item in fmt if isinstance(fmt, list) else ([] if fmt is None else [fmt]):
        if not isinstance(item, str) or not (item in ("iso", "epoch_ms", "epoch_s") or "%" in item):
            problems.add(
                step.loc.at(step.name, "format"),
                f"{item!r} is not a format; use iso, epoch_ms, epoch_s or a strftime format such as %Y/%m/%d %H:%M",
            )
        elif step.name == "date" and item.startswith("epoch"):
            problems.add(step.loc.at(step.name, "format"), "epoch formats are for date-times")
    zone = step.args.get("timezone")
    if zone is not None:
        try:
            ZoneInfo(str(zone))
        except (ZoneInfoNotFoundError, ValueError):
            problems.add(
                step.loc.at(step.name, "timezone"),
                f"{zone!r} is not a time zone; use an IANA name such as Asia/Shanghai",
            )


def _check_map(
    entity: str, pair: FieldPair, info: CanonicalField | None, step: Step, problems: Problems
) -> None:
    loc = step.loc.at("map")
    values = step.args.get("values")
    if not isinstance(values, dict) or not values:
        problems.add(
            loc.at("values"), "expected canonical values and the remote value(s) each maps to"
        )
        return
    seen: dict[Any, Any] = {}
    for key, remote in values.items():
        where = loc.at("values", str(key))
        if (
            info is not None
            and info.kind in ("enum", "list")
            and info.choices
            and str(key) not in info.choices
        ):
            problems.add(
                where, f"{key!r} is not a value of {info.name}; {choices(info.choices, str(key))}"
            )
        for item in remote if isinstance(remote, list) else [remote]:
            if item in seen and seen[item] != key:
                problems.add(
                    where,
                    f"remote value {item!r} is mapped from both {seen[item]!r} and {key!r}; pull could not tell them apart",
                )
            seen.setdefault(item, key)
    policy = step.args.get("unmapped", "reject")
    if isinstance(policy, dict):
        if set(policy) != {"default"}:
            problems.add(
                loc.at("unmapped"), "unmapped is reject, keep or {default: <canonical value>}"
            )
        elif policy["default"] not in values:
            problems.add(
                loc.at("unmapped", "default"),
                f"the default must be one of the mapped values; {choices(map(str, values), str(policy['default']))}",
            )
    elif policy not in ("reject", "keep"):
        problems.add(
            loc.at("unmapped"),
            f"unknown policy {policy!r}; choose reject, keep or {{default: <value>}}",
        )


def check_entity(spec: EntitySpec, problems: Problems) -> None:
    """Checks across one entity's pairs: identity, duplicates, variants, a remote object to map to."""
    entity, loc = spec.entity, spec.loc
    shared = [p for p in spec.fields if not p.remove]
    groups: list[tuple[str, list[FieldPair]]] = [("", shared)]
    if spec.variants:
        groups = [
            (name, shared + [p for p in v.fields if not p.remove])
            for name, v in spec.variants.items()
        ]
        _check_variants(spec, problems)
    elif not spec.remote:
        problems.add(
            loc.at("remote"),
            f"name the remote object {entity} maps to (a Zoho module, a file, an event type)",
        )
    mapped: set[str] = set()
    for _name, pairs in groups:
        _duplicates(pairs, problems)
        _end_times(entity, pairs, problems)
        for pair in pairs:
            if pair.canonical:
                mapped.add(pair.canonical)
            mapped.update(pair.canonical_parts or ())
    for i, name in enumerate(spec.identity or ()):
        if name not in mapped:
            problems.add(
                loc.at("identity", i),
                f"identity field {name!r} is not mapped; {choices(sorted(mapped), name)}",
            )


def _duplicates(pairs: Iterable[FieldPair], problems: Problems) -> None:
    pulled: dict[str, FieldPair] = {}
    pushed: dict[str, FieldPair] = {}
    for pair in pairs:
        if pair.pulls or (pair.const is not NOT_SET and pair.canonical_side):
            for name in pair.canonical_parts or (pair.canonical,):
                if name in pulled and name is not None:
                    problems.add(
                        pair.loc,
                        f"{name} is already pulled by the pair at line {pulled[name].loc.line}",
                    )
                pulled[str(name)] = pair
        if pair.pushes or (pair.const is not NOT_SET and pair.remote_side):
            targets = (
                (pair.remote_parts[0][0], pair.remote_parts[1][0])
                if pair.remote_parts
                else pair.remote[:1]
            )
            for target in targets:
                if target in pushed:
                    problems.add(
                        pair.loc,
                        f"remote field {target} is already written by the pair at line {pushed[target].loc.line}",
                    )
                pushed[target] = pair


def _end_times(entity: str, pairs: list[FieldPair], problems: Problems) -> None:
    for pair in pairs:
        for step in pair.steps:
            if step.name != "end_time" or not isinstance(step.args.get("start"), str):
                continue
            start = step.args["start"]
            peer = next((p for p in pairs if p.remote[:1] == (start,) and p.canonical), None)
            info = lookup_field(entity, peer.canonical) if peer and peer.canonical else None
            if info is None or info.kind != "datetime":
                problems.add(
                    step.loc.at("end_time", "start"),
                    f"no pair maps {start} to a date-time field here; map it first (for example occurred_at)",
                )


def _check_variants(spec: EntitySpec, problems: Problems) -> None:
    loc = spec.loc
    info = canonical_fields(spec.entity).get(spec.variant_by or "")
    if info is None or info.kind != "enum":
        enums = [f.name for f in canonical_fields(spec.entity).values() if f.kind == "enum"]
        problems.add(
            loc.at("variant_by"),
            f"variants are chosen by an enum field; {choices(enums, spec.variant_by)}",
        )
        return
    owner: dict[str, str] = {}
    for name, variant in spec.variants.items():
        if not variant.remote:
            problems.add(variant.loc.at("remote"), "name the remote object of this variant")
        if not variant.when:
            problems.add(
                variant.loc.at("when"),
                f"list the {info.name} values this variant takes; {choices(info.choices)}",
            )
        for i, value in enumerate(variant.when):
            if value not in info.choices:
                problems.add(
                    variant.loc.at("when", i),
                    f"{value!r} is not a value of {info.name}; {choices(info.choices, value)}",
                )
            elif value in owner:
                problems.add(
                    variant.loc.at("when", i), f"{value} is already taken by variant {owner[value]}"
                )
            owner[value] = name
        chooses = any(p.canonical == info.name and p.pulls for p in (*spec.fields, *variant.fields))
        if len(variant.when) > 1 and not chooses:
            problems.add(
                variant.loc.at("when"),
                f"pull cannot tell {' from '.join(variant.when)} apart; map {info.name} in this variant",
            )
