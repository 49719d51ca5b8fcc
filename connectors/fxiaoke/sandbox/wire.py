"""Reading requests and writing answers: JSON bodies, ``thirdTraceId``, ``traceId``.

Every answer goes through :func:`reply`, which stamps the ``traceId`` and records the
call in the state's journal (path, the caller's ``thirdTraceId``, our ``traceId``,
``errorCode``) so tests and the control API can see what a connector sent.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from connectors.fxiaoke.sandbox.errors import FxiaokeError
from connectors.fxiaoke.sandbox.state import SandboxState

__all__ = ["JSON_TYPE", "note_third_trace_id", "read_body", "reply", "sandbox_state", "trace_id"]

Json = dict[str, Any]
JSON_TYPE = "application/json;charset=UTF-8"


def sandbox_state(request: Request) -> SandboxState:
    """The state the app was built with."""
    state: SandboxState = request.app.state.sandbox
    return state


def trace_id(request: Request) -> str:
    """This call's ``traceId``: ``E-O.<ea>.<user>-<16 hex>`` as the gateway forms it."""
    found = getattr(request.state, "fx_trace", None)
    if isinstance(found, str):
        return found
    ea = getattr(request.state, "fx_ea", None) or "null"
    user = getattr(request.state, "fx_user", None) or "-1000"
    made = f"E-O.{ea}.{user}-{uuid.uuid4().hex[:16]}"
    request.state.fx_trace = made
    return made


async def read_body(request: Request) -> Json:
    """The JSON object in the body (``{}`` if empty); 10006 if it is not one."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise FxiaokeError.bad_parameter("body") from None
    if not isinstance(body, dict):
        raise FxiaokeError.bad_parameter("body")
    return body


def note_third_trace_id(request: Request) -> None:
    """Count a missing or reused ``?thirdTraceId=`` (docs: a fresh UUID on every call)."""
    state = sandbox_state(request)
    third = request.query_params.get("thirdTraceId")
    if not third:
        state.count("third_trace_id_missing")
        if state.options.require_third_trace_id:
            raise FxiaokeError.bad_parameter("thirdTraceId")
        return
    if third in state.third_trace_ids:
        state.count("third_trace_id_reused")
    state.third_trace_ids.add(third)


def reply(request: Request, body: Json) -> JSONResponse:
    """Answer HTTP 200 with ``body`` plus ``traceId``; journal the call."""
    state = sandbox_state(request)
    body = {"traceId": trace_id(request), **body}
    code = body.get("errorCode", 0)
    if code:
        state.count(f"error_{code}")
    state.journal.append(
        {
            "path": request.url.path,
            "thirdTraceId": request.query_params.get("thirdTraceId"),
            "traceId": body["traceId"],
            "errorCode": code,
            "convention": getattr(request.state, "fx_convention", None),
        }
    )
    return JSONResponse(body, media_type=JSON_TYPE)
