"""What outlives a run: the token, the rate-limit window and the quota stop in ``context.shared``."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx

from connectors.fxiaoke import DailyQuotaExhausted, FxiaokeConnector
from crmbridge.connector import ConnectorContext

from .http_support import BASE, Sleeps, error, ok, settings, token_route

QUERY = f"{BASE}/cgi/crm/v2/data/query"
PATH = "/cgi/crm/v2/data/query"
NOON = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai


def instance(shared: dict[str, Any], sleeps: Sleeps, now: list[float], **extra: Any) -> Any:
    """A connector as one run builds it: its own instance, the process's ``shared``."""
    return FxiaokeConnector(
        "fxiaoke",
        settings(**extra),
        ConnectorContext(shared=shared),
        sleep=sleeps,
        monotonic=lambda: now[0],
        clock=lambda: NOON,
    )


def one_run(conn: FxiaokeConnector, calls: int = 1) -> None:
    """Open, send ``calls`` queries, close: on an event loop of its own, as a run does."""

    async def go() -> None:
        await conn.open()
        try:
            for _ in range(calls):
                await conn.client.call(PATH, {"dataObjectApiName": "AccountObj"})
        finally:
            await conn.close()

    asyncio.run(go())


@respx.mock
def test_the_next_run_starts_from_the_token_a_run_before_obtained() -> None:
    tokens = token_route()
    respx.post(QUERY).mock(return_value=ok(data={"dataList": []}))
    shared: dict[str, Any] = {}
    now = [1000.0]
    one_run(instance(shared, Sleeps(), now))
    now[0] += 3600  # an hour later: the token has ~1 h left
    one_run(instance(shared, Sleeps(), now))
    assert tokens.call_count == 1
    now[0] += 3100  # 500 s left, within the renewal margin: the next run renews it, once
    one_run(instance(shared, Sleeps(), now))
    one_run(instance(shared, Sleeps(), now))
    assert tokens.call_count == 2


class Waits(Sleeps):
    """Sleeps that move the fake monotonic clock on."""

    def __init__(self, now: list[float]) -> None:
        super().__init__()
        self.now = now

    async def __call__(self, seconds: float) -> None:
        await super().__call__(seconds)
        self.now[0] += seconds


@respx.mock
def test_runs_at_once_share_one_call_budget_per_endpoint() -> None:
    token_route()
    respx.post(QUERY).mock(return_value=ok(data={"dataList": []}))
    shared: dict[str, Any] = {}
    now = [1000.0]
    first, second = Waits(now), Waits(now)
    one_run(instance(shared, first, now, rate_limit_calls=3), calls=3)
    assert first.waits == []
    one_run(instance(shared, second, now, rate_limit_calls=3), calls=1)
    assert second.waits == [20.0]  # the other run spent the window's three calls


@respx.mock
def test_a_quota_stop_is_carried_to_later_runs_without_a_call() -> None:
    tokens = token_route()
    query = respx.post(QUERY).mock(return_value=error(30002))
    shared: dict[str, Any] = {}
    now = [1000.0]
    with pytest.raises(DailyQuotaExhausted):
        one_run(instance(shared, Sleeps(), now))
    sent = (tokens.call_count, query.call_count)
    with pytest.raises(DailyQuotaExhausted) as caught:
        one_run(instance(shared, Sleeps(), now))
    assert (tokens.call_count, query.call_count) == sent
    assert caught.value.until.isoformat().startswith("2026-03-03T00:00:00")
    assert "until 2026-03-03T00:00:00" in str(caught.value)


@respx.mock
def test_30002_from_the_token_endpoint_is_the_quota_stop_and_is_carried_over() -> None:
    tokens = respx.post(f"{BASE}/oauth2.0/token").mock(
        return_value=httpx.Response(
            200, json={"errorCode": 30002, "errorMessage": "quota", "traceId": "E-O.q"}
        )
    )
    query = respx.post(QUERY).mock(return_value=ok(data={"dataList": []}))
    shared: dict[str, Any] = {}
    now = [1000.0]
    with pytest.raises(DailyQuotaExhausted):
        one_run(instance(shared, Sleeps(), now))
    with pytest.raises(DailyQuotaExhausted):
        one_run(instance(shared, Sleeps(), now))
    assert (tokens.call_count, query.call_count) == (1, 0)
