"""``search_query_info``: filters (AND), orders, limit/offset and the 10000-offset wall.

Operators are the ones on the current query pages (``EQ N GT GTE LT LTE LIKE NLIKE
IS ISN IN NIN BETWEEN NBETWEEN STARTWITH ENDWITH HASANYOF NHASANYOF``), ``CONTAINS``
from the custom-object pages, and the spellings of the "Field Value Description" page
(``NE GE LE NOT_IN NOT_LIKE``) as aliases. ``BETWEEN`` is inclusive at both ends and
``N`` also matches empty values (fact sheet §5; inclusivity is a guess). Employee
fields match by employee id or openUserId alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from connectors.fxiaoke.sandbox.errors import FxiaokeError
from connectors.fxiaoke.sandbox.records import employee_ids, to_number
from connectors.fxiaoke.sandbox.schema import SYSTEM_FIELDS, FieldDef, ObjectDef
from connectors.fxiaoke.sandbox.state import SandboxState, StoredRecord

__all__ = ["OPERATORS", "Query", "parse_query", "run_query"]

Json = dict[str, Any]
_ALIASES = {"NE": "N", "GE": "GTE", "LE": "LTE", "NOT_IN": "NIN", "NOT_LIKE": "NLIKE"}
OPERATORS = frozenset(
    {
        "EQ",
        "N",
        "GT",
        "GTE",
        "LT",
        "LTE",
        "LIKE",
        "NLIKE",
        "IS",
        "ISN",
        "IN",
        "NIN",
        "BETWEEN",
        "NBETWEEN",
        "STARTWITH",
        "ENDWITH",
        "HASANYOF",
        "NHASANYOF",
        "CONTAINS",
        *_ALIASES,
    }
)
_NUMERIC = frozenset({"number", "currency", "date", "date_time"})
_LISTS = frozenset({"employee", "department", "select_many"})


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed ``search_query_info``."""

    limit: int
    offset: int
    filters: tuple[Callable[[StoredRecord], bool], ...]
    orders: tuple[tuple[FieldDef, bool], ...]
    projection: list[str] | None
    names_life_status: bool


def raw_value(rec: StoredRecord, f: FieldDef) -> Any:
    """The stored value of field ``f`` of ``rec`` (system fields included)."""
    name = f.api_name
    if name not in SYSTEM_FIELDS:
        return rec.values.get(name)
    system: Json = {
        "_id": rec.id,
        "owner": rec.owner,
        "data_own_department": rec.data_own_department,
        "created_by": [rec.created_by],
        "create_time": rec.create_time,
        "last_modified_by": [rec.last_modified_by],
        "last_modified_time": rec.last_modified_time,
        "life_status": rec.life_status,
        "lock_status": rec.lock_status,
        "is_deleted": False,
        "record_type": rec.record_type,
        "version": rec.version,
    }
    return system[name]


def _operand(state: SandboxState, f: FieldDef, value: Any) -> Any:
    if f.type in _NUMERIC or f.api_name == "version":
        return to_number(value, f.api_name)
    if f.type == "employee":
        return employee_ids(state, value, f.api_name)[0]
    if isinstance(value, bool):
        return value
    return str(value)


def _compare(f: FieldDef, stored: Any) -> Any:
    if stored is None:
        return None
    if f.type in _NUMERIC or f.api_name == "version":
        return Decimal(str(stored))
    if isinstance(stored, bool):
        return stored
    return stored if isinstance(stored, list) else str(stored)


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def _predicate(
    state: SandboxState, f: FieldDef, op: str, values: list[Any]
) -> Callable[[Any], bool]:
    operands = [_operand(state, f, v) for v in values]
    if op == "IS":
        return _empty
    if op == "ISN":
        return lambda v: not _empty(v)
    if not operands:
        raise FxiaokeError.param(f"过滤条件 {f.api_name} {op} 缺少 field_values")
    first = operands[0]
    as_list = f.type in _LISTS

    def eq(v: Any) -> bool:
        return first in v if as_list else v == first

    def text(v: Any) -> str:
        return " ".join(map(str, v)) if isinstance(v, list) else str(v)

    if op in ("EQ", "N"):
        if op == "EQ":
            return lambda v: v is not None and eq(v)
        return lambda v: v is None or not eq(v)
    if op in ("GT", "GTE", "LT", "LTE"):
        cmp: dict[str, Callable[[Any, Any], bool]] = {
            "GT": lambda a, b: a > b,
            "GTE": lambda a, b: a >= b,
            "LT": lambda a, b: a < b,
            "LTE": lambda a, b: a <= b,
        }
        test = cmp[op]
        return lambda v: v is not None and not isinstance(v, list) and test(v, first)
    if op in ("IN", "NIN", "HASANYOF", "NHASANYOF", "CONTAINS"):
        wanted = set(operands)

        def anyof(v: Any) -> bool:
            if v is None:
                return False
            return bool(wanted & set(v)) if isinstance(v, list) else v in wanted

        if op in ("NIN", "NHASANYOF"):
            return lambda v: not anyof(v)
        return anyof
    if op in ("BETWEEN", "NBETWEEN"):
        if len(operands) != 2:
            raise FxiaokeError.param(f"过滤条件 {f.api_name} {op} 需要两个值")
        low, high = operands

        def between(v: Any) -> bool:
            return v is not None and not isinstance(v, list) and low <= v <= high

        return between if op == "BETWEEN" else (lambda v: not between(v))
    needle = str(first).casefold()
    if op in ("LIKE", "NLIKE"):
        if op == "LIKE":
            return lambda v: v is not None and needle in text(v).casefold()
        return lambda v: v is None or needle not in text(v).casefold()
    if op == "STARTWITH":
        return lambda v: v is not None and text(v).casefold().startswith(needle)
    return lambda v: v is not None and text(v).casefold().endswith(needle)


def _field(obj: ObjectDef, name: Any, what: str) -> FieldDef:
    f = obj.fields.get(str(name)) or SYSTEM_FIELDS.get(str(name))
    if f is None:
        raise FxiaokeError.param(f"{what}: 对象 {obj.api_name} 没有字段 {name}")
    return f


def _record_test(f: FieldDef, test: Callable[[Any], bool]) -> Callable[[StoredRecord], bool]:
    return lambda rec: test(_compare(f, raw_value(rec, f)))


def _int(value: Any, name: str, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise FxiaokeError.param(f"search_query_info.{name} 必须是整数")
    try:
        return int(value)
    except ValueError:
        raise FxiaokeError.param(f"search_query_info.{name} 必须是整数") from None


def parse_query(state: SandboxState, obj: ObjectDef, info: Any) -> Query:
    """Check a ``search_query_info`` object and turn it into a :class:`Query`."""
    if not isinstance(info, dict):
        raise FxiaokeError.param("search_query_info 为必填项")
    opts = state.options
    limit = _int(info.get("limit"), "limit", 20)
    offset = _int(info.get("offset"), "offset", 0)
    if offset > opts.max_offset:
        raise FxiaokeError.offset_out_of_range(opts.max_offset)
    if not 1 <= limit <= opts.max_limit:
        raise FxiaokeError.param(f"limit 取值范围 1-{opts.max_limit}")
    if offset < 0 or offset % limit:
        raise FxiaokeError.param("offset 必须是 limit 的整数倍")
    filters: list[Callable[[StoredRecord], bool]] = []
    names_life_status = False
    for item in info.get("filters") or []:
        if not isinstance(item, dict):
            raise FxiaokeError.param("filters 的元素必须是对象")
        f = _field(obj, item.get("field_name"), "filters")
        op = str(item.get("operator", "")).upper()
        if op not in OPERATORS:
            raise FxiaokeError.param(f"不支持的操作符 {item.get('operator')!r}")
        values = item.get("field_values", [])
        if not isinstance(values, list):
            raise FxiaokeError.param("field_values 必须是数组")
        test = _predicate(state, f, _ALIASES.get(op, op), values)
        filters.append(_record_test(f, test))
        names_life_status |= f.api_name == "life_status"
    orders: list[tuple[FieldDef, bool]] = []
    for item in info.get("orders") or []:
        if not isinstance(item, dict):
            raise FxiaokeError.param("orders 的元素必须是对象")
        orders.append(
            (_field(obj, item.get("fieldName"), "orders"), item.get("isAsc") is not False)
        )
    projection = info.get("fieldProjection")
    if projection is not None and not isinstance(projection, list):
        raise FxiaokeError.param("fieldProjection 必须是数组")
    return Query(
        limit, offset, tuple(filters), tuple(orders), projection or None, names_life_status
    )


def _sort_key(f: FieldDef, asc: bool) -> Callable[[StoredRecord], tuple[bool, Any]]:
    def key(rec: StoredRecord) -> tuple[bool, Any]:
        value = _compare(f, raw_value(rec, f))
        if isinstance(value, list):
            value = ",".join(map(str, value))
        # empty values sort last whichever the direction
        return (value is None) == asc, value if value is not None else ""

    return key


def run_query(state: SandboxState, obj: ObjectDef, query: Query) -> tuple[list[StoredRecord], int]:
    """The page of records ``query`` selects, and how many match in all."""
    rows = [
        rec
        for rec in state.records[obj.api_name].values()
        if all(test(rec) for test in query.filters)
        and not (
            state.options.query_hides_invalid
            and not query.names_life_status
            and rec.life_status == "invalid"
        )
    ]
    rows.sort(key=lambda r: r.id)
    orders = query.orders or ((SYSTEM_FIELDS["last_modified_time"], False),)
    for f, asc in reversed(orders):  # stable sorts, last key first
        rows.sort(key=_sort_key(f, asc), reverse=not asc)
    return rows[query.offset : query.offset + query.limit], len(rows)
