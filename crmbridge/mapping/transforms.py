"""The closed set of value transforms a field pair may use, each working in both directions.

Every transform is a pair of functions on one non-empty value: ``pull``
(remote -> canonical) and ``push`` (canonical -> remote), built once from the
transform's arguments when a mapping is compiled. ``None`` never reaches
them: empty values skip transforms. A bad value raises :class:`Invalid`, which
rejects that record only. The catalogue, with arguments, is in
:data:`TRANSFORMS` and in the mapping spec (:mod:`crmbridge.mapping`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from crmbridge.mapping.builders import (
    Env,
    Fn,
    Invalid,
    build_boolean,
    build_date,
    build_datetime,
    build_duration,
    build_email,
    build_json,
    build_map,
    build_number,
    build_objects,
    build_phone,
    build_single,
    build_special,
    build_split,
)

__all__ = ["TRANSFORMS", "Env", "Fn", "Invalid", "TransformDef"]


@dataclass(frozen=True, slots=True)
class TransformDef:
    """One transform: the canonical kinds it applies to, its arguments and how to build it.

    ``args`` maps each argument to a one-line description; ``typed`` says the
    pull side already yields a canonical value of the field's kind.
    """

    name: str
    summary: str
    kinds: frozenset[str]
    args: Mapping[str, str]
    build: Callable[[Mapping[str, Any], Env, str], tuple[Fn, Fn]]
    typed: bool = True


_TEXTUAL: Final = frozenset({"text", "json"})
_ALL: Final = frozenset(
    {"text", "enum", "integer", "number", "boolean", "date", "datetime", "list", "json"}
)

TRANSFORMS: Final[Mapping[str, TransformDef]] = {
    t.name: t
    for t in (
        TransformDef(
            "map",
            "pick-list value map; unmapped values follow the policy",
            frozenset({"text", "enum", "list", "integer", "boolean", "json"}),
            {
                "values": "canonical value -> remote value, or a list of remote values (the first is written)",
                "unmapped": "reject (default) | keep | {default: <canonical value>}",
            },
            build_map,
        ),
        TransformDef(
            "phone",
            "phone number <-> E.164",
            _TEXTUAL,
            {
                "region": "region for numbers without a country code (default: defaults.phone_region)",
                "format": "how to write it: e164 (default) | national | international",
            },
            build_phone,
        ),
        TransformDef("email", "email address, normalised", _TEXTUAL, {}, build_email),
        TransformDef(
            "date",
            "calendar date in declared formats",
            frozenset({"date", "json"}),
            {"format": "iso | a strftime format | a list of them (the first is written)"},
            build_date,
        ),
        TransformDef(
            "datetime",
            "date-time with time zone",
            frozenset({"datetime", "json"}),
            {
                "format": "iso | epoch_ms | epoch_s | a strftime format | a list (the first is written)",
                "timezone": "IANA zone for times without an offset, and for writing (default: defaults.timezone)",
            },
            build_datetime,
        ),
        TransformDef(
            "name",
            "full name <-> given and family name (Western and Chinese)",
            frozenset({"text"}),
            {},
            build_special,
        ),
        TransformDef(
            "split",
            "list <-> text joined by a separator",
            frozenset({"list", "json"}),
            {"separator": "default: defaults.list_separator (;)"},
            build_split,
        ),
        TransformDef(
            "objects",
            "list <-> list of objects, one key each ([{name: VIP}])",
            frozenset({"list", "json"}),
            {
                "key": "the key holding the value",
                "with": "constant keys added on push and required on pull",
            },
            build_objects,
        ),
        TransformDef(
            "number",
            "number parsing",
            frozenset({"integer", "number", "json"}),
            {
                "decimal": "decimal mark (.)",
                "thousands": "grouping mark (,)",
                "text": "write as text (false)",
            },
            build_number,
        ),
        TransformDef(
            "boolean",
            "yes/no parsing",
            frozenset({"boolean", "json"}),
            {"true": "words read as true (the first is written)", "false": "words read as false"},
            build_boolean,
        ),
        TransformDef(
            "duration",
            "duration <-> whole minutes",
            frozenset({"integer"}),
            {"unit": "minutes (default) | seconds | hours | mm:ss | hh:mm"},
            build_duration,
        ),
        TransformDef(
            "end_time",
            "end date-time <-> duration in minutes from a start field",
            frozenset({"integer"}),
            {"start": "the remote field holding the start (mapped by another pair)"},
            build_special,
        ),
        TransformDef(
            "single",
            "list <-> one remote value (a remote field that holds one reference)",
            frozenset({"list"}),
            {},
            build_single,
            typed=False,
        ),
        TransformDef("json", "JSON text <-> value", _ALL, {}, build_json),
    )
}
"""Every transform by name: the closed set the mapping spec documents."""
