"""Helpers for the Fxiaoke connector's respx tests: fixtures, settings, a scripted fake API."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import respx

from connectors.fxiaoke import FxiaokeConnector, FxiaokeSettings
from crmbridge.connector import ConnectorContext

FIXTURES = Path("/work/shared/fixtures/fxiaoke")
BASE = "https://open.fxiaoke.com"
SECRET = "s3cret-app-secret"
PERMANENT = "perm-code-XYZ"


def fixture(name: str) -> Any:
    """A request or response body from the shared fixtures."""
    return json.loads((FIXTURES / f"{name}.json").read_text())


def settings(**extra: Any) -> FxiaokeSettings:
    """Settings for a test tenant (current convention unless ``auth`` says otherwise)."""
    base: dict[str, Any] = {
        "app_id": "FSAID_test",
        "app_secret": SECRET,
        "permanent_code": PERMANENT,
        "user_id": "1000",
        "backoff_s": 0.5,
        "deletions_scan_every_s": 0,
    }
    return FxiaokeSettings(**{**base, **extra})


class Sleeps:
    """A ``sleep`` that only records how long it was asked to wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def body_of(request: httpx.Request) -> Any:
    """A request's JSON body."""
    return json.loads(request.content)


def trace_of(request: httpx.Request) -> str:
    """A request's thirdTraceId, checked to be a UUIDv4."""
    trace = request.url.params["thirdTraceId"]
    assert uuid.UUID(trace).version == 4
    return trace


def ok(**fields: Any) -> httpx.Response:
    """A successful answer."""
    return httpx.Response(
        200, json={"errorCode": 0, "errorMessage": "OK", "traceId": "E-O.test", **fields}
    )


def error(code: int, message: str = "refused") -> httpx.Response:
    """An error answer (Fxiaoke answers them with HTTP 200)."""
    return httpx.Response(
        200, json={"errorCode": code, "errorMessage": message, "traceId": f"E-O.err.{code}"}
    )


def token_route(value: str = "BCtoken1", ea: str = "fxtest1", expires: int = 7200) -> respx.Route:
    """The client-credentials token endpoint, answering the fixture's shape."""
    answer = {**fixture("token_client_credentials_response"), "accessToken": value}
    answer.update(ea=ea, expiresIn=expires)
    return respx.post(f"{BASE}/oauth2.0/token").mock(return_value=httpx.Response(200, json=answer))


def legacy_token_route(value: str = "CORPTOKEN1") -> respx.Route:
    """The legacy corpAccessToken endpoint."""
    answer = {
        "errorCode": 0,
        "errorMessage": "success",
        "corpAccessToken": value,
        "corpId": "FSCID_test",
        "expiresIn": 7200,
    }
    return respx.post(f"{BASE}/cgi/corpAccessToken/get/V2").mock(
        return_value=httpx.Response(200, json=answer)
    )


def shape(value: Any) -> Any:
    """The keys of a JSON value at every level (lists by their first item), values dropped."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def connector(sleeps: Sleeps | None = None, **extra: Any) -> FxiaokeConnector:
    """A connector on the shipped mapping, with recorded sleeps."""
    return FxiaokeConnector(
        "fxiaoke", settings(**extra), ConnectorContext(), sleep=sleeps or Sleeps()
    )


def run(body: Callable[[FxiaokeConnector], Awaitable[None]], conn: FxiaokeConnector) -> None:
    """Open the connector, run ``body``, close it."""

    async def go() -> None:
        await conn.open()
        try:
            await body(conn)
        finally:
            await conn.close()

    asyncio.run(go())
