"""``crmbridge run`` beside another process that holds a job's lease (a replica, a ``sync``)."""

from __future__ import annotations

import signal
import subprocess
from datetime import timedelta
from pathlib import Path

import httpx
from test_daemon import free_port, start, stop_all, wait_for

from crmbridge.store import open_store, upgrade

__all__ = ["stop_all"]

TOKEN = "trigger-token-" + "y" * 32


def write_config(folder: Path, url: str) -> tuple[Path, int]:
    port = free_port()
    config = folder / "crmbridge.yaml"
    config.write_text(
        f"store: {{url: '{url}'}}\n"
        "connectors:\n  hook: {type: webhook, signature: none}\n"
        "jobs:\n  hook-in: {connector: hook, entities: [stakeholders], direction: pull}\n"
        f"server: {{port: {port}, trigger_token: '{TOKEN}', lease_ttl_s: 3}}\n",
        encoding="utf-8",
    )
    return config, port


def test_what_is_asked_for_while_the_job_runs_elsewhere_waits_or_is_refused(
    tmp_path: Path, stop_all: list[subprocess.Popen[str]]
) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    upgrade(url)
    config, port = write_config(tmp_path, url)
    store = open_store(url)
    # `crmbridge sync hook-in` runs in another terminal
    assert store.try_acquire_lease("job:hook-in", "ops-1:4242", timedelta(minutes=5))
    daemon = start(config)
    stop_all.append(daemon)
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: "Uvicorn running" in (tmp_path / "run.log").read_text(encoding="utf-8"))

    asked = httpx.post(
        f"{base}/jobs/hook-in/run", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    )
    assert asked.status_code == 409, asked.text
    assert asked.json()["error"] == "running_elsewhere"
    assert "ops-1:4242" in asked.json()["message"]

    event = {
        "type": "stakeholder.created",
        "data": {"id": "p-1", "full_name": "Zoë Müller", "email": "zoe@example.com"},
    }
    accepted = httpx.post(f"{base}/webhooks/hook", json=event, timeout=10)
    assert accepted.status_code == 202, accepted.text
    (run_id,) = accepted.json()["run_ids"]
    assert httpx.get(f"{base}/runs/{run_id}", timeout=10).json()["status"] == "running"
    assert store.release_lease("job:hook-in", "ops-1:4242")
    # the job has no schedule: only the waiting run can merge the event
    wait_for(lambda: store.count_records("stakeholders") == 1)
    run = store.get_run(run_id)
    assert run is not None
    assert run.status == "succeeded"

    daemon.send_signal(signal.SIGTERM)
    daemon.wait(timeout=30)
    assert daemon.returncode == 0
    store.close()
