"""Tokens in both conventions: request shapes, caching, renewal window, single flight, errors."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
import respx

from connectors.fxiaoke.auth import TokenManager
from connectors.fxiaoke.client import FxiaokeClient
from crmbridge.errors import AuthError, ConfigError

from .http_support import (
    BASE,
    PERMANENT,
    SECRET,
    Sleeps,
    body_of,
    error,
    fixture,
    legacy_token_route,
    ok,
    settings,
    shape,
    token_route,
    trace_of,
)

QUERY = f"{BASE}/cgi/crm/v2/data/query"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _call(client: FxiaokeClient, times: int = 1) -> None:
    await client.open()
    try:
        for _ in range(times):
            await client.call("/cgi/crm/v2/data/query", {"dataObjectApiName": "ContactObj"})
    finally:
        await client.close()


@respx.mock
def test_current_convention_token_request_and_call_headers() -> None:
    tokens = token_route("BCxyz", ea="fx88")
    query = respx.post(QUERY).mock(return_value=ok(data={"dataList": []}))
    asyncio.run(_call(FxiaokeClient(settings(), sleep=Sleeps()), times=2))
    assert tokens.call_count == 1  # cached for its life
    request = tokens.calls[0].request
    sent = body_of(request)
    assert shape(sent) == shape(fixture("token_client_credentials_request"))
    assert sent["grantType"] == "app_secret"
    assert (sent["appSecret"], sent["permanentCode"]) == (SECRET, PERMANENT)
    trace_of(request)
    first, second = (c.request for c in query.calls)
    assert first.headers["authorization"] == "Bearer BCxyz"
    assert first.headers["x-fs-ea"] == "fx88"
    assert first.headers["x-fs-userid"] == "1000"
    assert body_of(first) == {"data": {"dataObjectApiName": "ContactObj"}}
    assert trace_of(first) != trace_of(second)  # a fresh thirdTraceId on every call


@respx.mock
def test_legacy_convention_puts_the_credentials_in_every_body() -> None:
    tokens = legacy_token_route("CORP1")
    query = respx.post(QUERY).mock(return_value=ok(data={"dataList": []}))
    asyncio.run(_call(FxiaokeClient(settings(auth="legacy", user_id="FSUID_ABC"), sleep=Sleeps())))
    sent = body_of(tokens.calls[0].request)
    assert shape(sent) == shape(fixture("token_legacy_request"))
    trace_of(tokens.calls[0].request)
    call = query.calls[0].request
    body = body_of(call)
    assert set(body) == set(fixture("legacy_body_envelope_request"))
    assert (body["corpAccessToken"], body["corpId"], body["currentOpenUserId"]) == (
        "CORP1",
        "FSCID_test",
        "FSUID_ABC",
    )
    assert "authorization" not in call.headers


@respx.mock
def test_the_token_is_renewed_in_the_window_the_api_documents() -> None:
    clock = Clock()
    route = token_route()

    async def go() -> list[str]:
        async with httpx.AsyncClient() as http:
            tokens = TokenManager(settings(), http, clock=clock)
            seen = [(await tokens.token()).value]
            clock.now += 6600  # the endpoint would still hand out the same token
            seen.append((await tokens.token()).value)
            clock.now += 60  # 6,660 s old: inside 6,650-7,200, renew
            seen.append((await tokens.token()).value)
            return seen

    asyncio.run(go())
    assert route.call_count == 2


@respx.mock
def test_concurrent_callers_share_one_token_request() -> None:
    route = token_route()

    async def go() -> None:
        async with httpx.AsyncClient() as http:
            tokens = TokenManager(settings(), http)
            values = await asyncio.gather(*(tokens.token() for _ in range(20)))
            assert len({v.value for v in values}) == 1

    asyncio.run(go())
    assert route.call_count == 1


@respx.mock
def test_a_bad_secret_is_an_auth_error_naming_the_settings_not_the_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    respx.post(f"{BASE}/oauth2.0/token").mock(
        return_value=httpx.Response(200, json=fixture("error_10006_token_bad_secret_probe"))
    )
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthError) as caught:
        asyncio.run(_call(FxiaokeClient(settings(), sleep=Sleeps())))
    message = str(caught.value)
    assert "app_secret" in message
    assert "permanent_code" in message
    assert "10006" in message
    assert "open-api-gateway-web" in message
    assert SECRET not in message
    assert PERMANENT not in message
    assert SECRET not in caplog.text
    assert PERMANENT not in caplog.text


@pytest.mark.parametrize(
    ("code", "kind", "setting"),
    [
        (20006, AuthError, "app_secret"),
        (20015, AuthError, "permanent_code"),
        (20022, AuthError, "not authorised"),
        (30003, ConfigError, "OpenAPI"),
    ],
)
@respx.mock
def test_configuration_errors_stop_with_a_message_naming_what_to_fix(
    code: int, kind: type[Exception], setting: str
) -> None:
    respx.post(f"{BASE}/oauth2.0/token").mock(return_value=error(code))
    with pytest.raises(kind) as caught:
        asyncio.run(_call(FxiaokeClient(settings(), sleep=Sleeps())))
    assert setting in str(caught.value)


@respx.mock
def test_the_www_host_is_not_the_gateway() -> None:
    respx.post("https://www.fxiaoke.com/oauth2.0/token").mock(
        return_value=httpx.Response(302, text="<html>moved</html>")
    )
    with pytest.raises(ConfigError) as caught:
        asyncio.run(
            _call(FxiaokeClient(settings(base_url="https://www.fxiaoke.com"), sleep=Sleeps()))
        )
    assert caught.value.key == "base_url"


def test_secrets_are_not_in_reprs() -> None:
    s = settings()
    assert SECRET not in repr(s)
    assert PERMANENT not in repr(s)
    assert settings(base_url="frankfurt").base_url == "https://open-hws.fxiaoke.com"
