"""The sandbox over a real socket (uvicorn on an ephemeral port): resets, stalls, callbacks."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from sandbox_support import CLIENT, fixture

from connectors.zoho.sandbox import SandboxOptions, SandboxServer

V8 = "/crm/v8"


@contextmanager
def _client(server: SandboxServer, timeout: float = 5.0) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=timeout) as client:
        r = client.post(
            "/oauth/v2/token",
            data={**CLIENT, "grant_type": "refresh_token", "refresh_token": "1000.sandbox.refresh"},
        )
        assert r.json()["api_domain"] == server.base_url
        client.headers["Authorization"] = f"Zoho-oauthtoken {r.json()['access_token']}"
        yield client


def test_resets_and_stalls_reach_a_real_http_client() -> None:
    options = SandboxOptions(port=0, faults="reset:at=2,timeout:at=4@1s,reset:at=5@after")
    with SandboxServer(options) as server, _client(server, timeout=0.3) as client:
        params = {"fields": "Last_Name"}
        assert client.get(f"{V8}/Contacts", params=params).status_code == 204
        with pytest.raises(httpx.TransportError):
            client.get(f"{V8}/Contacts", params=params)  # dropped without a response
        assert client.get(f"{V8}/Contacts", params=params).status_code == 204
        with pytest.raises(httpx.TimeoutException):
            client.get(f"{V8}/Contacts", params=params)
        with pytest.raises(httpx.TransportError):
            client.post(f"{V8}/Contacts", json={"data": [{"Last_Name": "applied, answer lost"}]})
        rows = client.get(f"{V8}/Contacts", params=params).json()["data"]
        assert [r["Last_Name"] for r in rows] == ["applied, answer lost"]
        state = client.get("/__sandbox/state").json()
        assert state["faults"]["fired"] == {"reset": 2, "timeout": 1}
        time.sleep(1)  # let the stalled request finish before shutdown


@pytest.fixture
def hook_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            received.append(json.loads(body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/hook", received
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def test_notifications_are_posted_to_notify_url(
    hook_server: tuple[str, list[dict[str, Any]]],
) -> None:
    url, received = hook_server
    with (
        SandboxServer(SandboxOptions(port=0, seed_records=20, seed=7)) as server,
        _client(server) as client,
    ):
        watch = {"channel_id": "42", "events": ["Contacts.edit"], "notify_url": url, "token": "t0k"}
        assert client.post(f"{V8}/actions/watch", json={"watch": [watch]}).status_code == 201
        rows = client.get(f"{V8}/Contacts", params={"fields": "Last_Name", "per_page": "2"}).json()[
            "data"
        ]
        edit = {"data": [{"id": rows[0]["id"], "Title": "采购经理"}], "trigger": []}
        assert client.put(f"{V8}/Contacts", json=edit).status_code == 200
        client.post(f"{V8}/Contacts", json={"data": [{"Last_Name": "not watched: create"}]})
        deadline = time.monotonic() + 5
        while not received and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(received) == 1
        payload = received[0]
        assert (payload["operation"], payload["ids"], payload["token"]) == (
            "update",
            [rows[0]["id"]],
            "t0k",
        )
        assert payload["affected_fields"] == [{rows[0]["id"]: ["Title"]}]
        assert set(payload) == set(fixture("notification_payload"))
        assert payload["resource_uri"] == f"{server.base_url}/crm/v2/Contacts"
