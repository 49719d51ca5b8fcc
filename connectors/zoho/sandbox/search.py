"""The Search API's ``criteria`` language and the ``email`` / ``phone`` / ``word`` shortcuts.

``criteria`` is ``(Field:operator:value)`` groups joined by ``and`` / ``or`` with
parentheses; ``\\(``, ``\\)`` and ``\\,`` escape. As in Zoho, ``equals`` on text
matches as *contains* (case-insensitive), so Search cannot prove a record absent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connectors.zoho.sandbox.errors import ZohoError
from connectors.zoho.sandbox.records import parse_datetime, render
from connectors.zoho.sandbox.schema import ModuleDef
from connectors.zoho.sandbox.state import SandboxState, StoredRecord

__all__ = ["Matcher", "matcher"]

Matcher = Callable[[SandboxState, StoredRecord], bool]
OPERATORS = (
    "equals",
    "not_equal",
    "starts_with",
    "in",
    "greater_than",
    "greater_equal",
    "less_than",
    "less_equal",
    "between",
)
MAX_CRITERIA = 10


def _bad(reason: str) -> ZohoError:
    return ZohoError(400, "INVALID_QUERY", "Invalid query formed", {"reason": reason})


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts, buf, i = [], [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            buf.append(text[i + 1])
            i += 2
            continue
        if ch == sep:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
        i += 1
    parts.append("".join(buf))
    return parts


def _comparable(value: Any) -> Any:
    if isinstance(value, dict):
        return str(value.get("id"))
    if isinstance(value, str) and (dt := parse_datetime(value)) is not None and "T" in value:
        return dt
    return value


def _coerce(sample: Any, raw: str) -> Any:
    if isinstance(sample, bool):
        return raw.lower() == "true"
    if isinstance(sample, int | float):
        try:
            return float(raw)
        except ValueError:
            raise _bad(f"{raw!r} is not a number") from None
    if hasattr(sample, "tzinfo"):
        parsed = parse_datetime(raw)
        if parsed is None:
            raise _bad(f"{raw!r} is not a datetime")
        return parsed
    return raw


def _condition(mod: ModuleDef, text: str) -> Matcher:
    field_name, sep1, rest = text.partition(":")
    op, sep2, raw = rest.partition(":")
    if not (sep1 and sep2):
        raise _bad("criteria must be (field:operator:value)")
    if op not in OPERATORS:
        raise _bad(f"invalid operator found: {op}")
    if field_name != "id" and mod.field(field_name) is None:
        raise _bad(f"invalid field found: {field_name}")
    values = _split_unescaped(raw, ",")

    def match(state: SandboxState, rec: StoredRecord) -> bool:
        actual = _comparable(
            rec.id if field_name == "id" else render(state, rec, 8, [field_name]).get(field_name)
        )
        if actual is None:
            return op == "not_equal"
        wanted = [_coerce(actual, v) for v in values]
        if isinstance(actual, str):
            a, w = actual.casefold(), [str(x).casefold() for x in wanted]
            checks: dict[str, Callable[[], bool]] = {
                "equals": lambda: w[0] in a,
                "not_equal": lambda: w[0] not in a,
                "starts_with": lambda: a.startswith(w[0]),
                "in": lambda: any(x in a for x in w),
            }
            if op in checks:
                return checks[op]()
        ops: dict[str, Callable[[], Any]] = {
            "equals": lambda: actual == wanted[0],
            "not_equal": lambda: actual != wanted[0],
            "in": lambda: actual in wanted,
            "greater_than": lambda: actual > wanted[0],
            "greater_equal": lambda: actual >= wanted[0],
            "less_than": lambda: actual < wanted[0],
            "less_equal": lambda: actual <= wanted[0],
            "between": lambda: wanted[0] <= actual <= wanted[1],
            "starts_with": lambda: str(actual).startswith(str(wanted[0])),
        }
        try:
            return bool(ops[op]())
        except (TypeError, IndexError):
            raise _bad(f"operator {op} does not apply to {field_name}") from None

    return match


def _criteria(mod: ModuleDef, text: str) -> Matcher:
    pos = 0
    count = 0

    def group() -> Matcher:
        nonlocal pos, count
        if pos >= len(text) or text[pos] != "(":
            raise _bad("criteria must be wrapped in parentheses")
        pos += 1
        if text[pos : pos + 1] == "(":
            inner = expr()
        else:
            start = pos
            while pos < len(text) and not (text[pos] == ")" and text[pos - 1] != "\\"):
                pos += 1
            inner = _condition(mod, text[start:pos])
            count += 1
        if pos >= len(text) or text[pos] != ")":
            raise _bad("unbalanced parentheses")
        pos += 1
        return inner

    def expr() -> Matcher:
        nonlocal pos
        left = group()
        while pos < len(text) and text[pos] != ")":
            for word in ("and", "or"):
                if text.startswith(word, pos):
                    pos += len(word)
                    right = group()
                    left = _join(left, right, word)
                    break
            else:
                raise _bad(f"unexpected text at {pos}")
        return left

    result = expr()
    if pos != len(text):
        raise _bad("unexpected text after criteria")
    if count > MAX_CRITERIA:
        raise _bad(f"more than {MAX_CRITERIA} criteria")
    return result


def _join(left: Matcher, right: Matcher, word: str) -> Matcher:
    if word == "and":
        return lambda s, r: left(s, r) and right(s, r)
    return lambda s, r: left(s, r) or right(s, r)


def _any_field(
    mod: ModuleDef, types: tuple[str, ...], needle: str, digits: bool = False
) -> Matcher:
    names = [f.api_name for f in mod.fields if f.data_type in types]
    norm = (lambda s: "".join(c for c in s if c.isdigit())) if digits else str.casefold
    target = norm(needle)

    def match(state: SandboxState, rec: StoredRecord) -> bool:
        return bool(target) and any(target in norm(str(rec.values.get(n) or "")) for n in names)

    return match


def matcher(mod: ModuleDef, kind: str, value: str) -> Matcher:
    """A predicate for one search request; INVALID_QUERY if ``value`` does not parse."""
    if kind == "criteria":
        return _criteria(mod, value.strip())
    if kind == "email":
        return _any_field(mod, ("email",), value)
    if kind == "phone":
        return _any_field(mod, ("phone",), value, digits=True)
    return _any_field(mod, ("text", "textarea", "email", "phone", "picklist"), value)
