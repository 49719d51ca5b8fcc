"""Which column is which: the mapping's header aliases, and one file's header read against them.

The connector does not map values (the mapping does); it needs the mapping
to know a file's columns: which one holds the external id, which ones may
hold crmbridge ids (a replayed create is found by them), where a value the
mapping writes under one alias goes when the file uses another (``Mobile``
into ``手机``), and what header a new file gets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from crmbridge.errors import ConfigError
from crmbridge.mapping.spec import EntitySpec

__all__ = ["EntityColumns", "Header", "IdKind"]


class IdKind(StrEnum):
    """What a file's id column is, which decides how an empty one gets filled."""

    PURE = "pure"
    """only an id (``Record Id``, ``编号``): every empty cell is filled on a rewrite"""
    KEY = "key"
    """the crmbridge id (``crmbridge_id``): filled with it for the rows a push writes"""
    FIELD = "field"
    """a mapped value (an organisation's ``Account Name``): never filled"""


@dataclass(frozen=True, slots=True)
class EntityColumns:
    """One entity's columns, as its mapping names them."""

    entity: str
    remote_id: tuple[str, ...]
    """aliases of the external id column, in order of preference"""
    key_aliases: tuple[str, ...]
    """aliases of the column holding the crmbridge id (the ``id`` pair)"""
    groups: tuple[tuple[str, ...], ...]
    """one alias group per column the mapping reads or writes"""
    id_only: tuple[str, ...] = ()
    """the external id aliases no pair maps (``Record Id``, ``编号``)"""
    _group_of: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    _folded: dict[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_spec(cls, spec: EntitySpec) -> EntityColumns:
        """The columns of ``spec`` (its shared pairs and every variant's)."""
        pairs = list(spec.fields)
        for variant in (spec.variants or {}).values():
            pairs += variant.fields
        groups: list[tuple[str, ...]] = []
        keys: tuple[str, ...] = ()
        for pair in pairs:
            if pair.remove:
                continue
            found = [pair.remote] if pair.remote else []
            found += list(pair.remote_parts or ())
            found += [(str(name),) for name in pair.extra]
            for aliases in found:
                if aliases and aliases not in groups:
                    groups.append(aliases)
            if pair.canonical == "id" and pair.remote:
                keys = pair.remote
        remote_id = spec.remote_id or ("id",)
        known = {name for group in groups for name in group}
        id_only = tuple(name for name in remote_id if name not in known)
        group_of: dict[str, tuple[str, ...]] = {}
        for group in [*groups, id_only]:
            for name in group:
                group_of.setdefault(name, group)
        folded = {name.casefold(): name for name in reversed(list(group_of))}
        return cls(spec.entity, remote_id, keys, tuple(groups), id_only, group_of, folded)

    def spelling(self, name: str) -> str:
        """``name`` as the mapping spells it (``email`` -> ``Email``), else as given."""
        if name in self._group_of:
            return name
        return self._folded.get(name.casefold(), name)

    def recognised(self, cells: Sequence[str]) -> int:
        """How many of a header row's ``cells`` name columns the mapping knows."""
        return sum(1 for cell in cells if self.knows(self.spelling(_cleaned(cell))))

    def knows(self, name: str) -> bool:
        """Whether ``name`` (as :meth:`spelling` gives it) is a column the mapping reads or writes."""
        return name in self._group_of

    def group(self, name: str) -> tuple[str, ...]:
        """The aliases of the column ``name`` (just ``name`` for a column the mapping lacks)."""
        return self._group_of.get(name, (name,))

    def id_kind(self, name: str) -> IdKind:
        """What the id column ``name`` is."""
        if name in self.key_aliases:
            return IdKind.KEY
        return IdKind.PURE if name in self.id_only else IdKind.FIELD

    @property
    def pure_id(self) -> str | None:
        """The first id alias that is only an id: the column a rewrite adds to a file lacking one."""
        return self.id_only[0] if self.id_only else None

    def new_header(self) -> list[str]:
        """The header of a new file: the first alias of every column, the id column first."""
        names = [group[0] for group in self.groups]
        if not any(name in names for name in self.remote_id):
            names.insert(0, self.pure_id or self.remote_id[0])
        return names


@dataclass(slots=True)
class Header:
    """One file's header read against its entity's columns."""

    path: Path
    columns: EntityColumns
    raw: list[str]
    names: list[str] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)
    id_index: int | None = None
    id_kind: IdKind | None = None
    key_indices: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.names = [self.columns.spelling(_cleaned(cell)) for cell in self.raw]
        seen: dict[str, int] = {}
        for i, name in enumerate(self.names):
            if not name:
                continue
            if name in seen:
                raise ConfigError(
                    f"the header names {name!r} twice (columns {seen[name] + 1} and {i + 1}); "
                    "rename one of them",
                    path=str(self.path),
                    entity=self.columns.entity,
                )
            seen[name] = i
        self.index = seen
        self._find_ids()

    def _find_ids(self) -> None:
        id_name = next((n for n in self.columns.remote_id if n in self.index), None)
        self.id_index = None if id_name is None else self.index[id_name]
        self.id_kind = None if id_name is None else self.columns.id_kind(id_name)
        keys = [self.index[n] for n in self.columns.key_aliases if n in self.index]
        if self.id_index is not None and self.id_kind is not IdKind.FIELD:
            keys.append(self.id_index)
        self.key_indices = sorted(set(keys))

    def check_known(self) -> None:
        """:class:`ConfigError` for a header the mapping cannot read (wrong file, delimiter, ...)."""
        cols = self.columns
        if not any(n in self.index for group in [*cols.groups, cols.id_only] for n in group):
            expected = ", ".join(g[0] for g in cols.groups[:8])
            raise ConfigError(
                f"none of the columns {', '.join(repr(n[:40]) for n in self.names[:8])} is one the "
                f"mapping of {cols.entity} knows (expected some of {expected}, ...); is it the "
                "right file, encoding and delimiter?",
                path=str(self.path),
                entity=cols.entity,
            )
        if self.id_index is None and not any(
            cols.id_kind(n) is not IdKind.FIELD for n in cols.remote_id
        ):
            raise ConfigError(
                f"the file has no column for the {cols.entity} external id; expected one of "
                f"{', '.join(cols.remote_id)}",
                path=str(self.path),
                entity=cols.entity,
            )

    def notes(self) -> list[str]:
        """What a person should hear before their file is read: columns that are not read.

        A column the mapping does not know, and the second column of one field
        (``Email`` and ``邮箱``: the first alias present is read), keep their
        cells in the file but are not synced.
        """
        cols, found = self.columns, []
        unknown = [n for n in self.names if n and not cols.knows(n)]
        if unknown:
            found.append(
                f"{self.path.name}: the mapping of {cols.entity} reads no column named "
                f"{_listed(unknown, 'or')}, so {'its' if len(unknown) == 1 else 'their'} values "
                "are not synced; to sync them, add the names as aliases in the connector's "
                "mapping (see mappings/csv.yaml)"
            )
        for group in [*cols.groups, cols.id_only]:
            present = [n for n in group if n in self.index]
            if len(present) > 1:
                found.append(
                    f"{self.path.name}: {_listed(present, 'and')} are one field of "
                    f"{cols.entity}; {present[0]!r} is read, not {_listed(present[1:], 'or')}"
                )
        return found

    def column_for(self, name: str) -> int | None:
        """The column a value the mapping writes as ``name`` goes to (by alias), if any."""
        found = self.index.get(name)
        if found is not None:
            return found
        return next((self.index[a] for a in self.columns.group(name) if a in self.index), None)

    def add(self, name: str) -> int:
        """Add a column at the end; returns its index."""
        self.raw.append(name)
        self.names.append(name)
        self.index[name] = len(self.raw) - 1
        self._find_ids()
        return self.index[name]

    def record(self, cells: Sequence[str]) -> dict[str, str]:
        """The named cells of a row (columns without a header name are left out)."""
        return {name: cells[i] for name, i in self.index.items()}


def _listed(names: Sequence[str], last: str) -> str:
    quoted = [repr(n) for n in names]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} {last} {quoted[-1]}"


def _cleaned(cell: str) -> str:
    """A header cell as a column name: without spaces around it, nor a byte-order mark."""
    return cell.strip().removeprefix("\ufeff").strip()
