"""The client: errorCode branching, token refresh on 20016, retries, the quota stop, the limiter."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
import respx

from connectors.fxiaoke import DailyQuotaExhausted, FxiaokeError
from connectors.fxiaoke.client import FxiaokeClient, data_path
from connectors.fxiaoke.limiter import WindowLimiter
from crmbridge.errors import AuthError, ConfigError, TransientError

from .http_support import BASE, Sleeps, body_of, error, fixture, ok, settings, token_route

QUERY = f"{BASE}/cgi/crm/v2/data/query"
PATH = "/cgi/crm/v2/data/query"


class Events:
    def __init__(self) -> None:
        self.retries = 0
        self.limited = 0

    def retried(self) -> None:
        self.retries += 1

    def rate_limited(self) -> None:
        self.limited += 1


def client(**extra: object) -> FxiaokeClient:
    return FxiaokeClient(settings(**extra), sleep=Sleeps())


async def _open(c: FxiaokeClient) -> FxiaokeClient:
    await c.open()
    return c


def test_custom_objects_take_the_custom_paths() -> None:
    assert data_path("ContactObj", "query") == "/cgi/crm/v2/data/query"
    assert data_path("object_Nyeoj__c", "create") == "/cgi/crm/custom/v2/data/create"


@respx.mock
def test_20016_refreshes_the_token_once_and_sends_again() -> None:
    tokens = respx.post(f"{BASE}/oauth2.0/token").mock(
        side_effect=[
            httpx.Response(
                200, json={**fixture("token_client_credentials_response"), "accessToken": "OLD"}
            ),
            httpx.Response(
                200, json={**fixture("token_client_credentials_response"), "accessToken": "NEW"}
            ),
        ]
    )
    expired = httpx.Response(200, json=fixture("error_20016_bad_token_probe"))
    query = respx.post(QUERY).mock(side_effect=[expired, ok(data={"dataList": []})])

    async def go() -> None:
        c = await _open(client())
        answer = await c.call(PATH, {})
        assert answer.data == {"dataList": []}
        await c.close()

    asyncio.run(go())
    assert tokens.call_count == 2
    auths = [c.request.headers["authorization"] for c in query.calls]
    assert auths == ["Bearer OLD", "Bearer NEW"]


@respx.mock
def test_20016_under_concurrency_refreshes_one_token_not_many() -> None:
    tokens = respx.post(f"{BASE}/oauth2.0/token").mock(
        side_effect=[
            httpx.Response(
                200, json={**fixture("token_client_credentials_response"), "accessToken": "OLD"}
            ),
            httpx.Response(
                200, json={**fixture("token_client_credentials_response"), "accessToken": "NEW"}
            ),
        ]
    )

    def answer(request: httpx.Request) -> httpx.Response:
        if request.headers["authorization"] == "Bearer OLD":
            return httpx.Response(200, json=fixture("error_20016_bad_token_probe"))
        return ok(data={"dataList": []})

    respx.post(QUERY).mock(side_effect=answer)

    async def go() -> None:
        c = await _open(client(concurrency=10))
        await c.tokens.token()  # everyone starts with the token that is about to be refused
        await asyncio.gather(*(c.call(PATH, {}) for _ in range(10)))
        await c.close()

    asyncio.run(go())
    assert tokens.call_count == 2


@respx.mock
def test_a_second_20016_is_an_auth_error() -> None:
    token_route()
    respx.post(QUERY).mock(
        return_value=httpx.Response(200, json=fixture("error_20016_bad_token_probe"))
    )

    async def go() -> None:
        c = await _open(client())
        with pytest.raises(AuthError):
            await c.call(PATH, {})
        await c.close()

    asyncio.run(go())


@pytest.mark.parametrize(("code", "limited"), [(-1, 0), (50009, 0), (14001, 1), (30004, 1)])
@respx.mock
def test_busy_and_limit_codes_back_off_and_retry(code: int, limited: int) -> None:
    token_route()
    respx.post(QUERY).mock(side_effect=[error(code), ok(data={"dataList": []})])
    events = Events()
    sleeps = Sleeps()

    async def go() -> None:
        c = FxiaokeClient(settings(), sleep=sleeps, events=events, rng=lambda: 1.0)
        await c.open()
        await c.call(PATH, {})
        await c.close()

    asyncio.run(go())
    assert (events.retries, events.limited) == (1, limited)
    assert sleeps.waits == [0.5]


@respx.mock
def test_retries_spent_are_a_transient_error() -> None:
    token_route()
    respx.post(QUERY).mock(return_value=error(-1))

    async def go() -> None:
        c = await _open(client(max_retries=2))
        with pytest.raises(TransientError):
            await c.call(PATH, {})
        await c.close()

    asyncio.run(go())
    assert respx.calls.call_count == 1 + 3


@respx.mock
def test_the_daily_quota_stops_the_instance_and_says_until_when() -> None:
    token_route()
    route = respx.post(QUERY).mock(return_value=error(30002))
    now = datetime(2026, 3, 4, 17, 30, tzinfo=UTC)  # 01:30 on the 5th in Shanghai

    async def go() -> None:
        c = FxiaokeClient(settings(), sleep=Sleeps(), now=lambda: now)
        await c.open()
        with pytest.raises(DailyQuotaExhausted) as first:
            await c.call(PATH, {})
        with pytest.raises(DailyQuotaExhausted):
            await c.call(PATH, {})
        await c.close()
        until = first.value.until
        assert until == datetime(2026, 3, 6, 0, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
        assert "2026-03-06T00:00:00+08:00" in first.value.message

    asyncio.run(go())
    assert route.call_count == 1  # nothing sent after the stop


@respx.mock
def test_unhandled_codes_reach_the_caller_with_the_trace_id() -> None:
    token_route()
    respx.post(QUERY).mock(return_value=error(32000, "参数错误"))

    async def go() -> None:
        c = await _open(client())
        with pytest.raises(FxiaokeError) as caught:
            await c.call(PATH, {})
        assert (caught.value.code, caught.value.trace_id) == (32000, "E-O.err.32000")
        await c.close()

    asyncio.run(go())


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        (fixture("error_20017_no_auth_probe"), AuthError),
        ({"errorCode": 20012, "errorMessage": "x"}, ConfigError),
        ({"errorCode": 20021, "errorMessage": "x"}, AuthError),
    ],
)
@respx.mock
def test_configuration_codes_on_business_calls(
    answer: dict[str, object], kind: type[Exception]
) -> None:
    token_route()
    respx.post(QUERY).mock(return_value=httpx.Response(200, json=answer))

    async def go() -> None:
        c = await _open(client())
        with pytest.raises(kind):
            await c.call(PATH, {})
        await c.close()

    asyncio.run(go())


@respx.mock
def test_http_failures_are_retried() -> None:
    token_route()
    respx.post(QUERY).mock(
        side_effect=[httpx.ConnectError("reset"), httpx.Response(502), ok(data={})]
    )

    async def go() -> None:
        c = await _open(client())
        await c.call(PATH, {"x": 1})
        await c.close()

    asyncio.run(go())
    assert [body_of(c.request) for c in respx.calls if "query" in str(c.request.url)] == [
        {"data": {"x": 1}}
    ] * 3


def test_the_limiter_keeps_every_window_under_its_ceiling() -> None:
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    limiter = WindowLimiter(100, 20.0, clock=lambda: now[0], sleep=sleep)
    sent: list[float] = []

    async def go() -> None:
        async def one() -> None:
            await limiter.acquire("/cgi/crm/v2/data/create")
            sent.append(now[0])

        await asyncio.gather(*(one() for _ in range(250)))
        await limiter.acquire("/cgi/crm/v2/data/query")  # another endpoint: no wait

    asyncio.run(go())
    assert len(sent) == 250
    for start in sent:
        assert sum(1 for t in sent if start <= t < start + 20.0) <= 100
    assert sent[-1] == pytest.approx(40.0)
    assert limiter.waited_s > 0


@respx.mock
def test_the_client_waits_for_the_limit_instead_of_being_throttled() -> None:
    token_route()
    route = respx.post(QUERY).mock(return_value=ok(data={}))
    now = [0.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    async def go() -> None:
        c = FxiaokeClient(settings(rate_limit_calls=3), sleep=sleep, clock=lambda: now[0])
        await c.open()
        await asyncio.gather(*(c.call(PATH, {}) for _ in range(4)))
        await c.close()

    asyncio.run(go())
    assert route.call_count == 4
    assert waits == [pytest.approx(20.0)]
