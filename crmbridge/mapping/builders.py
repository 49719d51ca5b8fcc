"""How each transform is built: a ``(pull, push)`` pair of functions on one non-empty value.

The catalogue and its arguments are in :mod:`crmbridge.mapping.transforms`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, Final

from crmbridge import normalize as fastnorm
from crmbridge.mapping.values import canonical_datetime

__all__ = [
    "Env",
    "Fn",
    "Invalid",
    "build_boolean",
    "build_date",
    "build_datetime",
    "build_duration",
    "build_email",
    "build_json",
    "build_map",
    "build_number",
    "build_objects",
    "build_phone",
    "build_single",
    "build_special",
    "build_split",
]

Fn = Callable[[Any], Any]


class Invalid(ValueError):
    """A value a transform cannot take; ``code`` is the rejection's machine-readable reason."""

    def __init__(self, message: str, code: str = "INVALID_VALUE") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Env:
    """The mapping file's ``defaults``, resolved: what transforms fall back on."""

    timezone: tzinfo = UTC
    phone_region: str | None = None
    date_formats: tuple[str, ...] = ("iso",)
    datetime_formats: tuple[str, ...] = ("iso",)
    list_separator: str = ";"


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _listed(value: Any) -> tuple[Any, ...]:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, list | tuple) else (value,)


def build_phone(args: Mapping[str, Any], env: Env, kind: str) -> tuple[Fn, Fn]:
    region = args.get("region") or env.phone_region
    style = args.get("format", "e164")

    def pull(value: Any) -> Any:
        try:
            return fastnorm.phone(str(value), region)
        except ValueError as exc:
            raise Invalid(str(exc)) from None

    if style == "e164":
        return pull, _same
    return pull, lambda value: fastnorm.phone_format(value, region, style)


def _same(value: Any) -> Any:
    return value


def build_email(args: Mapping[str, Any], env: Env, kind: str) -> tuple[Fn, Fn]:
    def pull(value: Any) -> Any:
        try:
            return fastnorm.email(str(value))
        except ValueError as exc:
            raise Invalid(str(exc)) from None

    return pull, _same


def _parse_with(formats: tuple[str, ...], text: str, zone: tzinfo, what: str) -> datetime:
    for fmt in formats:
        try:
            if fmt == "iso":
                moment = datetime.fromisoformat(text)
            elif fmt in ("epoch_ms", "epoch_s"):
                moment = _from_epoch(int(text), fmt)
            else:
                moment = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)
    shown = ", ".join(formats)
    raise Invalid(f"{text!r} is not a {what} in the declared formats ({shown})")


def _from_epoch(number: int, fmt: str) -> datetime:
    unit = timedelta(milliseconds=1) if fmt == "epoch_ms" else timedelta(seconds=1)
    return _EPOCH + number * unit


def build_date(args: Mapping[str, Any], env: Env, kind: str) -> tuple[Fn, Fn]:
    formats = tuple(_listed(args.get("format"))) or env.date_formats
    first = formats[0]

    def pull(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.date().isoformat()
        if isinstance(value, date):
            return value.isoformat()
        return _parse_with(formats, str(value), UTC, "date").date().isoformat()

    def push(value: Any) -> Any:
        day = date.fromisoformat(value)
        return day.isoformat() if first == "iso" else day.strftime(first)

    return pull, push


def build_datetime(args: Mapping[str, Any], env: Env, kind: str) -> tuple[Fn, Fn]:
    from zoneinfo import ZoneInfo

    formats = tuple(_listed(args.get("format"))) or env.datetime_formats
    zone = ZoneInfo(args["timezone"]) if args.get("timezone") else env.timezone
    first = formats[0]
    epoch = next((f for f in formats if f in ("epoch_ms", "epoch_s")), None)

    def pull(value: Any) -> Any:
        if isinstance(value, datetime):
            return canonical_datetime(value, zone)
        if isinstance(value, int | float) and not isinstance(value, bool):
            if epoch is None:
                raise Invalid(f"{value!r} is a number; this field takes {', '.join(formats)}")
            return canonical_datetime(_from_epoch(int(value), epoch))
        return canonical_datetime(_parse_with(formats, str(value), zone, "date-time"))

    def push(value: Any) -> Any:
        moment = datetime.fromisoformat(value).astimezone(zone)
        if first == "iso":
            spec = "seconds" if moment.microsecond == 0 else "auto"
            return moment.isoformat(timespec=spec)
        if first in ("epoch_ms", "epoch_s"):
            unit = timedelta(milliseconds=1) if first == "epoch_ms" else timedelta(seconds=1)
            return (moment - _EPOCH) // unit
        return moment.strftime(first)

    return pull, push


def build_number(args: Mapping[str, Any], env: Env, kind: str) -> tuple[Fn, Fn]:
    decimal = str(args.get("decimal", "."))
    thousands = str(args.get("thousands", ","))
    as_text = bool(args.get("text", False))

    def pull(value: Any) -> Any:
        if isinstance(value, bool):
            raise Invalid(f"{value!r} is not a number")
        if isinstance(value, str):
            text = value.replace(thousands, "") if thousands else value
            text = text.replace(decimal, ".") if decimal != "." else text
            try:
                value = (
                    int(text) if kind == "integer" and text.lstrip("+-").isdigit() else float(text)
                )
            except ValueError:
                raise Invalid(f"{value!r} is not a number") from None
        if kind == "integer" and not isinstance(value, int):
            if not float(value).is_integer():
                raise Invalid(f"{value!r} is not a whole number")
            value = int(value)
        return value

    def push(value: Any) -> Any:
        return str(value).replace(".", decimal) if as_text else value

    return pull, push


def build_boolean(args: Mapping[str, Any], env: Env, kind: str) -> tuple[Fn, Fn]:
    trues = tuple(str(v) for v in _listed(args.get("true"))) or ("true",)
    falses = tuple(str(v) for v in _listed(args.get("false"))) or ("false",)
    words = {t.casefold(): True for t in (*trues, "true", "1")}
    words.update({f.casefold(): False for f in (*falses, "false", "0")})
    written = "true" in args or "false" in args

    def pull(value: Any) -> Any:
        if isinstance(value, bool):
            return value
        found = words.get(str(value).strip().casefold())
        if found is None:
            raise Invalid(f"{value!r} is not a yes/no value; use one of {', '.join(words)}")
        return found

    def push(value: Any) -> Any:
        if not written:
            return bool(value)
        return trues[0] if value else falses[0]

    return pull, push


def build_split(args: Mapping[str, Any], env: Env, kind: str) -> tuple[Fn, Fn]:
    sep = str(args.get("separator", env.list_separator))

    def pull(value: Any) -> Any:
        items = value.split(sep) if isinstance(value, str) else _listed(value)
        return [text for text in (str(item).strip() for item in items) if text]

    def push(value: Any) -> Any:
        for item in value:
            if sep in item:
                raise Invalid(f"{item!r} holds the separator {sep!r}; it would not read back whole")
        return sep.join(value)

    return pull, push


def build_objects(args: Mapping[str, Any], env: Env, kind: str) -> tuple[Fn, Fn]:
    key = str(args["key"])
    extra = dict(args.get("with") or {})

    def pull(value: Any) -> Any:
        if not isinstance(value, list):
            raise Invalid(f"expected a list of objects with {key!r}, got {type(value).__name__}")
        found = [item for item in value if isinstance(item, dict) and item.get(key) is not None]
        if extra:
            found = [item for item in found if all(item.get(k) == v for k, v in extra.items())]
        return [item[key] for item in found]

    def push(value: Any) -> Any:
        return [{key: item, **extra} for item in value]

    return pull, push


def build_duration(args: Mapping[str, Any], env: Env, kind: str) -> tuple[Fn, Fn]:
    unit = str(args.get("unit", "minutes"))

    def pull(value: Any) -> Any:
        try:
            if unit in ("mm:ss", "hh:mm"):
                high, low = (int(part) for part in str(value).split(":"))
                seconds = high * 60 + low if unit == "mm:ss" else (high * 60 + low) * 60
            else:
                scale = {"seconds": 1, "minutes": 60, "hours": 3600}[unit]
                seconds = round(float(value) * scale)
        except ValueError:
            raise Invalid(f"{value!r} is not a duration in {unit}") from None
        return (seconds + 30) // 60

    def push(value: Any) -> Any:
        minutes = int(value)
        if unit == "mm:ss":
            return f"{minutes:02d}:00"
        if unit == "hh:mm":
            return f"{minutes // 60:02d}:{minutes % 60:02d}"
        return {"seconds": minutes * 60, "minutes": minutes, "hours": minutes / 60}[unit]

    return pull, push


def build_json(args: Mapping[str, Any], env: Env, kind: str) -> tuple[Fn, Fn]:
    def pull(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except ValueError as exc:
            raise Invalid(f"not JSON text: {exc}") from None

    def push(value: Any) -> Any:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    return pull, push


def build_map(args: Mapping[str, Any], env: Env, kind: str) -> tuple[Fn, Fn]:
    forward: dict[Any, Any] = {}
    backward: dict[Any, Any] = {}
    folded: dict[str, Any] = {}
    for canonical, remote in (args.get("values") or {}).items():
        written = _listed(remote)
        forward[canonical] = written[0] if written else None
        for item in written:
            backward.setdefault(item, canonical)
            if isinstance(item, str):
                folded.setdefault(item.strip().casefold(), canonical)
    policy = args.get("unmapped", "reject")
    fallback = policy.get("default") if isinstance(policy, dict) else None
    shown = ", ".join(str(v) for v in backward)

    def pull_one(value: Any) -> Any:
        try:
            return backward[value]
        except (KeyError, TypeError):
            pass
        if isinstance(value, str) and (found := folded.get(value.strip().casefold())) is not None:
            return found
        if fallback is not None:
            return fallback
        if policy == "keep":
            return value
        raise Invalid(f"{value!r} is not in the value map (mapped: {shown})", "UNMAPPED_VALUE")

    def push_one(value: Any) -> Any:
        try:
            return forward[value]
        except (KeyError, TypeError):
            pass
        if fallback is not None:
            return forward[fallback]
        if policy == "keep":
            return value
        mapped = ", ".join(str(v) for v in forward)
        raise Invalid(f"{value!r} is not in the value map (mapped: {mapped})", "UNMAPPED_VALUE")

    if kind == "list":
        return (
            lambda value: [pull_one(v) for v in _listed(value)],
            lambda value: [push_one(v) for v in value],
        )
    return pull_one, push_one


def build_single(args: Mapping[str, Any], env: Env, kind: str) -> tuple[Fn, Fn]:
    def pull(value: Any) -> Any:
        return value if isinstance(value, list) else [value]

    def push(value: Any) -> Any:
        if len(value) > 1:
            raise Invalid(f"the remote field holds one value; this record has {len(value)}")
        return value[0] if value else None

    return pull, push


def build_special(args: Mapping[str, Any], env: Env, kind: str) -> tuple[Fn, Fn]:
    raise AssertionError("built by the compiler")  # pragma: no cover
