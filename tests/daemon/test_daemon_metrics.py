"""Retries and 429s by connector, as the daemon's ``/metrics`` exports them (respx, no network)."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import httpx
import respx
from prometheus_client import CollectorRegistry, generate_latest

from crmbridge.config import load_config
from crmbridge.connector import WriteOp, WriteOutcome, WriteRequest
from crmbridge.daemon_metrics import SyncMetrics
from crmbridge.registry import discover, settings_models
from crmbridge.service import Bridge

ACCOUNTS = "https://accounts.zoho.eu/oauth/v2/token"
API = "https://www.zohoapis.eu/crm/v7"
HOOK = "https://peer.example.test/crmbridge"
SECRET = "whsec_" + base64.b64encode(b"crmbridge-metrics-test-secret-32").decode()

CONFIG = f"""
store: {{url: "sqlite:///{{db}}"}}
connectors:
  crm:
    type: zoho
    data_centre: eu
    client_id: "1000.CLIENT"
    client_secret: s3cret
    refresh_token: "1000.refresh.tok"
    read_mode: records
  hook:
    type: webhook
    url: {HOOK}
    secret: "{SECRET}"
    retry: {{first_s: 0}}
jobs:
  crm-in: {{connector: crm, entities: [stakeholders], direction: pull}}
  hook-out: {{connector: hook, entities: [stakeholders], direction: push}}
"""


def metrics_of(tmp_path: Path) -> tuple[Bridge, CollectorRegistry]:
    """A bridge whose connectors report to the daemon's metrics, as ``crmbridge run`` wires it."""
    path = tmp_path / "crmbridge.yaml"
    path.write_text(CONFIG.replace("{db}", str(tmp_path / "hub.db")), encoding="utf-8")
    types = discover()
    bridge = Bridge(load_config(path, {}, settings_models(types)), types=types)
    registry = CollectorRegistry()
    bridge.api_events = SyncMetrics(registry, bridge).api_events
    return bridge, registry


def text(registry: CollectorRegistry) -> str:
    return generate_latest(registry).decode()


def token_route() -> None:
    body = {
        "access_token": "1000.access.tok",
        "api_domain": "https://www.zohoapis.eu",
        "token_type": "Bearer",
        "expires_in": 3600,
    }
    respx.post(ACCOUNTS).mock(return_value=httpx.Response(200, json=body))


async def read_all(bridge: Bridge, connector: str) -> None:
    instance = bridge.connector(connector)
    await instance.open()
    try:
        async for _ in instance.read_changes("stakeholders", {"since": "2024-01-01T00:00:00Z"}):
            pass
    finally:
        await instance.close()


async def write_one(bridge: Bridge, connector: str) -> WriteOutcome:
    instance = bridge.connector(connector)
    await instance.open()
    try:
        request = WriteRequest("k1", WriteOp.CREATE, {"full_name": "Li Lei", "email": "li@x.cn"})
        (result,) = await instance.write("stakeholders", [request])
    finally:
        await instance.close()
    return result.outcome


@respx.mock
def test_a_429_then_200_counts_one_429_and_one_retry_for_that_connector(tmp_path: Path) -> None:
    bridge, registry = metrics_of(tmp_path)
    before = text(registry)
    for name in ("crm", "hook"):
        assert f'crmbridge_api_retries_total{{connector="{name}"}} 0.0' in before
        assert f'crmbridge_api_rate_limited_total{{connector="{name}"}} 0.0' in before

    token_route()
    contacts = respx.get(f"{API}/Contacts").mock(
        side_effect=[
            httpx.Response(429, json={"code": "TOO_MANY_REQUESTS"}, headers={"Retry-After": "0"}),
            httpx.Response(204),
        ]
    )
    respx.get(f"{API}/Contacts/deleted").mock(return_value=httpx.Response(204))
    asyncio.run(read_all(bridge, "crm"))

    assert contacts.call_count == 2
    after_zoho = text(registry)
    assert 'crmbridge_api_retries_total{connector="crm"} 1.0' in after_zoho
    assert 'crmbridge_api_rate_limited_total{connector="crm"} 1.0' in after_zoho
    assert 'crmbridge_api_retries_total{connector="hook"} 0.0' in after_zoho
    assert 'crmbridge_api_rate_limited_total{connector="hook"} 0.0' in after_zoho

    peer = respx.post(HOOK).mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "0"}), httpx.Response(200)]
    )
    assert asyncio.run(write_one(bridge, "hook")) is WriteOutcome.CREATED

    assert peer.call_count == 2
    sent = [call.request for call in peer.calls]
    assert sent[0].headers["webhook-id"] == sent[1].headers["webhook-id"]
    after_hook = text(registry)
    assert 'crmbridge_api_retries_total{connector="hook"} 1.0' in after_hook
    assert 'crmbridge_api_rate_limited_total{connector="hook"} 1.0' in after_hook
    assert 'crmbridge_api_retries_total{connector="crm"} 1.0' in after_hook
    bridge.close()


@respx.mock
def test_a_5xx_retry_is_a_retry_but_not_a_429(tmp_path: Path) -> None:
    bridge, registry = metrics_of(tmp_path)
    token_route()
    respx.get(f"{API}/Contacts").mock(
        side_effect=[httpx.Response(503, headers={"Retry-After": "0"}), httpx.Response(204)]
    )
    respx.get(f"{API}/Contacts/deleted").mock(return_value=httpx.Response(204))
    asyncio.run(read_all(bridge, "crm"))

    exported = text(registry)
    assert 'crmbridge_api_retries_total{connector="crm"} 1.0' in exported
    assert 'crmbridge_api_rate_limited_total{connector="crm"} 0.0' in exported
    bridge.close()
