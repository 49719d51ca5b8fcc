"""Compiled mappings: one :class:`EntityMapper` per entity, mapping records both ways."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from crmbridge.errors import RecordRejected
from crmbridge.mapping.access import ABSENT, getter
from crmbridge.mapping.pairs import CompiledPair, Ctx, compile_pair
from crmbridge.mapping.shipped import MappingSpec
from crmbridge.mapping.spec import EntitySpec, FieldPair
from crmbridge.mapping.transforms import Invalid
from crmbridge.sync.ports import RelationPending, RelationResolver

__all__ = [
    "REMOTE_KEY",
    "BatchResult",
    "CompiledMapping",
    "EntityMapper",
    "PendingRelation",
    "compile_spec",
]

REMOTE_KEY: Final = "$remote"
"""Where a record of an entity with variants names its remote object (on pull and on push)."""


class PendingRelation(RelationPending):
    """A record maps, but refers to records not linked yet: park it and retry, nothing is dropped.

    ``missing`` lists ``(entity, id)`` pairs (external ids on pull, crmbridge
    ids on push); ``data`` holds everything else the record mapped to.
    """

    def __init__(
        self,
        message: str,
        *,
        data: dict[str, Any],
        missing: Sequence[tuple[str, str]],
        **context: Any,
    ) -> None:
        super().__init__(message, missing=missing, **context)
        self.data = data


@dataclass(slots=True)
class BatchResult:
    """A batch mapped record by record: ``(key, data)`` for each mapped one, and the others."""

    mapped: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    pending: list[tuple[str, PendingRelation]] = field(default_factory=list)
    rejected: list[tuple[str, RecordRejected]] = field(default_factory=list)


@dataclass(slots=True)
class _Group:
    """The compiled pairs of an entity, or of one of its variants."""

    remote: str
    when: tuple[str, ...]
    pull_plain: list[tuple[str, str]]
    pulls: list[tuple[str, Any]]
    pushes: list[tuple[str, Any, frozenset[str]]]
    refs: list[tuple[str, Any]]
    reads: list[frozenset[str] | None] = field(default_factory=list)
    """For each of ``pulls``, the remote keys without which it does nothing (see
    :attr:`CompiledPair.reads`)."""
    shapes: dict[tuple[str, ...], list[tuple[str, Any]]] = field(default_factory=dict)
    """The pulls worth running for a record holding these keys, by the keys in its order."""

    def pulls_for(self, data: Mapping[str, Any]) -> list[tuple[str, Any]]:
        """The pulls that may find something in ``data``: a file's rows all hold the same
        columns, and most of a mapping's fields are often not among them.

        ``data`` is a ``dict``, or tells its keys as a
        :class:`~crmbridge.connector.Shaped` ``crmbridge_keys``; other mappings run every pull.
        """
        if type(data) is dict:
            shape: tuple[str, ...] = tuple(data)
        else:
            told = getattr(data, "crmbridge_keys", None)
            if type(told) is not tuple:
                return self.pulls
            shape = told
        found = self.shapes.get(shape)
        if found is None:
            found = [
                pull
                for pull, reads in zip(self.pulls, self.reads, strict=True)
                if reads is None or not reads.isdisjoint(data)
            ]
            if len(self.shapes) < _SHAPES:
                self.shapes[shape] = found
        return found


_SHAPES: Final = 64
"""Record shapes remembered per group (records whose keys vary beyond that are not slower)."""


class EntityMapper:
    """One entity's mapping, compiled: implements :class:`crmbridge.sync.ports.EntityMapper`.

    ``to_canonical`` and ``to_remote`` map one record and raise
    :class:`RecordRejected` (naming the field) or :class:`PendingRelation`;
    :meth:`map_batch` maps many and never raises for one bad record.
    """

    def __init__(
        self, connector: str, spec: EntitySpec, groups: dict[str, _Group], pairs: list[CompiledPair]
    ) -> None:
        self.connector = connector
        self.entity = spec.entity
        self.spec = spec
        self.identity: tuple[str, ...] = spec.identity or ()
        self.remote_id: tuple[str, ...] = spec.remote_id or ("id",)
        self.variant_by = spec.variant_by
        self.remote_key = spec.remote_key or REMOTE_KEY
        self._groups = groups
        self._by_remote = {g.remote: g for g in groups.values()}
        self._by_value = {value: g for g in groups.values() for value in g.when}
        pulled = {name for p in pairs if p.pull for name in p.outputs}
        pushed = {name for p in pairs if p.push for name in p.canonical}
        everything = (pulled | pushed) - {"id"}
        self.fields: tuple[str, ...] = tuple(sorted(everything))
        self.pull_only: frozenset[str] = frozenset(everything - pushed)
        self.push_only: frozenset[str] = frozenset(everything - pulled)
        self.refers_to: frozenset[str] = frozenset(
            target
            for group in groups.values()
            for name, _ in group.refs
            if (target := _relation_of(self.entity, name)) is not None
        )

    @property
    def remotes(self) -> tuple[str, ...]:
        """The remote objects this entity reads and writes (one, or one per variant)."""
        return tuple(g.remote for g in self._groups.values())

    def _reject(self, exc: Invalid, name: str, data: Mapping[str, Any] | None) -> RecordRejected:
        external = getter(self.remote_id, True)(data) if data is not None else ABSENT
        return RecordRejected(
            f"{name}: {exc}",
            code=exc.code,
            connector=self.connector,
            entity=self.entity,
            external_id=None if external in (ABSENT, None) else str(external),
            field=name,
        )

    def _pull_group(self, data: Mapping[str, Any]) -> _Group:
        if len(self._groups) == 1 and not self.variant_by:
            return next(iter(self._groups.values()))
        remote = data.get(self.remote_key)
        group = self._by_remote.get(str(remote))
        if group is None:
            raise self._reject(
                Invalid(
                    f"the record's {self.remote_key} is {remote!r}; expected one of {', '.join(self._by_remote)}",
                    "MAPPING",
                ),
                self.remote_key,
                data,
            )
        return group

    def references(self, data: Mapping[str, Any]) -> list[tuple[str, str]]:
        """The ``(entity, external id)`` pairs a remote record refers to, to prefetch links."""
        found: list[tuple[str, str]] = []
        try:
            group = self._pull_group(data)
            ctx = Ctx(None, found)
            for _name, fn in group.refs:
                fn(data, {}, ctx)
        except (Invalid, RecordRejected):
            pass  # the record is rejected when it is mapped
        return found

    def to_canonical(self, data: Mapping[str, Any], resolver: RelationResolver) -> dict[str, Any]:
        """Flat canonical values of one remote record (only the fields it holds)."""
        group = self._pull_group(data)
        out: dict[str, Any] = {}
        ctx = Ctx(resolver)
        for key, name in group.pull_plain:
            value = data.get(key, ABSENT)
            if value is not ABSENT:
                if value.__class__ is str:
                    out[name] = value.strip() or None
                elif value is None:
                    out[name] = None
                else:
                    try:
                        out[name] = _text(value)
                    except Invalid as exc:
                        raise self._reject(exc, name, data) from None
        for name, fn in group.pulls_for(data):
            try:
                fn(data, out, ctx)
            except Invalid as exc:
                raise self._reject(exc, name, data) from None
        if ctx.missing:
            raise PendingRelation(
                f"refers to records not linked yet: {_refs(ctx.missing)}",
                data=_without(out, ctx.pending_fields),
                missing=ctx.missing,
                connector=self.connector,
                entity=self.entity,
            )
        return out

    def to_remote(
        self,
        values: Mapping[str, Any],
        resolver: RelationResolver,
        only: Collection[str] | None = None,
    ) -> dict[str, Any]:
        """A remote payload for flat canonical ``values``; only the fields in ``only`` when given.

        Fields absent from ``values`` are left out of the payload. For an entity
        with variants the payload names its remote object under :attr:`remote_key`.
        """
        group = self._push_group(values)
        out: dict[str, Any] = {}
        ctx = Ctx(resolver)
        wanted = None if only is None else frozenset(only)
        for name, fn, inputs in group.pushes:
            if wanted is None or not inputs.isdisjoint(wanted):
                try:
                    fn(values, out, ctx)
                except Invalid as exc:
                    raise self._reject(exc, name, None) from None
        if ctx.missing:
            raise PendingRelation(
                f"refers to records not pushed yet: {_refs(ctx.missing)}",
                data=_without(out, ctx.pending_fields),
                missing=ctx.missing,
                connector=self.connector,
                entity=self.entity,
            )
        if self.variant_by:
            out[self.remote_key] = group.remote
        return out

    def _push_group(self, values: Mapping[str, Any]) -> _Group:
        if not self.variant_by:
            return next(iter(self._groups.values()))
        value = values.get(self.variant_by)
        group = self._by_value.get(str(value))
        if group is None:
            raise self._reject(
                Invalid(
                    f"{value!r} has no remote object in this mapping; mapped: {', '.join(self._by_value)}",
                    "NO_VARIANT",
                ),
                self.variant_by,
                None,
            )
        return group

    def map_batch(
        self,
        direction: Literal["pull", "push"],
        records: Iterable[tuple[str, Mapping[str, Any]]],
        resolver: RelationResolver,
    ) -> BatchResult:
        """Map ``(key, data)`` records one by one: a bad one is rejected alone, the rest map."""
        result = BatchResult()
        mapping = self.to_canonical if direction == "pull" else self.to_remote
        for key, data in records:
            try:
                result.mapped.append((key, mapping(data, resolver)))
            except PendingRelation as exc:
                result.pending.append((key, exc))
            except RecordRejected as exc:
                result.rejected.append((key, exc))
        return result


def _text(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise Invalid(f"expected text, got {type(value).__name__}")


def _without(data: dict[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """The mapped data minus the fields whose references are not linked yet (top-level keys)."""
    drop = {name.split(".")[0] for name in names}
    return {key: value for key, value in data.items() if key not in drop}


def _refs(missing: Sequence[tuple[str, str]]) -> str:
    return ", ".join(f"{entity} {ref}" for entity, ref in missing)


@dataclass(frozen=True, slots=True)
class CompiledMapping:
    """A whole mapping file, compiled: its spec and one :class:`EntityMapper` per entity."""

    spec: MappingSpec
    entities: Mapping[str, EntityMapper]

    def entity(self, name: str) -> EntityMapper:
        """The mapper of ``name``; :class:`KeyError` lists the mapped entities."""
        try:
            return self.entities[name]
        except KeyError:
            raise KeyError(
                f"{self.spec.path} maps no {name}; it maps {', '.join(self.entities)}"
            ) from None


def compile_spec(spec: MappingSpec, connector: str | None = None) -> CompiledMapping:
    """Compile a checked spec; ``connector`` (the instance name) goes into rejections.

    Raises :class:`Invalid` for a pair that cannot be built (a problem
    :func:`crmbridge.mapping.check_mapping` reports with its line).
    """
    nested = spec.defaults.get("nested_paths", True) is not False
    mappers: dict[str, EntityMapper] = {}
    for name, entity in spec.entities.items():
        shared = [p for p in entity.fields if not p.remove]
        variants = entity.variants or {}
        groups: dict[str, _Group] = {}
        every: list[CompiledPair] = []
        sets = (
            [
                (v.name, v.remote or "", v.when, shared + [p for p in v.fields if not p.remove])
                for v in variants.values()
            ]
            if variants
            else [("", entity.remote or "", (), shared)]
        )
        for key, remote, when, pairs in sets:
            compiled = [compile_pair(name, p, spec.env, nested, pairs) for p in pairs]
            every += compiled
            groups[key] = _group(
                remote, when, compiled, entity, variants[key].fields if variants else ()
            )
        mappers[name] = EntityMapper(connector or spec.connector, entity, groups, every)
    return CompiledMapping(spec, mappers)


def _group(
    remote: str,
    when: tuple[str, ...],
    pairs: list[CompiledPair],
    entity: EntitySpec,
    own: Sequence[FieldPair],
) -> _Group:
    plain = [c.plain for c in pairs if c.plain is not None]
    pulling = [c for c in pairs if c.pull is not None and c.plain is None]
    pulls = [(c.outputs[0], c.pull) for c in pulling]
    reads = [c.reads for c in pulling]
    chooser = entity.variant_by
    if chooser and when and not any(chooser in c.outputs for c in pairs if c.pull):
        value = when[0]
        pulls.append((chooser, lambda data, out, ctx: out.__setitem__(chooser, value)))
        reads.append(None)
    pushes = [
        (c.canonical[0] if c.canonical else c.pair.key, c.push, c.inputs or frozenset({c.pair.key}))
        for c in pairs
        if c.push is not None
    ]
    refs = [(n, fn) for n, fn in pulls if _is_relation(entity.entity, n)]
    return _Group(remote, when, plain, pulls, pushes, refs, reads)


def _is_relation(entity: str, name: str) -> bool:
    return _relation_of(entity, name) is not None


def _relation_of(entity: str, name: str) -> str | None:
    """The entity the field ``name`` of ``entity`` refers to, if it is a relation."""
    from crmbridge.mapping.values import lookup_field

    info = lookup_field(entity, name)
    return info.relation if info is not None else None
