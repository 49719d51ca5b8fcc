"""``crmbridge run`` as ops run it: real processes, signals, leases and logs."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from crmbridge.logs import JsonFormatter, RedactingFilter, redact
from crmbridge.store import open_store

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "data"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_config(folder: Path, store_url: str, *, every: str = "1s", ttl: float = 60) -> Path:
    shutil.copytree(EXAMPLES, folder / "data")
    config = folder / "crmbridge.yaml"
    config.write_text(
        f"store: {{url: '{store_url}'}}\n"
        "defaults: {phone_region: CN, timezone: Asia/Shanghai}\n"
        "connectors:\n  files: {type: csv, directory: data}\n"
        f"jobs:\n  files-sync: {{connector: files, direction: pull, schedule: {{every: {every}}}}}\n"
        f"server: {{port: {free_port()}, shutdown_grace_s: 20, lease_ttl_s: {ttl}}}\n",
        encoding="utf-8",
    )
    return config


def start(config: Path, *extra: str) -> subprocess.Popen[str]:
    """A replica whose log goes to ``<config folder>/run.log``."""
    with (config.parent / "run.log").open("w", encoding="utf-8") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "crmbridge", "run", "-c", str(config), *extra],
            stdout=subprocess.DEVNULL,
            stderr=log,
            text=True,
        )


def wait_for(check: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not come true in time")
        time.sleep(0.2)


@pytest.fixture
def stop_all() -> Iterator[list[subprocess.Popen[str]]]:
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def test_sigterm_lets_the_run_finish_and_exits_zero(
    tmp_path: Path, stop_all: list[subprocess.Popen[str]]
) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    config = write_config(tmp_path, url)
    daemon = start(config, "--log-format", "json")
    stop_all.append(daemon)
    store = open_store(url)
    wait_for(lambda: any(r.status == "succeeded" for r in store.list_runs("files-sync")))
    port = int(config.read_text(encoding="utf-8").split("port: ", 1)[1].split(",", 1)[0])
    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    assert (
        'crmbridge_records_total{connector="files",entity="stakeholders",outcome="created"} 296.0'
        in metrics
    )
    assert 'crmbridge_seconds_since_last_success{job="files-sync"}' in metrics
    assert 'crmbridge_outbox_depth{job="files-sync"} 0.0' in metrics
    assert 'crmbridge_api_rate_limited_total{connector="files"} 0.0' in metrics
    # scheduled runs count too, not only those asked for over HTTP
    assert 'crmbridge_runs_total{job="files-sync",status="succeeded"}' in metrics
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(timeout=30)
    err = (tmp_path / "run.log").read_text(encoding="utf-8")
    assert daemon.returncode == 0, err
    assert not [r for r in store.list_runs("files-sync", limit=100) if r.status == "running"]
    assert store.get_lease("job:files-sync") is None or store.get_lease("job:files-sync").expires_at  # type: ignore[union-attr]
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(line.get("job") == "files-sync" and "run_id" in line for line in lines)
    assert store.count_records("stakeholders") == 296
    store.close()


def test_a_second_replica_on_one_sqlite_file_is_refused(
    tmp_path: Path, stop_all: list[subprocess.Popen[str]]
) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    config = write_config(tmp_path, url, every="1h")
    first = start(config)
    stop_all.append(first)
    store = open_store(url)
    wait_for(lambda: bool(store.list_runs("files-sync")))
    second = subprocess.run(
        [sys.executable, "-m", "crmbridge", "run", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert second.returncode == 1
    assert "SQLite serves one process" in second.stderr
    assert "Traceback" not in second.stderr
    store.close()


def status_json(config: Path) -> dict[str, dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-m", "crmbridge", "status", "-c", str(config), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return {row["job"]: row for row in json.loads(done.stdout)["jobs"]}


def test_status_and_jobs_show_the_live_scheduler_s_next_run(
    tmp_path: Path, store_url: str, stop_all: list[subprocess.Popen[str]]
) -> None:
    from crmbridge.store import upgrade

    upgrade(store_url)
    config = write_config(tmp_path, store_url, every="1h")
    daemon = start(config)
    stop_all.append(daemon)
    store = open_store(store_url)
    wait_for(lambda: any(r.status == "succeeded" for r in store.list_runs("files-sync")))
    wait_for(
        lambda: any(
            s.next_run_at is not None and s.next_run_at > r.started_at + timedelta(minutes=30)
            for s in store.list_schedules()
            for r in store.list_runs("files-sync")
        )
    )
    (published,) = store.list_schedules()
    assert published.holder.endswith(f":{daemon.pid}")
    assert published.next_run_at is not None
    live = status_json(config)["files-sync"]
    assert (live["next_run"], live["next_run_source"]) == (
        published.next_run_at.isoformat(),
        "scheduler",
    )
    port = int(config.read_text(encoding="utf-8").split("port: ", 1)[1].split(",", 1)[0])
    (row,) = httpx.get(f"http://127.0.0.1:{port}/jobs", timeout=10).json()["jobs"]
    assert (row["next_run"], row["next_run_source"]) == (live["next_run"], "scheduler")

    daemon.send_signal(signal.SIGTERM)
    daemon.wait(timeout=30)
    assert daemon.returncode == 0
    assert store.list_schedules() == []
    assert status_json(config)["files-sync"]["next_run_source"] == "config"
    store.close()


PEOPLE = 400
BATCH = 50


def write_zoho_push_config(folder: Path, store_url: str, sandbox: str) -> Path:
    """A push of the hub's stakeholders to the Zoho sandbox, one batch of 50 on the wire at a time."""
    folder.mkdir()
    config = folder / "crmbridge.yaml"
    config.write_text(
        f"store: {{url: '{store_url}'}}\n"
        "connectors:\n"
        "  crm:\n"
        "    type: zoho\n"
        "    client_id: 1000.SANDBOXCLIENT\n"
        "    client_secret: sandbox-secret\n"
        "    refresh_token: 1000.sandbox.refresh\n"
        f"    accounts_url: {sandbox}\n"
        f"    api_url: {sandbox}\n"
        "    concurrency: 1\n"
        "jobs:\n"
        "  crm-out:\n"
        "    connector: crm\n"
        "    entities: [stakeholders]\n"
        "    direction: push\n"
        f"    batch_size: {BATCH}\n"
        "    schedule: {every: 1s}\n"
        f"server: {{port: {free_port()}, shutdown_grace_s: 20, lease_ttl_s: 3}}\n",
        encoding="utf-8",
    )
    return config


@pytest.mark.postgres
def test_kill_9_mid_run_hands_the_job_to_another_replica_which_resumes(
    tmp_path: Path, postgres_url: str, stop_all: list[subprocess.Popen[str]]
) -> None:
    from connectors.zoho.sandbox import SandboxOptions, SandboxServer
    from crmbridge.model import content_hash
    from crmbridge.store import RecordWrite, upgrade

    upgrade(postgres_url)
    store = open_store(postgres_url)
    people = [
        {"full_name": f"Ada Lovelace{i}", "email": f"ada{i}@engines.example"} for i in range(PEOPLE)
    ]
    store.upsert_records("stakeholders", [RecordWrite(p, content_hash(p)) for p in people])
    # every call answers after 400 ms and one batch is on the wire at a time: a run takes
    # eight write calls, so a kill lands between its first committed batch and its last
    with SandboxServer(SandboxOptions(port=0, latency_ms=400)) as sandbox:
        configs = [
            write_zoho_push_config(tmp_path / d, postgres_url, sandbox.base_url) for d in "ab"
        ]
        replicas = [start(c) for c in configs]
        stop_all.extend(replicas)

        def pushed() -> int:
            return store.count_links("crm", "stakeholders")

        def mid_run() -> list[Any]:
            runs = [r for r in store.list_runs("crm-out", limit=50) if r.status != "skipped"]
            assert not any(r.status in ("succeeded", "failed") for r in runs), runs
            return [r for r in runs if r.status == "running"] if pushed() else []

        wait_for(lambda: bool(mid_run()))
        (running,) = mid_run()
        victim = next(p for p in replicas if p.pid == running.pid)
        survivor = next(p for p in replicas if p is not victim)
        children = _children_of(victim.pid)
        assert children, "on PostgreSQL the run goes on in a child process"
        victim.kill()
        victim.wait(timeout=10)
        # the child running the dead replica's run dies with it, so it pushes nothing more
        wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in children), 10)
        at_kill = pushed()
        assert 0 < at_kill < PEOPLE, "the kill landed mid-run, after a committed batch"
        assert store.get_run(running.id).status == "running"  # type: ignore[union-attr]

        def resumed() -> list[Any]:
            return [
                r
                for r in store.list_runs("crm-out", limit=100)
                if r.pid == survivor.pid and r.status == "succeeded" and r.counts
            ]

        wait_for(lambda: bool(resumed()), seconds=40)
        first = resumed()[-1]
        contacts = httpx.get(f"{sandbox.base_url}/__sandbox/records/Contacts", timeout=10).json()
        rows = contacts.get("data", contacts) if isinstance(contacts, dict) else contacts
        survivor.send_signal(signal.SIGTERM)
        survivor.wait(timeout=30)

    assert survivor.returncode == 0
    assert first.counts["pushed"] <= PEOPLE - at_kill + BATCH, "resumed, not started over"
    assert pushed() == PEOPLE, "nothing lost"
    assert store.list_pending_outbox(job="crm-out") == []
    assert len(rows) == PEOPLE, "nothing pushed twice"
    assert sorted(r["Email"] for r in rows) == sorted(p["email"] for p in people)
    # the survivor took over the lapsed lease and said so of the dead replica's run
    assert store.get_run(running.id).status == "interrupted"  # type: ignore[union-attr]
    store.close()


def _children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text(encoding="utf-8").rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_secrets_never_reach_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("crmbridge.test.redaction")
    handler_filter = RedactingFilter()
    record = logger.makeRecord(
        "x",
        logging.INFO,
        __file__,
        1,
        "POST %s with %s",
        (
            "https://accounts.zoho.com/oauth/v2/token?refresh_token=1000.abc&client_secret=s3cr3t",
            "Authorization: Zoho-oauthtoken 1000.tok webhook-signature: v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
        ),
        None,
    )
    handler_filter.filter(record)
    line = JsonFormatter().format(record)
    for secret in ("1000.abc", "s3cr3t", "1000.tok", "K5oZfzN95Z9UVu1"):
        assert secret not in line
    assert json.loads(line)["message"].startswith(
        "POST https://accounts.zoho.com/oauth/v2/token?refresh_token=***"
    )
    assert redact("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") == "***"
    assert os.environ.get("CRMBRIDGE_NEVER_SET") is None


def test_sighup_is_logged_and_ignored(
    tmp_path: Path, stop_all: list[subprocess.Popen[str]]
) -> None:
    # an ssh session closing, or `systemctl kill -s HUP`, must not take the service down
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    config = write_config(tmp_path, url, every="1h")
    daemon = start(config)
    stop_all.append(daemon)
    store = open_store(url)
    wait_for(lambda: any(r.status == "succeeded" for r in store.list_runs("files-sync")))
    port = int(config.read_text(encoding="utf-8").split("port: ", 1)[1].split(",", 1)[0])
    daemon.send_signal(signal.SIGHUP)
    log = tmp_path / "run.log"
    wait_for(lambda: daemon.poll() is not None or "SIGHUP" in log.read_text(encoding="utf-8"))
    assert daemon.poll() is None, daemon.returncode
    assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(timeout=30)
    err = (tmp_path / "run.log").read_text(encoding="utf-8")
    assert daemon.returncode == 0, err
    (line,) = [line for line in err.splitlines() if "SIGHUP" in line]
    assert "ignored" in line
    assert "Traceback" not in err
    store.close()


def test_a_grace_period_under_a_second_is_a_short_wait_not_a_wait_for_ever(
    tmp_path: Path, stop_all: list[subprocess.Popen[str]]
) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    config = write_config(tmp_path, url, every="1h")
    text = config.read_text(encoding="utf-8").replace(
        "shutdown_grace_s: 20", "shutdown_grace_s: 0.5"
    )
    config.write_text(text, encoding="utf-8")
    daemon = start(config)
    stop_all.append(daemon)
    port = int(text.split("port: ", 1)[1].split(",", 1)[0])
    wait_for(lambda: "Uvicorn running" in (tmp_path / "run.log").read_text(encoding="utf-8"))
    # a client that sent its headers and never the body it announced keeps its request open
    with socket.create_connection(("127.0.0.1", port), timeout=10) as stuck:
        stuck.sendall(b"POST /webhooks/files HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
    assert daemon.returncode == 0, (tmp_path / "run.log").read_text(encoding="utf-8")
