"""The Fxiaoke sandbox on a real port: the pytest fixtures, resets and stalls, the CLI."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from connectors.fxiaoke.sandbox import SandboxServer
from crmbridge.cli import app

from .sandbox_support import APP, EA, query_body


def _login(client: httpx.Client) -> None:
    r = client.post(
        "/oauth2.0/token",
        params={"thirdTraceId": str(uuid.uuid4())},
        json={**APP, "grantType": "app_secret"},
    )
    client.headers.update(
        {"authorization": f"Bearer {r.json()['accessToken']}", "x-fs-ea": EA, "x-fs-userid": "1000"}
    )


def _query(client: httpx.Client, path: str = "/cgi/crm/v2/data/query") -> Any:
    r = client.post(
        path, params={"thirdTraceId": str(uuid.uuid4())}, json={"data": query_body("ContactObj")}
    )
    assert r.status_code == 200
    return r.json()


def test_the_fixture_serves_on_a_real_port(fxiaoke_sandbox: SandboxServer) -> None:
    with httpx.Client(base_url=fxiaoke_sandbox.base_url, timeout=5) as client:
        _login(client)
        assert _query(client)["data"]["dataList"] == []
        created = client.post(
            "/cgi/crm/v2/data/create",
            json={"data": {"object_data": {"dataObjectApiName": "ContactObj", "name": "陈静"}}},
        ).json()
        assert created["errorCode"] == 0
        assert created["dataId"]
        assert _query(client)["data"]["total"] == 1


def test_resets_and_stalls_reach_a_real_http_client(
    fxiaoke_sandbox_factory: Callable[..., SandboxServer],
) -> None:
    server = fxiaoke_sandbox_factory(faults="reset:at=2,timeout:at=4@1s,reset:at=5@after@write")
    with httpx.Client(base_url=server.base_url, timeout=0.3) as client:
        _login(client)
        assert _query(client)["errorCode"] == 0
        with pytest.raises(httpx.TransportError):
            _query(client)  # dropped without an answer
        assert _query(client)["errorCode"] == 0
        with pytest.raises(httpx.TimeoutException):
            _query(client)
        with pytest.raises(httpx.TransportError):
            client.post(
                "/cgi/crm/v2/data/create",
                json={
                    "data": {"object_data": {"dataObjectApiName": "ContactObj", "name": "已写入"}}
                },
            )
        rows = _query(client)["data"]["dataList"]
        assert [r["name"] for r in rows] == ["已写入"]  # applied, answer lost
        fired = client.get("/__sandbox/state").json()["faults"]["fired"]
        assert fired == {"reset": 2, "timeout": 1}
        time.sleep(1)  # let the stalled call finish before shutdown


def test_sandbox_command_is_registered_and_rejects_bad_faults() -> None:
    names = {e.name: e.value for e in entry_points(group="crmbridge.sandboxes")}
    assert names["fxiaoke"] == "connectors.fxiaoke.cli:sandbox"
    runner = CliRunner()
    result = runner.invoke(app, ["sandbox", "fxiaoke", "--help"])
    assert result.exit_code == 0
    assert "--seed-contacts" in result.output
    result = runner.invoke(app, ["sandbox", "fxiaoke", "--faults", "nope:1", "--port", "0"])
    assert result.exit_code == 2
    assert "--faults" in result.output + result.stderr
