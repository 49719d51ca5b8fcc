"""Exact request shapes of the Zoho connector, against recorded Zoho bodies (respx)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from connectors.zoho import ZohoConnector, ZohoSettings
from connectors.zoho.client import ZohoClient
from connectors.zoho.reads import read_module
from crmbridge.connector import ConnectorContext, WriteOp, WriteOutcome, WriteRequest
from crmbridge.errors import AuthError, PermanentError, TransientError

FIXTURES = Path("/work/shared/fixtures/zoho")
ACCOUNTS = "https://accounts.zoho.eu/oauth/v2/token"
API = "https://www.zohoapis.eu/crm/v7"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def settings(**extra: Any) -> ZohoSettings:
    base: dict[str, Any] = {
        "data_centre": "eu",
        "client_id": "1000.CLIENT",
        "client_secret": "s3cret",
        "refresh_token": "1000.refresh.tok",
        "backoff_s": 0.5,
        "read_mode": "records",
    }
    return ZohoSettings(**{**base, **extra})


def token_route() -> respx.Route:
    body = {**fixture("token_refresh_response"), "api_domain": "https://www.zohoapis.eu"}
    return respx.post(ACCOUNTS).mock(return_value=httpx.Response(200, json=body))


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def connector(sleeps: Sleeps | None = None, **extra: Any) -> ZohoConnector:
    return ZohoConnector(
        "zoho",
        settings(**extra),
        ConnectorContext(),
        sleep=sleeps or Sleeps(),
    )


def run(body: Callable[[ZohoConnector], Awaitable[None]], conn: ZohoConnector) -> None:
    async def go() -> None:
        await conn.open()
        try:
            await body(conn)
        finally:
            await conn.close()

    asyncio.run(go())


def checked(conn: ZohoConnector, modules: dict[str, set[str]]) -> None:
    """Skip the metadata check: these tests are about request shapes."""
    conn._checked = True
    conn._fields = modules
    conn._unique = {m: {"crmbridge_id"} for m in modules}


@respx.mock
def test_reads_send_fields_sort_if_modified_since_and_follow_page_token() -> None:
    token_route()
    first = fixture("get_records_page_token_first_response")
    second = fixture("get_records_page_token_second_response")
    for page in (first, second):
        for i, row in enumerate(page["data"]):
            row["Modified_Time"] = f"2024-03-0{1 + i}T10:00:00+05:30"
    route = respx.get(f"{API}/Contacts").mock(
        side_effect=[
            httpx.Response(200, json=first),
            httpx.Response(200, json=second),
            httpx.Response(204),  # the recorded second page still says more_records
        ]
    )
    conn = connector()
    cursor = {"module": "Contacts", "since": "2024-03-01T10:00:00+05:30"}

    async def body(c: ZohoConnector) -> None:
        pages = [p async for p in c.read_changes("stakeholders", cursor)]
        assert sum(len(p.records) for p in pages if p.records) == len(first["data"]) + len(
            second["data"]
        )

    respx.get(f"{API}/Contacts/deleted").mock(return_value=httpx.Response(304))
    run(body, conn)
    one, two = route.calls[0].request, route.calls[1].request
    assert one.headers["authorization"].startswith("Zoho-oauthtoken 1000.")
    assert one.headers["if-modified-since"] == "2024-03-01T04:29:00+00:00"  # in UTC, less overlap_s
    fields = one.url.params["fields"].split(",")
    assert 0 < len(fields) <= 50
    assert "Modified_Time" in fields
    assert one.url.params["sort_by"] == "Modified_Time"
    assert one.url.params["sort_order"] == "asc"
    assert "page_token" not in one.url.params
    assert two.url.params["page_token"] == first["info"]["next_page_token"]
    assert "page" not in two.url.params
    assert conn.read_modes["Contacts"] == "records"


@respx.mock
def test_wide_field_lists_are_split_at_50_and_joined_on_id() -> None:
    token_route()
    wide = [f"Field_{i}" for i in range(70)]
    rows = [{"id": "1", "Modified_Time": "2024-01-01T00:00:00+00:00", "Field_0": "a"}]
    route = respx.get(f"{API}/Contacts").mock(
        side_effect=[
            httpx.Response(200, json={"data": rows, "info": {"more_records": False}}),
            httpx.Response(200, json={"data": [{"id": "1", "Field_60": "b"}]}),
        ]
    )

    async def go() -> list[Any]:
        client = ZohoClient(settings())
        await client.open()
        out = [
            p
            async for p in read_module(
                client, "Contacts", wide, None, mode="records", per_page=200, modes={}
            )
        ]
        await client.close()
        return out

    (page,) = asyncio.run(go())
    assert page[0]["Field_0"] == "a"
    assert page[0]["Field_60"] == "b"
    first, second = (c.request.url.params for c in route.calls)
    assert len(first["fields"].split(",")) == 50
    assert second["ids"] == "1"
    assert len(second["fields"].split(",")) == 21


@respx.mock
def test_304_and_204_are_empty() -> None:
    token_route()
    respx.get(f"{API}/Contacts").mock(return_value=httpx.Response(304))
    respx.get(f"{API}/Contacts/deleted").mock(return_value=httpx.Response(204))

    async def body(c: ZohoConnector) -> None:
        pages = [
            p
            async for p in c.read_changes(
                "stakeholders",
                {
                    "since": "2024-01-01T00:00:00+00:00",
                    "deleted_since": "2024-01-01T00:00:00+00:00",
                },
            )
        ]
        assert all(not p.records and not p.deletions for p in pages)

    run(body, connector())


@respx.mock
def test_creates_upsert_on_the_crmbridge_id_with_no_triggers() -> None:
    token_route()
    route = respx.post(f"{API}/Contacts/upsert").mock(
        return_value=httpx.Response(207, json=fixture("upsert_207_response"))
    )
    conn = connector()

    async def body(c: ZohoConnector) -> None:
        checked(c, {"Contacts": {"crmbridge_id", "Last_Name", "Company"}})
        results = await c.write(
            "stakeholders",
            [
                WriteRequest("hub-1", WriteOp.CREATE, {"Last_Name": "Boyle"}),
                WriteRequest("hub-2", WriteOp.CREATE, {"Last_Name": "Grogan", "Company": 1}),
            ],
        )
        ok, bad = results
        assert ok.outcome is WriteOutcome.CREATED
        assert ok.external_id == "111112000000142001"
        assert ok.modified_at is not None
        assert bad.outcome is WriteOutcome.REJECTED
        assert (bad.code, bad.field, bad.message) == ("INVALID_DATA", "Company", "invalid data")

    run(body, conn)
    sent = json.loads(route.calls.last.request.content)
    assert sent["duplicate_check_fields"] == ["crmbridge_id"]
    assert sent["trigger"] == []
    assert [d["crmbridge_id"] for d in sent["data"]] == ["hub-1", "hub-2"]
    assert "duplicate_check_fields" not in route.calls.last.request.headers


@respx.mock
def test_trigger_setting_is_sent() -> None:
    token_route()
    route = respx.post(f"{API}/Contacts/upsert").mock(
        return_value=httpx.Response(200, json=fixture("upsert_200_response"))
    )

    async def body(c: ZohoConnector) -> None:
        checked(c, {"Contacts": {"crmbridge_id"}})
        await c.write("stakeholders", [WriteRequest("k", WriteOp.CREATE, {"Last_Name": "x"})])

    run(body, connector(trigger=["workflow"]))
    assert json.loads(route.calls.last.request.content)["trigger"] == ["workflow"]


@respx.mock
def test_429_backs_off_honouring_retry_after() -> None:
    token_route()
    route = respx.get(f"{API}/Contacts").mock(
        side_effect=[
            httpx.Response(
                429, json=fixture("error_429_rate_limit_oas"), headers={"Retry-After": "7"}
            ),
            httpx.Response(429, json=fixture("error_429_rate_limit_oas")),
            httpx.Response(204),
        ]
    )
    respx.get(f"{API}/Contacts/deleted").mock(return_value=httpx.Response(204))
    sleeps = Sleeps()

    async def body(c: ZohoConnector) -> None:
        _ = [
            p async for p in c.read_changes("stakeholders", {"since": "2024-01-01T00:00:00+00:00"})
        ]

    run(body, connector(sleeps))
    assert route.call_count == 3
    assert sleeps.waits[0] == 7
    assert 0 <= sleeps.waits[1] <= 1.0  # jittered exponential: second try waits up to 2 x 0.5 s


@respx.mock
def test_5xx_retried_then_transient_error() -> None:
    token_route()
    route = respx.get(f"{API}/Contacts").mock(
        return_value=httpx.Response(500, json=fixture("error_internal_error"))
    )

    async def body(c: ZohoConnector) -> None:
        with pytest.raises(TransientError):
            _ = [p async for p in c.read_changes("stakeholders", None)]

    run(body, connector(max_retries=2))
    assert route.call_count == 3


@respx.mock
def test_other_4xx_is_not_retried() -> None:
    token_route()
    route = respx.get(f"{API}/Contacts").mock(
        return_value=httpx.Response(403, json=fixture("error_no_permission"))
    )

    async def body(c: ZohoConnector) -> None:
        with pytest.raises(PermanentError, match=r"NO_PERMISSION|permission"):
            _ = [p async for p in c.read_changes("stakeholders", None)]

    run(body, connector())
    assert route.call_count == 1


@respx.mock
def test_invalid_token_refreshes_once_and_retries() -> None:
    tokens = token_route()
    route = respx.get(f"{API}/Contacts").mock(
        side_effect=[httpx.Response(401, json=fixture("error_invalid_token")), httpx.Response(204)]
    )
    respx.get(f"{API}/Contacts/deleted").mock(return_value=httpx.Response(204))

    async def body(c: ZohoConnector) -> None:
        _ = [
            p async for p in c.read_changes("stakeholders", {"since": "2024-01-01T00:00:00+00:00"})
        ]

    run(body, connector())
    assert tokens.call_count == 2
    assert route.call_count == 2


@respx.mock
def test_invalid_token_twice_is_an_auth_error() -> None:
    token_route()
    respx.get(f"{API}/Contacts").mock(
        return_value=httpx.Response(401, json=fixture("error_invalid_token"))
    )

    async def body(c: ZohoConnector) -> None:
        with pytest.raises(AuthError, match="data_centre"):
            _ = [p async for p in c.read_changes("stakeholders", None)]

    run(body, connector())


@respx.mock
def test_credit_budget_stops_the_run_before_it_is_spent() -> None:
    token_route()
    respx.get(f"{API}/Contacts").mock(return_value=httpx.Response(204))
    route = respx.post(f"{API}/Contacts/upsert").mock(
        return_value=httpx.Response(200, json=fixture("upsert_200_response"))
    )

    async def body(c: ZohoConnector) -> None:
        checked(c, {"Contacts": {"crmbridge_id"}})
        requests = [WriteRequest(f"k{i}", WriteOp.CREATE, {"Last_Name": "x"}) for i in range(100)]
        with pytest.raises(TransientError) as caught:
            await c.write("stakeholders", requests)  # 10 credits > budget of 5
        assert caught.value.retry_after
        assert c.credits_used == 0

    run(body, connector(credit_budget=5))
    assert route.call_count == 0


@respx.mock
def test_deletes_send_ids_in_the_query() -> None:
    token_route()
    route = respx.delete(f"{API}/Contacts").mock(
        return_value=httpx.Response(200, json=fixture("delete_200_response"))
    )
    ids = [i["details"]["id"] for i in fixture("delete_200_response")["data"]]

    async def body(c: ZohoConnector) -> None:
        checked(c, {"Contacts": {"crmbridge_id"}})
        results = await c.write(
            "stakeholders",
            [WriteRequest(f"k{i}", WriteOp.DELETE, {}, x) for i, x in enumerate(ids)],
        )
        assert all(r.outcome is WriteOutcome.DELETED for r in results)

    run(body, connector())
    assert route.calls.last.request.url.params["ids"] == ",".join(ids)
