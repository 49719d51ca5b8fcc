"""Read endpoints: ``data/query``, ``data/get`` (both families), ``object/describe`` and
``/cgi/user/getByMobile``.

``data/query`` answers ``data = {dataList, offset, limit, total}``; ``total`` is 0 when
``find_explicit_total_num`` is false (the FAQ's example), the true count otherwise.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from connectors.fxiaoke.sandbox.auth import Caller, authenticate
from connectors.fxiaoke.sandbox.errors import FxiaokeError, envelope
from connectors.fxiaoke.sandbox.query import parse_query, run_query
from connectors.fxiaoke.sandbox.records import render
from connectors.fxiaoke.sandbox.routes import (
    CUSTOM_PREFIX,
    PRESET_PREFIX,
    add_object_route,
)
from connectors.fxiaoke.sandbox.schema import ObjectDef, describe
from connectors.fxiaoke.sandbox.state import SandboxState
from connectors.fxiaoke.sandbox.wire import note_third_trace_id, read_body, reply, sandbox_state

__all__ = ["router"]

Json = dict[str, Any]
router = APIRouter()


def _flag(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() != "false"
    return bool(value)


def query(request: Request, state: SandboxState, caller: Caller, obj: ObjectDef) -> Json:
    """List records matching ``search_query_info``."""
    data = caller.data
    parsed = parse_query(state, obj, data.get("search_query_info"))
    rows, total = run_query(state, obj, parsed)
    include_null = _flag(caller.body.get("includeNull"), False)
    with_total = _flag(data.get("find_explicit_total_num"), True)
    state.count("records_read", len(rows))
    return envelope(
        data={
            "dataList": [
                render(
                    state,
                    rec,
                    caller.user_format,
                    projection=parsed.projection,
                    include_null=include_null,
                )
                for rec in rows
            ],
            "offset": parsed.offset,
            "limit": parsed.limit,
            "total": total if with_total else 0,
        },
    )


def get(request: Request, state: SandboxState, caller: Caller, obj: ObjectDef) -> Json:
    """One record by ``objectDataId`` (invalidated ones too)."""
    record_id = caller.data.get("objectDataId")
    if not record_id:
        raise FxiaokeError.param("objectDataId 为必填项")
    rec = state.get(obj.api_name, str(record_id))
    if rec is None:
        raise FxiaokeError.param(f"数据不存在或已删除: {record_id}")
    include_null = _flag(caller.body.get("includeNull"), False)
    return envelope(data=render(state, rec, caller.user_format, include_null=include_null))


for _prefix, _custom in ((PRESET_PREFIX, False), (CUSTOM_PREFIX, True)):
    add_object_route(router, f"{_prefix}/query", query, custom=_custom)
    add_object_route(router, f"{_prefix}/get", get, custom=_custom)


@router.post("/cgi/crm/v2/object/describe")
async def describe_object(request: Request) -> Response:
    """``data.describe`` of one object (``apiName`` in ``data`` or, legacy, at the top)."""
    state = sandbox_state(request)
    caller = await authenticate(request)
    api_name = caller.data.get("apiName") or caller.body.get("apiName")
    obj = state.objects.get(str(api_name)) if api_name else None
    if obj is None:
        raise FxiaokeError.param(f"对象 {api_name} 不存在")
    return reply(request, envelope(data={"describe": describe(obj)}))


@router.post("/cgi/user/getByMobile")
async def user_by_mobile(request: Request) -> Response:
    """Find an employee's openUserId by phone (legacy token and corpId, no acting user)."""
    state = sandbox_state(request)
    note_third_trace_id(request)
    body = await read_body(request)
    token = body.get("corpAccessToken")
    if not token:
        raise FxiaokeError.missing_token()
    if body.get("corpId") != state.options.corp_id or not state.check_token(str(token), "legacy"):
        raise FxiaokeError.token_invalid()
    found = [e for e in state.employees.values() if e.mobile == str(body.get("mobile"))]
    return reply(
        request,
        {
            "errorCode": 0,
            "errorMessage": "success",
            "empList": [
                {"openUserId": e.open_user_id, "name": e.name, "mobile": e.mobile} for e in found
            ],
        },
    )
