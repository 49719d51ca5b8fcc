"""Field values in and out: validation of written values and rendering of records.

On the wire numbers are strings (``"12.0"``), times epoch milliseconds, select fields
option codes, employee fields lists of user ids (``FSUID_…`` in the legacy convention,
``1000``-style in the current one), lookups the target ``_id`` with a ``__r`` name
beside it. Fields without a value are left out unless ``includeNull`` is true.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.fxiaoke.sandbox.errors import FxiaokeError
from connectors.fxiaoke.sandbox.schema import SYSTEM_FIELDS, FieldDef, ObjectDef
from connectors.fxiaoke.sandbox.state import Convention, SandboxState, StoredRecord

__all__ = ["employee_ids", "render", "to_number", "validate"]

Json = dict[str, Any]
#: keys a client may send in object_data that are not values (or are read-only echoes)
_IGNORED = frozenset(
    {
        "dataObjectApiName",
        "object_describe_api_name",
        "_id",
        "tenant_id",
        "package",
        "is_deleted",
        "version",
        "last_modified_time",
        "last_modified_by",
        "life_status",
        "life_status_before_invalid",
        "lock_status",
        "related_api_names",
        "extend_obj_data_id",
    }
)


def to_number(value: Any, name: str) -> Decimal:
    """``value`` (a number or a numeric string) as a Decimal, else a 32000."""
    if isinstance(value, bool):
        raise FxiaokeError.param(f"字段 {name} 的值不是数字: {value!r}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise FxiaokeError.param(f"字段 {name} 的值不是数字: {value!r}") from None
    if not number.is_finite():
        raise FxiaokeError.param(f"字段 {name} 的值不是数字: {value!r}")
    return number


def employee_ids(state: SandboxState, value: Any, name: str) -> list[str]:
    """A list (or one) of ``1000``-style ids or openUserIds as stored employee ids."""
    items = value if isinstance(value, list) else [value]
    out: list[str] = []
    for item in items:
        if str(item) == "-10000":
            out.append("-10000")
            continue
        emp = state.employee(item)
        if emp is None:
            raise FxiaokeError.param(f"字段 {name}: 员工 {item} 不存在")
        out.append(emp.employee_id)
    return out


def _text(f: FieldDef, value: Any) -> str:
    if isinstance(value, dict | list | bool):
        raise FxiaokeError.param(f"字段 {f.api_name} 需要文本: {value!r}")
    text = str(value)
    if f.max_length is not None and len(text) > f.max_length:
        raise FxiaokeError.param(f"字段 {f.api_name} 超过最大长度 {f.max_length}")
    if f.type == "email" and "@" not in text:
        raise FxiaokeError.param(f"字段 {f.api_name} 邮箱格式不正确: {text}")
    return text


def _reference(state: SandboxState, target: str, record_id: Any, name: str) -> StoredRecord:
    rec = state.get(target, str(record_id))
    if rec is None or rec.life_status == "invalid":
        raise FxiaokeError.param(f"字段 {name}: {target} 数据 {record_id} 不存在或已作废")
    return rec


def _value(state: SandboxState, f: FieldDef, value: Any) -> Any:
    name = f.api_name
    if f.type in ("text", "long_text", "email", "url", "phone_number"):
        return _text(f, value)
    if f.type == "select_one":
        if str(value) not in f.option_values:
            raise FxiaokeError.param(f"字段 {name} 的选项值 {value!r} 不存在")
        return str(value)
    if f.type == "select_many":
        items = value if isinstance(value, list) else [value]
        bad = [v for v in items if str(v) not in f.option_values]
        if bad:
            raise FxiaokeError.param(f"字段 {name} 的选项值 {bad!r} 不存在")
        return [str(v) for v in items]
    if f.type in ("number", "currency"):
        number = to_number(value, name)
        if f.decimal_places is not None:
            number = number.quantize(Decimal(1).scaleb(-f.decimal_places))
        return str(number)
    if f.type in ("date", "date_time"):
        return int(to_number(value, name))
    if f.type == "object_reference":
        return _reference(state, f.target or "", value, name).id
    if f.type == "employee":
        return employee_ids(state, value, name)
    if f.type == "what_list":
        if not isinstance(value, list):
            raise FxiaokeError.param(f"字段 {name} 需要列表")
        links: list[Json] = []
        for item in value:
            target = item.get("describe_api_name") if isinstance(item, dict) else None
            if target not in state.objects:
                raise FxiaokeError.param(f"字段 {name}: 对象 {target!r} 不存在")
            rec = _reference(state, str(target), item.get("id"), name)
            links.append({"describe_api_name": target, "id": rec.id})
        return links
    if f.type == "true_or_false":
        if not isinstance(value, bool):
            raise FxiaokeError.param(f"字段 {name} 需要布尔值")
        return value
    raise FxiaokeError.param(f"字段 {name} 不可写")


def validate(state: SandboxState, obj: ObjectDef, raw: Json, *, create: bool) -> Json:
    """The object's own field values in ``raw``, checked and normalised for storage.

    ``None`` or ``""`` clears a field on update (left out on create). System fields are
    the caller's business; unknown fields are a 32000 unless ``strict_fields`` is off.
    """
    values: Json = {}
    for key, value in raw.items():
        if key in _IGNORED or key in SYSTEM_FIELDS or key.endswith(("__r", "__l")):
            continue
        f = obj.fields.get(key)
        if f is None:
            if state.options.strict_fields:
                raise FxiaokeError.param(f"对象 {obj.api_name} 没有字段 {key}")
            continue
        if value is None or value == "" or value == []:
            if not create:
                values[key] = None
            continue
        values[key] = _value(state, f, value)
    if create:
        missing = [
            f.api_name for f in obj.fields.values() if f.required and f.api_name not in values
        ]
        if missing:
            raise FxiaokeError.param(f"必填字段未填写: {', '.join(missing)}")
    elif any(obj.fields[k].required and v is None for k, v in values.items()):
        raise FxiaokeError.param("必填字段不能清空")
    return values


def _name_of(state: SandboxState, api_name: str, record_id: str) -> str | None:
    rec = state.records.get(api_name, {}).get(record_id)
    return None if rec is None else rec.values.get("name")


def _users(state: SandboxState, ids: list[str], convention: Convention) -> list[str]:
    return [state.user_id(i, convention) for i in ids]


def _user_ref(state: SandboxState, employee_id: str) -> Json:
    emp = state.employees.get(employee_id)
    return emp.ref() if emp else {"id": employee_id, "name": "系统"}


def _render_value(
    state: SandboxState, f: FieldDef, value: Any, convention: Convention, out: Json
) -> None:
    name = f.api_name
    if f.type == "employee":
        out[name] = _users(state, value, convention)
        out[f"{name}__r"] = _user_ref(state, value[0]) if value else {}
    elif f.type == "object_reference":
        out[name] = value
        out[f"{name}__r"] = _name_of(state, f.target or "", value)
    elif f.type == "select_one":
        out[name] = value
        out[f"{name}__r"] = dict(f.options).get(value)
    elif f.type == "what_list":
        out[name] = [
            {**link, "name": _name_of(state, link["describe_api_name"], link["id"])}
            for link in value
        ]
        out["related_api_names"] = sorted({link["describe_api_name"] for link in value})
    else:
        out[name] = list(value) if isinstance(value, list) else value


def render(
    state: SandboxState,
    rec: StoredRecord,
    convention: Convention,
    *,
    projection: list[str] | None = None,
    include_null: bool = False,
) -> Json:
    """A record as ``data/get`` and ``data/query`` return it."""
    out: Json = {
        "_id": rec.id,
        "object_describe_api_name": rec.api_name,
        "tenant_id": state.options.ea,
        "owner": _users(state, rec.owner, convention),
        "owner__r": _user_ref(state, rec.owner[0]) if rec.owner else {},
        "data_own_department": list(rec.data_own_department),
        "created_by": [state.user_id(rec.created_by, convention)],
        "created_by__r": _user_ref(state, rec.created_by),
        "create_time": rec.create_time,
        "last_modified_by": [state.user_id(rec.last_modified_by, convention)],
        "last_modified_by__r": _user_ref(state, rec.last_modified_by),
        "last_modified_time": rec.last_modified_time,
        "life_status": rec.life_status,
        "lock_status": rec.lock_status,
        "is_deleted": False,
        "record_type": rec.record_type,
        "version": str(rec.version),
        "package": "CRM",
    }
    if rec.life_status_before_invalid is not None:
        out["life_status_before_invalid"] = rec.life_status_before_invalid
    obj = state.objects[rec.api_name]
    for name, f in obj.fields.items():
        value = rec.values.get(name)
        if value is None:
            if include_null:
                out[name] = None
            continue
        _render_value(state, f, value, convention, out)
    if projection:
        wanted = set(projection)
        out = {k: v for k, v in out.items() if k in wanted or k.removesuffix("__r") in wanted}
    return out
