"""COQL: ``POST /crm/v{N}/coql`` with the subset of the language a sync needs.

Supported::

    select F1, F2[, Lookup.Field] from Module
      [where COND] [order by F [asc|desc][, ...]]
      [limit COUNT | limit OFFSET, COUNT | limit COUNT offset OFFSET]

    COND := OPERAND [(and|or) OPERAND]       one operator per level: ((A and B) and C),
    OPERAND := (COND) | COMPARISON           as Zoho requires
    COMPARISON := F (=|!=|<|>|<=|>=) VALUE | F is [not] null | F [not] in (V, ...)
                | F [not] like 'x%' | F between V and V

Limits: from v7 ``LIMIT`` ≤ 2000 and offset + limit ≤ 100,000 (200 / 10,000 before);
default limit 200, default order ``id asc``. Lookups come back as ``{"id"}`` only.
Anything else answers Zoho's 400 ``SYNTAX_ERROR`` / ``INVALID_QUERY`` / ``LIMIT_EXCEEDED``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from connectors.zoho.sandbox.auth import sandbox_state
from connectors.zoho.sandbox.errors import ZohoError
from connectors.zoho.sandbox.reads import api_version
from connectors.zoho.sandbox.records import parse_datetime, render
from connectors.zoho.sandbox.schema import MODULES, ModuleDef
from connectors.zoho.sandbox.state import SandboxState, StoredRecord

__all__ = ["CoqlQuery", "parse_coql", "router"]

router = APIRouter()
Json = dict[str, Any]
Pred = Callable[[SandboxState, StoredRecord], bool]
_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op>>=|<=|!=|=|<|>|\(|\)|,)"
    r"|(?P<word>[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)?))"
)
_KEYWORDS = {
    "select",
    "from",
    "where",
    "and",
    "or",
    "order",
    "by",
    "asc",
    "desc",
    "limit",
    "offset",
    "is",
    "not",
    "null",
    "in",
    "like",
    "between",
}


def syntax_error(clause: str, near: str) -> ZohoError:
    """400 SYNTAX_ERROR naming the clause and the text near the problem."""
    return ZohoError(
        400,
        "SYNTAX_ERROR",
        "error occurred while parsing the query",
        {"clause": clause, "near": near},
    )


@dataclass(slots=True)
class CoqlQuery:
    """A parsed query."""

    module: ModuleDef
    columns: list[str]
    where: Pred | None = None
    order: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)
    offset: int = 0
    limit: int = 200


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        text = text.strip().rstrip(";")
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise syntax_error("query", text[pos : pos + 20])
            kind = m.lastgroup or ""
            value = m.group(kind)
            if kind == "word" and value.lower() in _KEYWORDS:
                kind, value = "kw", value.lower()
            self.tokens.append((kind, value))
            pos = m.end()
        self.i = 0
        self.clause = "select"

    def peek(self, offset: int = 0) -> tuple[str, str]:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else ("eof", "")

    def take(self, kind: str, value: str | None = None) -> str:
        k, v = self.peek()
        if k != kind or (value is not None and v != value):
            raise syntax_error(self.clause, v or "end of query")
        self.i += 1
        return v

    def accept(self, value: str) -> bool:
        if self.peek() in (("kw", value), ("op", value)):
            self.i += 1
            return True
        return False


def _column(mod: ModuleDef, name: str, clause: str) -> str:
    base = name.split(".", 1)[0]
    f = mod.field(base)
    ok = name == "id" or (
        f is not None
        and (
            "." not in name
            or (
                f.lookup not in (None, "*")
                and MODULES[f.lookup or ""].field(name.split(".", 1)[1]) is not None
            )
        )
    )
    if not ok:
        raise ZohoError(
            400, "INVALID_QUERY", "invalid column given", {"column_name": name, "clause": clause}
        )
    return name


_COMPUTED = ("Owner", "Created_By", "Modified_By", "Full_Name", "Call_Duration_in_seconds")


def _value(state: SandboxState, rec: StoredRecord, name: str) -> Any:
    """A column's value for comparing and sorting: ids as int, datetimes as datetime."""
    if name == "id":
        return int(rec.id)
    if name == "Modified_Time":
        return rec.modified
    if name == "Created_Time":
        return rec.created
    base, _, sub = name.partition(".")
    f = MODULES[rec.module].field(base)
    value = (
        render(state, rec, 8, [base], coql=True).get(base)
        if base in _COMPUTED
        else rec.values.get(base)
    )
    if sub:
        target = (
            state.get(f.lookup or "", str(value["id"])) if f and isinstance(value, dict) else None
        )
        return _value(state, target, sub) if target else None
    if isinstance(value, dict):
        return int(value["id"])
    if f is not None and f.data_type == "datetime" and isinstance(value, str):
        return parse_datetime(value)
    return value


def _out(state: SandboxState, rec: StoredRecord, name: str) -> Any:
    """A column as COQL returns it: lookups ``{"id"}``, datetimes with the user's offset."""
    value = _value(state, rec, name)
    f = MODULES[rec.module].field(name)
    if isinstance(value, datetime):
        return state.fmt(value)
    if value is not None and f is not None and f.data_type in ("lookup", "ownerlookup"):
        return {"id": str(value)}
    return value


def _literal(p: _Parser) -> Any:
    kind, raw = p.peek()
    p.i += 1
    if kind == "str":
        return raw[1:-1].replace("\\'", "'")
    if kind == "num":  # ids are 19 digits: keep integers exact
        return float(raw) if "." in raw else int(raw)
    if (kind, raw) == ("kw", "null"):
        return None
    if kind == "word" and raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise syntax_error(p.clause, raw or "end of query")


def _cmp_pair(actual: Any, wanted: Any) -> tuple[Any, Any]:
    if isinstance(actual, datetime) and isinstance(wanted, str):
        parsed = parse_datetime(wanted)
        if parsed is None:
            raise TypeError("not a datetime")
        return actual, parsed
    if isinstance(actual, str) and isinstance(wanted, str):
        return actual.casefold(), wanted.casefold()
    if isinstance(actual, int | float) and isinstance(wanted, str) and wanted.lstrip("-").isdigit():
        return actual, int(wanted)
    return actual, wanted


def _orderable(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _comparison(p: _Parser, mod: ModuleDef) -> Pred:
    name = _column(mod, p.take("word"), "where")
    negate = False
    if p.accept("is"):
        negate = p.accept("not")
        p.take("kw", "null")
        return lambda s, r: (_value(s, r, name) is None) != negate
    if p.accept("not"):
        negate = True
    if p.accept("in"):
        p.take("op", "(")
        values = [_literal(p)]
        while p.accept(","):
            values.append(_literal(p))
        p.take("op", ")")
        return lambda s, r: any(_safe_eq(_value(s, r, name), v) for v in values) != negate
    if p.accept("like"):
        pattern = str(_literal(p))
        rx = re.compile(
            "^" + ".*".join(re.escape(part) for part in pattern.split("%")) + "$", re.I | re.S
        )
        return lambda s, r: bool(rx.match(str(_value(s, r, name) or ""))) != negate
    if p.accept("between"):
        low = _literal(p)
        p.take("kw", "and")
        high = _literal(p)
        return lambda s, r: _between(_value(s, r, name), low, high) != negate
    if negate:
        raise syntax_error("where", "not")
    op = p.take("op")
    if op not in ("=", "!=", "<", ">", "<=", ">="):
        raise syntax_error("where", op)
    wanted = _literal(p)
    ops: dict[str, Callable[[Any, Any], bool]] = {
        "=": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        "<": lambda a, b: a < b,
        ">": lambda a, b: a > b,
        "<=": lambda a, b: a <= b,
        ">=": lambda a, b: a >= b,
    }
    fn = ops[op]

    def pred(s: SandboxState, r: StoredRecord) -> bool:
        actual = _value(s, r, name)
        if actual is None or wanted is None:
            return op == "!=" and actual is not wanted
        try:
            return fn(*_cmp_pair(actual, wanted))
        except TypeError:
            return False

    return pred


def _safe_eq(actual: Any, wanted: Any) -> bool:
    try:
        a, w = _cmp_pair(actual, wanted)
        return bool(a == w)
    except TypeError:
        return False


def _between(actual: Any, low: Any, high: Any) -> bool:
    if actual is None:
        return False
    try:
        a, lo = _cmp_pair(actual, low)
        a2, hi = _cmp_pair(actual, high)
        return bool(lo <= a and a2 <= hi)
    except TypeError:
        return False


def _operand(p: _Parser, mod: ModuleDef) -> Pred:
    if p.accept("("):
        inner = _condition(p, mod)
        p.take("op", ")")
        return inner
    return _comparison(p, mod)


def _condition(p: _Parser, mod: ModuleDef) -> Pred:
    left = _operand(p, mod)
    kind, word = p.peek()
    if (kind, word) in (("kw", "and"), ("kw", "or")):
        p.i += 1
        right = _operand(p, mod)
        if p.peek() in (("kw", "and"), ("kw", "or")):
            # Zoho wants explicit grouping: ((A and B) and C)
            raise syntax_error("where", p.peek()[1])
        if word == "and":
            return lambda s, r: left(s, r) and right(s, r)
        return lambda s, r: left(s, r) or right(s, r)
    return left


def parse_coql(query: str, version: int) -> CoqlQuery:
    """Parse ``query`` for API ``version``; raises ZohoError like Zoho does."""
    p = _Parser(query)
    p.take("kw", "select")
    names = [p.take("word")]
    while p.accept(","):
        names.append(p.take("word"))
    p.clause = "from"
    p.take("kw", "from")
    module_name = p.take("word")
    mod = MODULES.get(module_name)
    if mod is None:
        raise ZohoError(
            400, "INVALID_QUERY", "invalid module given", {"module": module_name, "clause": "from"}
        )
    if len(names) > 50:
        raise ZohoError(400, "LIMIT_EXCEEDED", "limit exceeded", {"clause": "select", "limit": 50})
    if len(set(names)) != len(names):
        raise ZohoError(400, "DUPLICATE_DATA", "duplicate column given", {"clause": "select"})
    q = CoqlQuery(mod, [_column(mod, n, "select") for n in names])
    if p.accept("where"):
        p.clause = "where"
        q.where = _condition(p, mod)
    if p.accept("order"):
        p.clause = "order by"
        p.take("kw", "by")
        while True:
            name = _column(mod, p.take("word"), "order by")
            desc = p.accept("desc")
            if not desc:
                p.accept("asc")
            q.order.append((name, desc))
            if not p.accept(","):
                break
    if p.accept("limit"):
        p.clause = "limit"
        first = int(float(p.take("num")))
        if p.accept(","):
            q.offset, q.limit = first, int(float(p.take("num")))
        else:
            q.limit = first
            if p.accept("offset"):
                q.offset = int(float(p.take("num")))
    if p.peek()[0] != "eof":
        raise syntax_error(p.clause, p.peek()[1])
    per_call, reach = (2000, 100_000) if version >= 7 else (200, 10_000)
    if q.limit < 1 or q.limit > per_call or q.offset + q.limit > reach:
        raise ZohoError(
            400,
            "LIMIT_EXCEEDED",
            "limit exceeded",
            {"clause": "limit", "limit": per_call, "reach": reach},
        )
    return q


def run_coql(state: SandboxState, q: CoqlQuery) -> tuple[list[Json], bool]:
    """Rows of one page and whether more follow."""
    rows = [
        r
        for r in state.sorted_records(q.module.api_name, "id", False)
        if q.where is None or q.where(state, r)
    ]
    for name, desc in reversed(q.order or [("id", False)]):
        keyed = [(_orderable(_value(state, r, name)), r) for r in rows]
        present = [(k, r) for k, r in keyed if k is not None]
        present.sort(key=lambda kr: kr[0], reverse=desc)
        rows = [r for _, r in present] + [r for k, r in keyed if k is None]
    page = rows[q.offset : q.offset + q.limit]
    out = []
    for r in page:
        item: Json = {name: _out(state, r, name) for name in q.columns if name != "id"}
        item["id"] = r.id
        out.append(item)
    return out, q.offset + q.limit < len(rows)


@router.post("/crm/{version}/coql")
async def coql(request: Request, version: str) -> Response:
    """Run one ``select_query``."""
    state, v = sandbox_state(request), api_version(version)
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        body = None
    query = body.get("select_query") if isinstance(body, dict) else None
    if not isinstance(query, str) or not query.strip():
        raise ZohoError(
            400,
            "REQUIRED_PARAM_MISSING",
            "required param is missing",
            {"param_name": "select_query"},
        )
    q = parse_coql(query, v)
    data, more = run_coql(state, q)
    if not data:
        return Response(status_code=204)
    state.count("records_read", len(data))
    return JSONResponse({"data": data, "info": {"count": len(data), "more_records": more}})
