"""Starting the Fxiaoke sandbox in tests: in-process sessions, a real port, pytest fixtures.

For the connector's end-to-end tests the fixtures ``fxiaoke_sandbox`` (a running
:class:`SandboxServer` with default options) and ``fxiaoke_sandbox_factory`` (call it
with ``SandboxOptions`` fields to get more, all stopped at teardown) are exported to
this directory's tests by ``conftest.py``; the credentials they accept are below.
"""

from __future__ import annotations

import asyncio
import functools
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import ExitStack, asynccontextmanager
from pathlib import Path
from typing import Any, Literal, ParamSpec

import httpx
import pytest

from connectors.fxiaoke.sandbox import SandboxApp, SandboxOptions, SandboxServer, create_app

FIXTURES = Path("/work/shared/fixtures/fxiaoke")
BASE = "http://fxiaoke.sandbox"
_DEFAULTS = SandboxOptions()
#: the body of both token grants (add ``grantType: app_secret`` for /oauth2.0/token)
APP = {
    "appId": _DEFAULTS.app_id,
    "appSecret": _DEFAULTS.app_secret,
    "permanentCode": _DEFAULTS.permanent_code,
}
CORP_ID = _DEFAULTS.corp_id
EA = _DEFAULTS.ea
CUSTOM = _DEFAULTS.custom_object
ADMIN_ID = "1000"
ADMIN_OPEN_USER_ID = "FSUID_5A1C0E3B7D9F4A2E8C6B1D3F5E7A9C0B"
REMOTE_OPEN_USER_ID = "FSUID_0B9C7A5E3F1D2B4C6E8A0D1F3B5C7E9A"
P = ParamSpec("P")
Convention = Literal["legacy", "current"]


def fixture(name: str) -> Any:
    """A recorded Fxiaoke body from the shared fixtures."""
    return json.loads((FIXTURES / f"{name}.json").read_text())


def run_async(fn: Callable[P, Awaitable[None]]) -> Callable[P, None]:
    """Run an async test body with ``asyncio.run`` (the suite has no async plugin)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        asyncio.run(fn(*args, **kwargs))  # type: ignore[arg-type]

    return wrapper


def assert_same_shape(actual: Any, expected: Any, path: str = "$") -> None:
    """Same keys at every level (lists compared by their first item), same JSON types."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: expected an object, got {actual!r}"
        assert set(actual) == set(expected), f"{path}: {sorted(actual)} != {sorted(expected)}"
        for key in expected:
            assert_same_shape(actual[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{path}: expected a list, got {actual!r}"
        if expected and actual:
            assert_same_shape(actual[0], expected[0], f"{path}[0]")
    else:
        assert type(actual) is type(expected), f"{path}: {actual!r} vs {expected!r}"


def without_trace(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` minus ``traceId`` (ours differ from the recorded ones)."""
    return {k: v for k, v in body.items() if k != "traceId"}


class Session:
    """An authorised caller of an in-process sandbox, in one auth convention."""

    def __init__(self, client: httpx.AsyncClient, convention: Convention) -> None:
        self.client = client
        self.convention = convention
        self.token = ""
        self.user = ADMIN_ID if convention == "current" else ADMIN_OPEN_USER_ID

    async def login(self) -> dict[str, Any]:
        """Fetch a token in this session's convention; return the token answer."""
        r: dict[str, Any]
        if self.convention == "current":
            r = await self.post("/oauth2.0/token", {**APP, "grantType": "app_secret"}, auth=False)
            self.token = r["accessToken"]
        else:
            r = await self.post("/cgi/corpAccessToken/get/V2", dict(APP), auth=False)
            self.token = r["corpAccessToken"]
        return r

    async def post(self, path: str, body: dict[str, Any], *, auth: bool = True) -> Any:
        """POST ``body`` as is (plus this session's credentials) with a fresh thirdTraceId."""
        headers: dict[str, str] = {}
        if auth and self.convention == "current":
            headers = {"authorization": f"Bearer {self.token}", "x-fs-ea": EA}
            headers["x-fs-userid"] = self.user
        elif auth:
            body = {
                **body,
                "corpAccessToken": self.token,
                "corpId": CORP_ID,
                "currentOpenUserId": self.user,
            }
        r = await self.client.post(
            path, params={"thirdTraceId": str(uuid.uuid4())}, json=body, headers=headers
        )
        assert r.status_code == 200, r.text
        return r.json()

    async def call(self, path: str, data: dict[str, Any], **top: Any) -> Any:
        """POST ``{"data": data, **top}`` with credentials."""
        return await self.post(path, {"data": data, **top})


@asynccontextmanager
async def sandbox(
    convention: Convention = "current", **options: Any
) -> AsyncIterator[tuple[Session, SandboxApp]]:
    """An in-process sandbox and a logged-in :class:`Session` for it."""
    app = create_app(SandboxOptions(**options))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        session = Session(c, convention)
        await session.login()
        yield session, app


def query_body(api_name: str, **info: Any) -> dict[str, Any]:
    """``data`` of a query: ``search_query_info`` from keyword arguments."""
    return {"dataObjectApiName": api_name, "search_query_info": {"limit": 100, "offset": 0, **info}}


@pytest.fixture
def fxiaoke_sandbox_factory() -> Iterator[Callable[..., SandboxServer]]:
    """Start sandboxes on free ports: ``factory(seed_contacts=50, faults="busy:0.1")``."""
    with ExitStack() as stack:

        def start(**options: Any) -> SandboxServer:
            return stack.enter_context(SandboxServer(SandboxOptions(port=0, **options)))

        yield start


@pytest.fixture
def fxiaoke_sandbox(
    fxiaoke_sandbox_factory: Callable[..., SandboxServer],
) -> SandboxServer:
    """A running sandbox with default options (empty tenant, credentials as in ``APP``)."""
    return fxiaoke_sandbox_factory()
