"""The two token endpoints and the check every business call passes.

- legacy: ``POST /cgi/corpAccessToken/get/V2`` ``{appId, appSecret, permanentCode}`` ->
  ``{corpAccessToken, corpId, expiresIn}``; business bodies then carry
  ``corpAccessToken``, ``corpId`` and ``currentOpenUserId`` (``FSUID_…``) at the top.
- current: ``POST /oauth2.0/token`` with ``grantType: app_secret`` -> ``{accessToken,
  expiresIn, openUserId (the FSCID_ corp id), appId, ea}``; business calls then send
  ``authorization: Bearer <accessToken>``, ``x-fs-ea`` and ``x-fs-userid`` (``1000``).

A token is honoured only in its own convention. Failures: no credentials 20017, a
token unknown/expired or a wrong corpId/x-fs-ea 20016, an unknown acting user 20012
(legacy) or 30027 (current), bad appId/appSecret 10006, bad permanentCode 20015.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response

from connectors.fxiaoke.sandbox.errors import (
    BAD_PERMANENT_CODE,
    EMPLOYEE_NOT_FOUND,
    OPEN_USER_NOT_FOUND,
    RATE_LIMIT,
    FxiaokeError,
)
from connectors.fxiaoke.sandbox.state import Convention, SandboxState, Token
from connectors.fxiaoke.sandbox.wire import (
    note_third_trace_id,
    read_body,
    reply,
    sandbox_state,
)

__all__ = ["TOKEN_PATHS", "Caller", "authenticate", "router"]

Json = dict[str, Any]
LEGACY_TOKEN_PATH = "/cgi/corpAccessToken/get/V2"
CURRENT_TOKEN_PATH = "/oauth2.0/token"
TOKEN_PATHS = frozenset({LEGACY_TOKEN_PATH, CURRENT_TOKEN_PATH})

router = APIRouter()


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: convention, acting employee, the body, and how to write user ids."""

    convention: Convention
    employee_id: str
    body: Json
    #: ``convertUserId``: user ids rendered as openUserIds ("legacy") or employee ids
    user_format: Convention

    @property
    def data(self) -> Json:
        """The ``data`` object of the body (``{}`` if absent)."""
        data = self.body.get("data")
        return data if isinstance(data, dict) else {}


def _check_app(state: SandboxState, body: Json) -> None:
    opts = state.options
    if body.get("appSecret") != opts.app_secret:
        raise FxiaokeError.bad_parameter("appSecret")
    if body.get("appId") != opts.app_id:
        raise FxiaokeError.bad_parameter("appId")
    if body.get("permanentCode") != opts.permanent_code:
        raise FxiaokeError(BAD_PERMANENT_CODE, "permanentCode is illegal", "永久授权码不合法")
    limit = opts.token_calls_per_minute
    if limit:
        now = state.now().timestamp()
        window = state.token_window
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) >= limit:
            raise FxiaokeError(RATE_LIMIT)
        window.append(now)


def _expires_in(state: SandboxState, token: Token) -> int:
    return max(0, math.floor((token.expires_at - state.now()).total_seconds()))


@router.post(LEGACY_TOKEN_PATH)
async def legacy_token(request: Request) -> Response:
    """The legacy corpAccessToken grant."""
    state = sandbox_state(request)
    state.count("token_calls")
    note_third_trace_id(request)
    _check_app(state, await read_body(request))
    token = state.issue_token("legacy")
    return reply(
        request,
        {
            "errorCode": 0,
            "errorMessage": "success",
            "corpAccessToken": token.value,
            "corpId": state.options.corp_id,
            "expiresIn": _expires_in(state, token),
        },
    )


@router.post(CURRENT_TOKEN_PATH)
async def current_token(request: Request) -> Response:
    """The client-credentials grant (``grantType: app_secret``)."""
    state = sandbox_state(request)
    state.count("token_calls")
    note_third_trace_id(request)
    body = await read_body(request)
    if body.get("grantType") != "app_secret":
        # the authorization-code flow (refresh_token) is for user-facing apps: not served
        raise FxiaokeError.bad_parameter("grantType")
    _check_app(state, body)
    token = state.issue_token("current")
    opts = state.options
    return reply(
        request,
        {
            "openUserId": opts.corp_id,
            "accessToken": token.value,
            "expiresIn": _expires_in(state, token),
            "appId": opts.app_id,
            "ea": opts.ea,
            "errorCode": 0,
            "errorMessage": "success",
        },
    )


def _convert_user_id(body: Json, default: bool) -> bool:
    flag = body.get("convertUserId")
    return flag if isinstance(flag, bool) else default


async def authenticate(request: Request) -> Caller:
    """Check the credentials of a business call (either convention) and who acts."""
    state = sandbox_state(request)
    note_third_trace_id(request)
    body = await read_body(request)
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise FxiaokeError.token_invalid()
        if request.headers.get("x-fs-ea") != state.options.ea:
            raise FxiaokeError.token_invalid()
        if not state.check_token(token, "current"):
            raise FxiaokeError.token_invalid()
        user_header = request.headers.get("x-fs-userid")
        if not user_header:
            raise FxiaokeError.bad_parameter("x-fs-userid")
        emp = state.employee(user_header)
        if emp is None:
            raise FxiaokeError(
                EMPLOYEE_NOT_FOUND, f"employee {user_header} not found", "员工不存在"
            )
        request.state.fx_ea, request.state.fx_user = state.options.ea, emp.employee_id
        request.state.fx_convention = "current"
        convert = _convert_user_id(body, False)
        return Caller("current", emp.employee_id, body, "legacy" if convert else "current")
    legacy = body.get("corpAccessToken")
    if not legacy:
        raise FxiaokeError.missing_token()
    if body.get("corpId") != state.options.corp_id or not state.check_token(str(legacy), "legacy"):
        raise FxiaokeError.token_invalid()
    open_user = body.get("currentOpenUserId")
    emp = state.employee(open_user) if open_user else None
    if emp is None:
        raise FxiaokeError(
            OPEN_USER_NOT_FOUND, f"openUserId {open_user} not found", "openUserId不存在"
        )
    request.state.fx_ea, request.state.fx_user = state.options.ea, emp.employee_id
    request.state.fx_convention = "legacy"
    convert = _convert_user_id(body, True)
    return Caller("legacy", emp.employee_id, body, "legacy" if convert else "current")
