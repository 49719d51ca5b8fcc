"""The notification channel of ``crmbridge zoho watch`` is renewed before it expires."""

from __future__ import annotations

import asyncio
import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import respx

from connectors.zoho import ZohoConnector, ZohoSettings
from connectors.zoho.metadata import enable_notifications
from connectors.zoho.sandbox import SandboxOptions, create_app
from crmbridge.connector import ConnectorContext, KeepsChannels
from tests.connectors.zoho.sandbox_support import BASE, fixture
from tests.connectors.zoho.test_connector_http import API, Sleeps, settings, token_route

TOKEN = "deals.all.notif"  # the token of channel 10000 in Zoho's recorded list
NOW = datetime(2023, 8, 10, 20, 0, tzinfo=UTC)  # 17 hours before channel 10000 lapses


def renew(conn: ZohoConnector, now: datetime) -> datetime | None:
    async def go() -> datetime | None:
        await conn.open()
        try:
            return await conn.renew_channels(now)
        finally:
            await conn.close()

    return asyncio.run(go())


@respx.mock
def test_a_channel_near_expiry_is_patched_with_its_own_id_events_url_and_token() -> None:
    token_route()
    respx.get(f"{API}/actions/watch").mock(
        return_value=httpx.Response(200, json=fixture("get_notifications_response"))
    )
    answer = copy.deepcopy(fixture("enable_notifications_response"))
    answer["watch"][0]["details"]["events"][0]["channel_expiry"] = "2023-08-17T19:00:00+00:00"
    patch = respx.patch(f"{API}/actions/watch").mock(return_value=httpx.Response(200, json=answer))
    conn = ZohoConnector("zoho", settings(notify_token=TOKEN), ConnectorContext(), sleep=Sleeps())
    assert isinstance(conn, KeepsChannels)

    upcoming = renew(conn, NOW)

    (item,) = json.loads(patch.calls.last.request.content)["watch"]
    assert item == {
        "channel_id": "10000",
        "events": ["Contacts.create", "Deals.edit", "Deals.create", "Deals.delete"],
        "notify_url": item["notify_url"],
        "token": TOKEN,
        "channel_expiry": "2023-08-17T19:00:00+00:00",  # a week less an hour, in UTC
    }
    assert item["notify_url"].startswith("https://")
    assert patch.call_count == 1  # channel 1000000068001 carries another token
    assert upcoming == datetime(2023, 8, 16, 19, 0, tzinfo=UTC)  # a day before the new expiry


@respx.mock
def test_nothing_is_sent_while_the_channel_has_time_left() -> None:
    token_route()
    respx.get(f"{API}/actions/watch").mock(
        return_value=httpx.Response(200, json=fixture("get_notifications_response"))
    )
    patch = respx.patch(f"{API}/actions/watch")
    conn = ZohoConnector("zoho", settings(notify_token=TOKEN), ConnectorContext(), sleep=Sleeps())
    early = datetime(2023, 8, 1, tzinfo=UTC)
    upcoming = renew(conn, early)
    assert patch.call_count == 0
    expiry = datetime.fromisoformat("2023-08-11T02:12:33-11:00")
    assert upcoming == expiry - timedelta(days=1)


def test_without_a_notify_token_there_is_nothing_to_keep() -> None:
    conn = ZohoConnector("zoho", settings(), ConnectorContext(), sleep=Sleeps())
    assert asyncio.run(conn.renew_channels(NOW)) is None


def test_the_sandbox_records_the_renewal_of_the_watch_channel() -> None:
    app = create_app(SandboxOptions())
    transport = httpx.ASGITransport(app=app)
    zoho: dict[str, Any] = {
        "client_id": "1000.SANDBOXCLIENT",
        "client_secret": "sandbox-secret",
        "refresh_token": "1000.sandbox.refresh",
        "accounts_url": BASE,
        "api_url": BASE,
        "notify_token": "tok-123",
    }
    now = datetime.now(UTC)  # the sandbox's own clock decides what has expired
    channel = asyncio.run(
        enable_notifications(
            ZohoSettings(**zoho),
            ["Contacts", "Accounts"],
            "https://hub.example/webhooks/zoho",
            channel_id="42",
            token="tok-123",
            expiry=now + timedelta(hours=3),
            transport=transport,
        )
    )
    assert channel["channel_id"] == "42"
    conn = ZohoConnector("zoho", ZohoSettings(**zoho), ConnectorContext(), transport=transport)

    upcoming = renew(conn, now)

    async def state() -> Any:
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as c:
            return (await c.get("/__sandbox/state")).json()["channels"]

    (kept,) = asyncio.run(state())
    assert kept["channel_id"] == "42"
    assert kept["renewals"] == 1
    assert sorted(kept["events"]) == ["Accounts.all", "Contacts.all"]
    expiry = datetime.fromisoformat(kept["expiry"])
    assert expiry > now + timedelta(days=6)
    assert upcoming == expiry - timedelta(days=1)
    # a day later nothing is due: no second renewal
    renew(conn, now + timedelta(days=1))
    assert asyncio.run(state())[0]["renewals"] == 1
