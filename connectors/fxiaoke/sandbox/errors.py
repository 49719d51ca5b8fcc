"""Fxiaoke's response envelope, its error codes, and the exception that carries one.

Every answer is HTTP 200 with ``errorCode`` (0 = success), ``errorMessage``,
``errorDescription`` and ``traceId``; payloads sit beside them (``data``, ``dataId``,
token fields). Messages of the codes seen on the live gateway (10006, 10013, 20016,
20017) are the captured ones in ``/work/shared/fixtures/fxiaoke``; the others follow
the published 全局返回码 table (fact sheet §3).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BAD_PARAMETER",
    "BAD_PERMANENT_CODE",
    "BUSY",
    "DAILY_QUOTA",
    "EMPLOYEE_NOT_FOUND",
    "FREQUENCY",
    "MISSING_TOKEN",
    "NO_QUOTA",
    "OFFSET_OUT_OF_RANGE",
    "OPEN_USER_NOT_FOUND",
    "PARAM_ERROR",
    "RATE_LIMIT",
    "SERVICE_ERROR",
    "SYSTEM_ERROR",
    "TOKEN_INVALID",
    "FxiaokeError",
    "envelope",
    "error_body",
]

Json = dict[str, Any]

BUSY = -1
SYSTEM_ERROR = -2
#: the gateway's answer to a bad secret / missing parameter / unknown path (probe)
BAD_PARAMETER = 10006
#: offset beyond 10000 (deep-paging FAQ)
OFFSET_OUT_OF_RANGE = 10013
RATE_LIMIT = 14001
#: token unknown, expired, or not matching corpId / x-fs-ea
TOKEN_INVALID = 20016
#: no credentials at all (probe)
MISSING_TOKEN = 20017
OPEN_USER_NOT_FOUND = 20012
BAD_PERMANENT_CODE = 20015
DAILY_QUOTA = 30002
NO_QUOTA = 30003
FREQUENCY = 30004
EMPLOYEE_NOT_FOUND = 30027
#: a request the business layer rejects: bad field, value, object or record
PARAM_ERROR = 32000
SERVICE_ERROR = 50009

_MESSAGES: dict[int, tuple[str, str]] = {
    BUSY: ("系统繁忙", "system busy, try again later"),
    SYSTEM_ERROR: ("系统错误", "system error"),
    RATE_LIMIT: ("调用次数超过限制", "call limit exceeded"),
    DAILY_QUOTA: ("当日调用量已用完", "daily call quota exhausted"),
    NO_QUOTA: ("企业未购买OpenAPI资源包", "no OpenAPI quota bought"),
    FREQUENCY: ("调用频率超过限制", "call frequency exceeded"),
    SERVICE_ERROR: ("服务异常", "service error"),
}


def envelope(**payload: Any) -> Json:
    """A success body: the payload beside ``errorCode: 0`` (the app adds ``traceId``)."""
    return {
        "errorDescription": "success",
        "errorMessage": "OK",
        "errorCode": 0,
        **payload,
    }


def error_body(code: int, message: str | None = None, description: str | None = None) -> Json:
    """An error body without ``traceId`` (the app adds it)."""
    known_description, known_message = _MESSAGES.get(code, ("", ""))
    body: Json = {"errorCode": code, "errorMessage": message or known_message or str(code)}
    if description or known_description:
        body["errorDescription"] = description or known_description
    return body


class FxiaokeError(Exception):
    """Raised by a handler to answer HTTP 200 with a non-zero ``errorCode``."""

    def __init__(self, code: int, message: str | None = None, description: str | None = None):
        self.body = error_body(code, message, description)
        super().__init__(f"{code}: {self.body['errorMessage']}")
        self.code = code

    @classmethod
    def param(cls, message: str) -> FxiaokeError:
        """32000: the business layer rejects the request (message says why)."""
        return cls(PARAM_ERROR, message, "参数错误")

    @classmethod
    def bad_parameter(cls, name: str) -> FxiaokeError:
        """10006 as the gateway words it for a missing or illegal parameter."""
        return cls(
            BAD_PARAMETER, f"the parameter {name} is missing or illegal", "缺少参数或参数不合法"
        )

    @classmethod
    def token_invalid(cls) -> FxiaokeError:
        """20016, worded as the gateway answered a forged token."""
        return cls(TOKEN_INVALID, "the cropId,cropAccessToken or authorization is error")

    @classmethod
    def missing_token(cls) -> FxiaokeError:
        """20017, worded as the gateway answered a call with no auth at all."""
        return cls(MISSING_TOKEN, "corpAccessToken为必填项，不能为空")  # noqa: RUF001 (verbatim)

    @classmethod
    def offset_out_of_range(cls, limit: int) -> FxiaokeError:
        """10013 as the deep-paging FAQ prints it."""
        return cls(
            OFFSET_OUT_OF_RANGE,
            f"offset out of range {limit}",
            f"offset cannot exceed {limit}",
        )
