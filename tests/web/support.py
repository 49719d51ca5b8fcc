"""A config with webhook connectors, a bridge over the test store, and a token-checked notifier."""

from __future__ import annotations

import base64
import functools
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import anyio.from_thread
import httpx
import sqlalchemy as sa
from pydantic import SecretStr
from standardwebhooks import Webhook

from crmbridge.config import load_config
from crmbridge.connector import ConnectorSettings
from crmbridge.registry import ConnectorType, discover, settings_models
from crmbridge.service import Bridge
from crmbridge.store import upgrade
from crmbridge.testing import InMemoryConnector, InMemorySettings

SECRET = "whsec_" + base64.b64encode(b"crmbridge-web-test-secret-32byte").decode()
TOKEN = "trigger-token-" + "x" * 32
NOTIFY = "zoho-channel-token-0123456789"

CONFIG = """
store: {{url: "{store}"}}
server: {{{token} max_body_bytes: 4096, lease_ttl_s: 3}}
connectors:
  peer: {{type: webhook, secret: "{secret}"}}
  open: {{type: webhook, signature: none}}
  gh:
    type: webhook
    signature: hmac
    secret: gh-secret
    header: X-Hub-Signature-256
    prefix: "sha256="
    id_header: X-GitHub-Delivery
  zc: {{type: zohoish, notify_token: "{notify}"}}
  mem: {{type: memory}}
jobs:
  peer-in:
    connector: peer
    entities: [organizations, stakeholders]
    direction: pull
    deletes: propagate
    mass_delete: {{max_fraction: 1.0}}
  mem-sync: {{connector: mem, entities: [stakeholders]}}
  zc-sync: {{connector: zc, entities: [stakeholders], direction: pull}}
"""


class ZohoishSettings(InMemorySettings):
    """A stand-in for the Zoho connector's settings: it names a notify_token."""

    notify_token: SecretStr | None = None


class ZohoishConnector(InMemoryConnector):
    """An in-memory connector that takes Zoho-style token-checked notifications."""

    type_name: ClassVar[str] = "zohoish"
    settings_model: ClassVar[type[ConnectorSettings]] = ZohoishSettings


def make_bridge(tmp_path: Path, store_url: str, *, token: bool = True) -> Bridge:
    path = tmp_path / "crmbridge.yaml"
    path.write_text(
        CONFIG.format(
            store=store_url,
            token=f'trigger_token: "{TOKEN}",' if token else "",
            secret=SECRET,
            notify=NOTIFY,
        ),
        encoding="utf-8",
    )
    types = dict(discover())
    types["zohoish"] = ConnectorType("zohoish", "tests.web.support", None, cls=ZohoishConnector)
    models = {**settings_models(types), "zohoish": ZohoishSettings}
    config = load_config(path, {}, models)
    upgrade(store_url)
    return Bridge(config, types=types)


def signed(body: Any, msg_id: str, at: datetime | None = None) -> tuple[bytes, dict[str, str]]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    moment = at or datetime.now(UTC)
    return raw, {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": Webhook(SECRET).sign(msg_id, moment, raw.decode()),
        "content-type": "application/json",
    }


class SyncClient:
    """An HTTP client of an ASGI app whose event loop runs in a thread (background runs go on).

    Starlette's TestClient is deprecated with httpx; this is the same idea in a few lines.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self._portal_cm = anyio.from_thread.start_blocking_portal()
        self.portal = self._portal_cm.__enter__()
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        self._client = httpx.AsyncClient(transport=transport, base_url="http://testserver")

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self.portal.call(functools.partial(self._client.request, method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def close(self) -> None:
        try:
            self.portal.call(self.app.state.runs.aclose, 30.0)
            self.portal.call(self._client.aclose)
        finally:
            self._portal_cm.__exit__(None, None, None)


def wait_for_run(client: SyncClient, run_id: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(f"/runs/{run_id}").json()
        if body.get("status") not in ("running", None):
            return body
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not finish in {timeout} s")


def hub_counts(bridge: Bridge) -> dict[str, int]:
    """Row counts of the tables a request could change."""
    with bridge.store.engine.connect() as conn:
        return {
            table: int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())
            for table in ("webhook_inbox", "records", "runs", "inbox_items", "links")
        }


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def iter_lines(text: str) -> Iterator[str]:
    yield from text.splitlines()
