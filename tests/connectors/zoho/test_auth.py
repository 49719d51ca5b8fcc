"""OAuth against Zoho Accounts: request shape, errors, caching, single flight (respx)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from connectors.zoho.auth import TokenManager, exchange_grant_code, parse_expiry
from connectors.zoho.settings import ZohoSettings
from crmbridge.errors import AuthError

FIXTURES = Path("/work/shared/fixtures/zoho")
ACCOUNTS = "https://accounts.zoho.eu/oauth/v2/token"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def settings(**extra: Any) -> ZohoSettings:
    return ZohoSettings(
        data_centre="eu",
        client_id="1000.CLIENT",
        client_secret="s3cret",
        refresh_token="1000.refresh.tok",
        **extra,
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _manager(clock: Clock | None = None) -> tuple[TokenManager, httpx.AsyncClient]:
    client = httpx.AsyncClient()
    return TokenManager(settings(), client, clock=clock or Clock()), client


@respx.mock
def test_refresh_sends_secrets_in_a_form_body_to_the_data_centre() -> None:
    route = respx.post(ACCOUNTS).mock(
        return_value=httpx.Response(200, json=fixture("token_refresh_response"))
    )

    async def go() -> None:
        manager, client = await _manager()
        token = await manager.token()
        await client.aclose()
        assert token.value.startswith("1000.")
        assert token.api_domain == "https://www.zohoapis.com"

    asyncio.run(go())
    request = route.calls.last.request
    assert request.url.query == b""  # nothing secret in the URL
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    form = parse_qs(request.content.decode())
    assert form == {
        "grant_type": ["refresh_token"],
        "client_id": ["1000.CLIENT"],
        "client_secret": ["s3cret"],
        "refresh_token": ["1000.refresh.tok"],
    }


@respx.mock
def test_invalid_client_names_the_settings_to_fix() -> None:
    respx.post(ACCOUNTS).mock(
        return_value=httpx.Response(200, json=fixture("token_error_invalid_client"))
    )

    async def go() -> None:
        manager, client = await _manager()
        with pytest.raises(AuthError) as caught:
            await manager.token()
        await client.aclose()
        text = str(caught.value)
        assert "invalid_client" in text
        assert "client_id" in text
        assert "data_centre" in text
        assert "s3cret" not in text

    asyncio.run(go())


@respx.mock
def test_invalid_code_names_refresh_token() -> None:
    respx.post(ACCOUNTS).mock(
        return_value=httpx.Response(200, json=fixture("token_error_invalid_code"))
    )

    async def go() -> None:
        manager, client = await _manager()
        with pytest.raises(AuthError, match="refresh_token"):
            await manager.token()
        await client.aclose()

    asyncio.run(go())


@respx.mock
def test_token_is_cached_refreshed_before_it_lapses_and_single_flight() -> None:
    route = respx.post(ACCOUNTS).mock(
        return_value=httpx.Response(200, json=fixture("token_refresh_response"))
    )
    clock = Clock()

    async def go() -> None:
        manager, client = await _manager(clock)
        tokens = await asyncio.gather(*(manager.token() for _ in range(20)))
        assert len({t.value for t in tokens}) == 1
        assert route.call_count == 1
        clock.now += 3600 - 30  # within a minute of expiry: refresh first
        await manager.token()
        assert route.call_count == 2
        await client.aclose()

    asyncio.run(go())


def test_legacy_expiry_in_milliseconds() -> None:
    assert parse_expiry(fixture("token_refresh_response")) == 3600
    assert parse_expiry(fixture("token_refresh_response_legacy_ms")) == 3600
    assert parse_expiry({"expires_in": 3_600_000}) == 3600


@respx.mock
def test_exchange_grant_code_returns_the_refresh_token() -> None:
    route = respx.post(ACCOUNTS).mock(
        return_value=httpx.Response(200, json=fixture("token_response"))
    )
    token = asyncio.run(exchange_grant_code(settings(), "1000.grant"))
    assert token == fixture("token_response")["refresh_token"]
    form = parse_qs(route.calls.last.request.content.decode())
    assert form["grant_type"] == ["authorization_code"]
    assert form["code"] == ["1000.grant"]
    assert route.calls.last.request.url.query == b""


def test_secrets_never_show_in_settings_repr() -> None:
    text = repr(settings()) + str(settings().model_dump())
    assert "s3cret" not in text
    assert "1000.refresh.tok" not in text
