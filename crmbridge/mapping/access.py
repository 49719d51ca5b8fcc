"""Reading and writing remote fields (aliases, nested paths) and making remote values canonical."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any, Final

from crmbridge.mapping.builders import Env, Fn, Invalid
from crmbridge.mapping.values import CanonicalField, canonical_datetime

__all__ = ["ABSENT", "Getter", "Setter", "coercer", "getter", "setter", "top_level_keys"]

ABSENT: Final[Any] = type("Absent", (), {"__repr__": lambda self: "ABSENT"})()
"""What a getter returns for a remote key the record does not have (not the same as ``None``)."""

Getter = Callable[[Mapping[str, Any]], Any]
Setter = Callable[[dict[str, Any], Any], None]


def getter(names: tuple[str, ...], nested: bool) -> Getter:
    """Read the first of ``names`` present (``a.b`` descends into objects when ``nested``)."""
    paths = [tuple(n.split(".")) if nested and "." in n else (n,) for n in names]
    if len(paths) == 1 and len(paths[0]) == 1:
        key = paths[0][0]
        return lambda data: data.get(key, ABSENT)
    if all(len(path) == 1 for path in paths):
        keys = tuple(path[0] for path in paths)

        def get_any(data: Mapping[str, Any]) -> Any:
            for key in keys:
                if key in data:
                    return data[key]
            return ABSENT

        return get_any

    def get(data: Mapping[str, Any]) -> Any:
        for path in paths:
            value: Any = data
            for part in path:
                if value is None:
                    break
                if not isinstance(value, Mapping) or part not in value:
                    value = ABSENT
                    break
                value = value[part]
            if value is not ABSENT:
                return value
        return ABSENT

    return get


def top_level_keys(names: tuple[str, ...], nested: bool) -> frozenset[str]:
    """The keys of a record that :func:`getter` for ``names`` looks at first: when a record
    holds none of them, the getter finds nothing."""
    return frozenset(n.split(".", 1)[0] if nested else n for n in names)


def setter(name: str, nested: bool) -> Setter:
    """Write ``name`` (``a.b`` builds ``{"a": {"b": ...}}`` when ``nested``)."""
    if not nested or "." not in name:
        return lambda out, value: out.__setitem__(name, value)
    *parents, last = name.split(".")

    def put(out: dict[str, Any], value: Any) -> None:
        node = out
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                if value is None and child is None:
                    node[part] = None
                    return
                child = node[part] = {}
            node = child
        node[last] = value

    return put


def coercer(info: CanonicalField, env: Env) -> Fn | None:
    """The last pull step making a remote value canonical for the field's kind."""
    kind = info.kind

    def text(value: Any) -> Any:
        if value.__class__ is str:
            return value.strip() or None
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return str(value).strip() or None
        raise Invalid(f"expected text, got {type(value).__name__}")

    def enum(value: Any) -> Any:
        if isinstance(value, str) and value in info.choices:
            return value
        raise Invalid(f"{value!r} is not one of {', '.join(info.choices)}", "UNMAPPED_VALUE")

    def integer(value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and value.lstrip("+-").isdigit():
            return int(value)
        raise Invalid(f"{value!r} is not a whole number")

    def number(value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        try:
            return float(value)
        except (TypeError, ValueError):
            raise Invalid(f"{value!r} is not a number") from None

    def boolean(value: Any) -> Any:
        if isinstance(value, bool):
            return value
        raise Invalid(f"{value!r} is not true or false (add transform: boolean to read words)")

    def day(value: Any) -> Any:
        try:
            return (
                value.isoformat()
                if isinstance(value, date)
                else date.fromisoformat(str(value)).isoformat()
            )
        except ValueError:
            raise Invalid(
                f"{value!r} is not a date (YYYY-MM-DD; add transform: date for others)"
            ) from None

    def moment(value: Any) -> Any:
        try:
            return canonical_datetime(
                value if isinstance(value, datetime) else str(value), env.timezone
            )
        except ValueError:
            raise Invalid(
                f"{value!r} is not an ISO 8601 date-time (add transform: datetime for others)"
            ) from None

    def listed(value: Any) -> Any:
        items = value if isinstance(value, list) else [value]
        return [t for t in (str(v).strip() for v in items if v is not None) if t]

    table: dict[str, Fn | None] = {
        "text": text,
        "enum": enum,
        "integer": integer,
        "number": number,
        "boolean": boolean,
        "date": day,
        "datetime": moment,
        "list": listed,
        "json": None,
    }
    return table[kind]
