"""``crmbridge serve`` as a process: what its log says of the requests it answers."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

SECRET = "q7-query-secret-value-0123456789"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[str], int, Path]:
    port = free_port()
    (tmp_path / "data").mkdir()
    config = tmp_path / "crmbridge.yaml"
    config.write_text(
        f"store: {{url: 'sqlite:///{tmp_path / 'hub.db'}'}}\n"
        "connectors:\n  files: {type: csv, directory: data}\n"
        "  hook: {type: webhook, signature: none}\n"
        "jobs:\n  files-sync: {connector: files, direction: pull}\n"
        "  hook-in: {connector: hook, entities: [stakeholders], direction: pull}\n"
        f"server: {{port: {port}}}\n",
        encoding="utf-8",
    )
    log = tmp_path / "serve.log"
    with log.open("w", encoding="utf-8") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "crmbridge", "serve", "-c", str(config), *extra],
            stdout=sink,  # uvicorn's own log set-up writes the access log on stdout
            stderr=subprocess.STDOUT,
            text=True,
        )
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
            return process, port, log
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise AssertionError(log.read_text(encoding="utf-8")) from None
            time.sleep(0.2)


def stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def test_no_query_string_secret_reaches_the_access_log(tmp_path: Path) -> None:
    process, port, log = serve(tmp_path)
    try:
        httpx.get(f"http://127.0.0.1:{port}/healthz?token={SECRET}", timeout=10)
        httpx.get(f"http://127.0.0.1:{port}/readyz?access_token={SECRET}&x=1", timeout=10)
    finally:
        stop(process)
    text = log.read_text(encoding="utf-8")
    assert SECRET not in text
    assert "GET /healthz?token=***" in text  # the request is still logged, its secret masked


def test_serve_writes_json_lines_as_run_does(tmp_path: Path) -> None:
    process, port, log = serve(tmp_path, "--log-format", "json")
    try:
        httpx.get(f"http://127.0.0.1:{port}/healthz?token={SECRET}", timeout=10)
    finally:
        stop(process)
    lines = [
        json.loads(line)
        for line in log.read_text(encoding="utf-8").splitlines()
        if line.startswith("{")
    ]
    (access,) = [line for line in lines if "token=" in line["message"]]
    assert access["logger"] == "uvicorn.access"
    assert SECRET not in access["message"]


FORGED = "2026-01-01 00:00:00,000 ERROR crmbridge.daemon: forged"


def test_requests_cannot_forge_log_lines_nor_put_their_payload_in_the_log(tmp_path: Path) -> None:
    process, port, log = serve(tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        unknown = httpx.post(f"{base}/webhooks/x%0D%0A{FORGED}", content=b"{}", timeout=10)
        assert unknown.status_code == 404
        event = {
            "type": "stakeholder.created",
            "data": {"id": "1", "email": f"PAYLOAD-VALUE\r\n{FORGED}"},
        }
        misfit = httpx.post(f"{base}/webhooks/hook", json=event, timeout=10)
        assert misfit.status_code == 422
        assert "PAYLOAD-VALUE" in misfit.json()["message"]  # the sender is told why
        malformed = httpx.post(f"{base}/webhooks/hook", content=b"{PAYLOAD-VALUE", timeout=10)
        assert malformed.status_code == 400
    finally:
        stop(process)
    lines = log.read_text(encoding="utf-8").splitlines()
    assert not [line for line in lines if line.startswith("2026-01-01")], lines
    assert "PAYLOAD-VALUE" not in "\n".join(lines)
    refused = [line for line in lines if "crmbridge.web" in line and "refused" in line]
    assert len(refused) == 3, lines
    assert all("127.0.0.1" in line for line in refused), refused
    assert "does_not_fit_mapping" in refused[1]
    assert "malformed" in refused[2]
    assert "\\r\\n" in refused[0]  # the name it was sent to, its line breaks escaped


def test_serve_outlives_a_sighup_and_says_so(tmp_path: Path) -> None:
    # a closed terminal or `systemctl kill -s HUP` must not end the webhook endpoint
    process, port, log = serve(tmp_path)
    try:
        process.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert process.poll() is None
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
    finally:
        stop(process)
    assert process.returncode == 0
    assert "SIGHUP ignored" in log.read_text(encoding="utf-8")
