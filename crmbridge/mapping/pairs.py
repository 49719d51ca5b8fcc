"""Compiling one field pair into two small closures: pull (remote -> canonical) and push.

A pull closure reads the remote record and writes the canonical value into
``out``; a push closure reads flat canonical values and writes the remote
payload. Both skip the pair when its source is absent (not the same as
empty: an absent key is "not sent", ``None`` is "cleared").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from crmbridge.mapping.access import (
    ABSENT,
    Getter,
    Setter,
    coercer,
    getter,
    setter,
    top_level_keys,
)
from crmbridge.mapping.names import join_name, split_name
from crmbridge.mapping.spec import NOT_SET, FieldPair, canonical_value
from crmbridge.mapping.transforms import TRANSFORMS, Env, Fn, Invalid
from crmbridge.mapping.values import CanonicalField, canonical_datetime, lookup_field

__all__ = ["CompiledPair", "Ctx", "compile_pair"]


PullFn = Callable[[Mapping[str, Any], dict[str, Any], "Ctx"], None]
PushFn = Callable[[Mapping[str, Any], dict[str, Any], "Ctx"], None]


class Ctx:
    """Per-record state: the resolver, references not linked yet, or references being collected."""

    __slots__ = ("collect", "missing", "pending_fields", "resolver")

    def __init__(self, resolver: Any, collect: list[tuple[str, str]] | None = None) -> None:
        self.resolver = resolver
        self.missing: list[tuple[str, str]] = []
        self.pending_fields: list[str] = []
        self.collect = collect


@dataclass(slots=True)
class CompiledPair:
    """A pair ready to run: what it writes on pull, what it reads on push, and the closures."""

    pair: FieldPair
    canonical: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    inputs: frozenset[str] = frozenset()
    pull: PullFn | None = None
    push: PushFn | None = None
    plain: tuple[str, str] | None = None
    reads: frozenset[str] | None = None
    """The top-level remote keys ``pull`` reads, when it does nothing for a record holding none
    of them (``None``: it may do something for any record)."""


def compile_pair(
    entity: str, pair: FieldPair, env: Env, nested: bool, peers: list[FieldPair]
) -> CompiledPair:
    """Build the closures of one pair (``peers`` are the other pairs of its entity or variant)."""
    names = [step.name for step in pair.steps]
    if "name" in names:
        return _name_pair(pair, nested)
    info = lookup_field(entity, pair.canonical, pair.kind) if pair.canonical else None
    if pair.const is not NOT_SET:
        return _const_pair(entity, pair, info, nested)
    assert info is not None
    if "end_time" in names:
        return _end_time_pair(entity, pair, info, env, nested, peers)
    built = [TRANSFORMS[s.name].build(s.args, env, info.kind) for s in pair.steps]
    pulls = tuple(p for p, _ in built)
    pushes = tuple(q for _, q in reversed(built))
    last = pair.steps[-1] if pair.steps else None
    needs_coerce = (
        last is None
        or not TRANSFORMS[last.name].typed
        or (last.name == "map" and last.args.get("unmapped") == "keep")
    )
    coerce = coercer(info, env) if needs_coerce else None
    name = info.name
    compiled = CompiledPair(pair, canonical=(name,))
    if pair.pulls:
        compiled.outputs = (name,)
        compiled.pull = _puller(entity, pair, info, getter(pair.remote, nested), pulls, coerce)
        compiled.reads = top_level_keys(pair.remote, nested)
        simple = not pulls and info.kind == "text" and pair.default is NOT_SET and not info.required
        if (
            simple
            and not info.relation
            and len(pair.remote) == 1
            and not (nested and "." in pair.remote[0])
        ):
            compiled.plain = (pair.remote[0], name)
    if pair.pushes:
        compiled.inputs = frozenset({name})
        compiled.push = _pusher(entity, pair, info, setter(pair.remote[0], nested), pushes, nested)
    return compiled


def _default(entity: str, pair: FieldPair, info: CanonicalField) -> Any:
    return (
        canonical_value(entity, info.name, pair.kind, pair.default)
        if pair.default is not NOT_SET
        else NOT_SET
    )


def _puller(
    entity: str,
    pair: FieldPair,
    info: CanonicalField,
    get: Getter,
    fns: tuple[Fn, ...],
    coerce: Fn | None,
) -> PullFn:
    name, target = info.name, info.relation
    empty: Any = [] if info.kind == "list" else None
    default = _default(entity, pair, info)
    required = info.required
    scalar = info.kind not in ("list", "json")
    if len(fns) == 1 and coerce is None and target is None and default is NOT_SET and not required:
        (fn,) = fns

        def pull_one(data: Mapping[str, Any], out: dict[str, Any], ctx: Ctx) -> None:
            value = get(data)
            if value is ABSENT:
                return
            if value.__class__ is str:
                value = value.strip()
                out[name] = fn(value) if value else empty
            elif value is None:
                out[name] = empty
            else:
                out[name] = fn(value)

        return pull_one

    def pull(data: Mapping[str, Any], out: dict[str, Any], ctx: Ctx) -> None:
        value = get(data)
        if value is ABSENT:
            return
        if value.__class__ is str:
            value = value.strip() or None
        if value is None or (scalar and value == []):
            if default is not NOT_SET:
                out[name] = default
            elif required:
                raise Invalid(f"{name} is required and the remote value is empty", "REQUIRED")
            else:
                out[name] = empty
            return
        for fn in fns:
            value = fn(value)
        if coerce is not None:
            value = coerce(value)
        if target is not None and value:
            value = _to_canonical(target, value, ctx, name)
        out[name] = value

    return pull


def _to_canonical(target: str, value: Any, ctx: Ctx, name: str) -> Any:
    items = value if isinstance(value, list) else [value]
    if ctx.collect is not None:
        ctx.collect.extend((target, str(v)) for v in items)
        return value
    found = []
    for item in items:
        ref = ctx.resolver.to_canonical(target, str(item))
        if ref is None:
            ctx.missing.append((target, str(item)))
            ctx.pending_fields.append(name)
        else:
            found.append(ref)
    return found if isinstance(value, list) else (found[0] if found else None)


def _pusher(
    entity: str,
    pair: FieldPair,
    info: CanonicalField,
    put: Setter,
    fns: tuple[Fn, ...],
    nested: bool,
) -> PushFn:
    name, target = info.name, info.relation
    default = _default(entity, pair, info)
    extras = [(setter(k, nested), v) for k, v in pair.extra.items()]

    def push(values: Mapping[str, Any], out: dict[str, Any], ctx: Ctx) -> None:
        value = values.get(name, ABSENT)
        if value is ABSENT:
            return
        if value is None or value == [] or value == "":
            if default is not NOT_SET:
                value = default
            elif value is None and info.kind == "list":
                value = []
        if target is not None and value:
            value = _to_remote(target, value, ctx, pair.remote[0])
        if value is not None:
            for fn in fns:
                value = fn(value)
        put(out, value)
        if extras and value not in (None, "", []):
            for put_extra, constant in extras:
                put_extra(out, constant)

    return push


def _to_remote(target: str, value: Any, ctx: Ctx, name: str) -> Any:
    items = value if isinstance(value, list) else [value]
    found = []
    for item in items:
        ref = ctx.resolver.to_remote(target, str(item))
        if ref is None:
            ctx.missing.append((target, str(item)))
            ctx.pending_fields.append(name)
        else:
            found.append(ref)
    return found if isinstance(value, list) else (found[0] if found else None)


def _const_pair(
    entity: str, pair: FieldPair, info: CanonicalField | None, nested: bool
) -> CompiledPair:
    compiled = CompiledPair(pair)
    if pair.canonical and info is not None:
        value = canonical_value(entity, info.name, pair.kind, pair.const)
        compiled.canonical = compiled.outputs = (info.name,)
        compiled.pull = lambda data, out, ctx: out.__setitem__(info.name, value)
    else:
        put, constant = setter(pair.remote[0], nested), pair.const
        compiled.push = lambda values, out, ctx: put(out, constant)
    return compiled


def _strip(value: Any) -> Any:
    if value is ABSENT or value is None:
        return None
    return str(value).strip() or None


def _name_pair(pair: FieldPair, nested: bool) -> CompiledPair:
    compiled = CompiledPair(pair)
    if pair.remote_parts and pair.canonical:
        full = pair.canonical
        get_given, get_family = (getter(p, nested) for p in pair.remote_parts)
        put_given, put_family = (setter(p[0], nested) for p in pair.remote_parts)

        def pull(data: Mapping[str, Any], out: dict[str, Any], ctx: Ctx) -> None:
            given, family = get_given(data), get_family(data)
            if given is ABSENT and family is ABSENT:
                return
            out[full] = join_name(_strip(given), _strip(family))

        def push(values: Mapping[str, Any], out: dict[str, Any], ctx: Ctx) -> None:
            given, family = values.get("given_name"), values.get("family_name")
            if not (given or family) and full in values:
                given, family = split_name(values.get(full))
            elif not (given or family):
                return
            put_given(out, given or None)
            put_family(out, family or None)

        compiled.canonical = compiled.outputs = (full,)
        compiled.inputs = frozenset({full, "given_name", "family_name"})
    else:
        assert pair.canonical_parts is not None
        given_field, family_field = pair.canonical_parts
        get, put = getter(pair.remote, nested), setter(pair.remote[0], nested)

        def pull(data: Mapping[str, Any], out: dict[str, Any], ctx: Ctx) -> None:
            value = get(data)
            if value is not ABSENT:
                out[given_field], out[family_field] = split_name(_strip(value))

        def push(values: Mapping[str, Any], out: dict[str, Any], ctx: Ctx) -> None:
            if given_field in values or family_field in values:
                put(out, join_name(values.get(given_field), values.get(family_field)))

        compiled.canonical = compiled.outputs = (given_field, family_field)
        compiled.inputs = frozenset(pair.canonical_parts)
        compiled.reads = top_level_keys(pair.remote, nested)
    compiled.pull = pull if pair.pulls else None
    compiled.push = push if pair.pushes else None
    if not pair.pulls:
        compiled.outputs = ()
    return compiled


def _end_time_pair(
    entity: str,
    pair: FieldPair,
    info: CanonicalField,
    env: Env,
    nested: bool,
    peers: list[FieldPair],
) -> CompiledPair:
    step = next(s for s in pair.steps if s.name == "end_time")
    start_remote = str(step.args["start"])
    start = next((p for p in peers if p.remote[:1] == (start_remote,) and p.canonical), None)
    if start is None or start.canonical is None:
        raise Invalid(f"end_time: no pair maps the start field {start_remote}", "MAPPING")
    start_info = lookup_field(entity, start.canonical)
    if start_info is None or start_info.kind != "datetime":
        raise Invalid(f"end_time: {start_remote} must be mapped to a date-time field", "MAPPING")
    start_field = start.canonical
    built = [TRANSFORMS[s.name].build(s.args, env, "datetime") for s in start.steps]
    fallback = coercer(start_info, env)
    read = [p for p, _ in built] or ([fallback] if fallback is not None else [])
    write = [q for _, q in reversed(built)]
    get_end, get_start = getter(pair.remote, nested), getter(start.remote, nested)
    put = setter(pair.remote[0], nested)
    name = info.name

    def instant(value: Any) -> datetime:
        for fn in read:
            value = fn(value)
        return datetime.fromisoformat(value)

    def pull(data: Mapping[str, Any], out: dict[str, Any], ctx: Ctx) -> None:
        end, begin = get_end(data), get_start(data)
        if end is ABSENT:
            return
        if end in (None, "") or begin in (None, "", ABSENT):
            out[name] = None
            return
        seconds = (instant(end) - instant(begin)).total_seconds()
        out[name] = int(seconds + 30) // 60

    def push(values: Mapping[str, Any], out: dict[str, Any], ctx: Ctx) -> None:
        if name not in values:
            return
        minutes, begin = values.get(name), values.get(start_field)
        if minutes is None or begin is None:
            put(out, None)
            return
        value: Any = canonical_datetime(
            datetime.fromisoformat(begin) + timedelta(minutes=int(minutes))
        )
        for fn in write:
            value = fn(value)
        put(out, value)

    compiled = CompiledPair(pair, (name,), (name,), frozenset({name, start_field}))
    compiled.pull = pull if pair.pulls else None
    compiled.push = push if pair.pushes else None
    if not pair.pulls:
        compiled.outputs = ()
    return compiled
