"""Helpers shared by the Zoho sandbox tests (in-process client, fixture shapes)."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, ParamSpec

import httpx

from connectors.zoho.sandbox import SandboxApp, SandboxOptions, create_app

FIXTURES = Path("/work/shared/fixtures/zoho")
BASE = "http://zoho.sandbox"
CLIENT = {"client_id": "1000.SANDBOXCLIENT", "client_secret": "sandbox-secret"}
P = ParamSpec("P")


def fixture(name: str) -> Any:
    """A recorded Zoho body from the shared fixtures."""
    return json.loads((FIXTURES / f"{name}.json").read_text())


def run_async(fn: Callable[P, Awaitable[None]]) -> Callable[P, None]:
    """Run an async test body with ``asyncio.run`` (the suite has no async plugin)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        asyncio.run(fn(*args, **kwargs))  # type: ignore[arg-type]

    return wrapper


def assert_same_shape(
    actual: Any, expected: Any, path: str = "$", *, extra_ok: bool = False
) -> None:
    """Same keys at every level (lists compared by their first item); values ignored.

    ``None`` on either side matches anything (Zoho sends null for empty values).
    """
    if actual is None or expected is None:
        return
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: expected an object, got {actual!r}"
        if expected and all(k.isdigit() for k in [*expected, *actual]):  # keyed by record id
            assert len(actual) == 1 or len(expected) != 1, f"{path}: {actual!r}"
            assert_same_shape(
                next(iter(actual.values())), next(iter(expected.values())), f"{path}.<id>"
            )
            return
        missing = set(expected) - set(actual)
        extra = set(actual) - set(expected)
        assert not missing, f"{path}: missing keys {sorted(missing)}"
        assert extra_ok or not extra, f"{path}: unexpected keys {sorted(extra)}"
        for key in expected:
            assert_same_shape(actual[key], expected[key], f"{path}.{key}", extra_ok=extra_ok)
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{path}: expected a list, got {actual!r}"
        if expected and actual:
            assert_same_shape(actual[0], expected[0], f"{path}[0]", extra_ok=extra_ok)
    else:
        assert type(actual) is type(expected) or {type(actual), type(expected)} <= {int, float}, (
            f"{path}: {type(actual).__name__} vs {type(expected).__name__}"
        )


async def token(client: httpx.AsyncClient) -> str:
    """An access token from the sandbox's preset refresh token."""
    r = await client.post(
        "/oauth/v2/token",
        params={**CLIENT, "grant_type": "refresh_token", "refresh_token": "1000.sandbox.refresh"},
    )
    return str(r.json()["access_token"])


@asynccontextmanager
async def sandbox(**options: Any) -> AsyncIterator[tuple[httpx.AsyncClient, SandboxApp]]:
    """An in-process sandbox and an authorised client for it."""
    app = create_app(SandboxOptions(**options))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        client.headers["Authorization"] = f"Zoho-oauthtoken {await token(client)}"
        try:
            yield client, app
        finally:
            await app.aclose()


def add_contacts(app: SandboxApp, n: int, **values: Any) -> list[str]:
    """Insert ``n`` contacts straight into the state; return their ids."""
    state = app.state
    return [
        state.insert("Contacts", {"Last_Name": f"Contact {i}", **values}, state.admin).id
        for i in range(n)
    ]
