"""Runs in child processes: reports come back, runs count as the service's, failures are clear."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from crmbridge.config import load_config
from crmbridge.store import open_store, upgrade
from crmbridge.sync_processes import ChildRunFailed, SyncProcesses

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "data"
CSV_MAPPING = Path(__file__).resolve().parents[1] / "mappings" / "csv.yaml"


def _config(folder: Path, store_url: str) -> Path:
    shutil.copytree(EXAMPLES, folder / "data")
    shutil.copy(CSV_MAPPING, folder / "files.yaml")
    path = folder / "crmbridge.yaml"
    path.write_text(
        f"store: {{url: '{store_url}'}}\n"
        "defaults: {phone_region: CN, timezone: Asia/Shanghai}\n"
        "connectors:\n  files: {type: csv, directory: data, mapping: files.yaml}\n"
        "jobs:\n  files-in: {connector: files, direction: pull}\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def hub_url(tmp_path: Path, store_url: str) -> str:
    upgrade(store_url)
    return store_url


def test_a_run_in_a_child_reports_back_and_counts_as_the_service_s(
    tmp_path: Path, hub_url: str
) -> None:
    children = SyncProcesses(load_config(_config(tmp_path, hub_url), {}))
    try:
        first = asyncio.run(children("files-in", "run-one"))
        (pid,) = [c.process.pid for c in children._idle]
        second = asyncio.run(children("files-in", "run-two"))
        (again,) = [c.process.pid for c in children._idle]
    finally:
        children.close()
    assert first.status == "succeeded"
    assert first.by_entity["stakeholders"]["created"] == 296
    assert second.status == "succeeded"
    assert second.counts["created"] == second.counts["updated"] == 0
    assert again == pid != os.getpid()  # one child, used again
    store = open_store(hub_url)
    try:
        runs = {r.id: r for r in store.list_runs("files-in")}
        assert runs["run-one"].pid == runs["run-two"].pid == os.getpid()
        assert store.count_records("stakeholders") == 296
    finally:
        store.close()


def test_a_job_that_cannot_start_fails_with_its_reason_and_the_child_serves_on(
    tmp_path: Path, hub_url: str
) -> None:
    children = SyncProcesses(load_config(_config(tmp_path, hub_url), {}))
    mapping = (tmp_path / "files.yaml").read_bytes()
    (tmp_path / "files.yaml").unlink()  # gone after the service started
    try:
        with pytest.raises(ChildRunFailed, match=r"files\.yaml"):
            asyncio.run(children("files-in", "bad"))
        (same,) = [c.process.pid for c in children._idle]  # kept: it is well
        (tmp_path / "files.yaml").write_bytes(mapping)
        assert asyncio.run(children("files-in", "good")).status == "succeeded"
        assert [c.process.pid for c in children._idle] == [same]
    finally:
        children.close()


def test_a_child_killed_mid_run_fails_that_run_and_the_next_gets_a_new_child(
    tmp_path: Path, hub_url: str
) -> None:
    children = SyncProcesses(load_config(_config(tmp_path, hub_url), {}))

    async def killed() -> None:
        run = asyncio.ensure_future(children("files-in", "doomed"))
        for _ in range(1000):
            if children._busy:
                break
            await asyncio.sleep(0.01)
        (child,) = children._busy
        child.process.kill()
        await run

    try:
        with pytest.raises(ChildRunFailed, match="ended without a report"):
            asyncio.run(killed())
        assert not children._busy
        assert not children._idle
        assert asyncio.run(children("files-in", "after")).status == "succeeded"
    finally:
        children.close()
    assert not [c for c in children._idle if c.alive()]


def test_only_client_server_stores_run_in_children() -> None:
    assert SyncProcesses.suit("postgresql+psycopg://db/hub")
    assert not SyncProcesses.suit("sqlite:///hub.db")


class _Counted:
    def __init__(self, seen: list[tuple[str, str]], connector: str) -> None:
        self.seen = seen
        self.connector = connector

    def retried(self) -> None:
        self.seen.append((self.connector, "retried"))

    def rate_limited(self) -> None:
        self.seen.append((self.connector, "rate_limited"))


def test_a_child_s_retries_and_429s_reach_the_service(tmp_path: Path, hub_url: str) -> None:
    from connectors.zoho.sandbox import SandboxOptions, SandboxServer
    from crmbridge.model import content_hash
    from crmbridge.store import RecordWrite

    store = open_store(hub_url)
    person = {"full_name": "Ada Lovelace", "email": "ada@engines.example"}
    store.upsert_records("stakeholders", [RecordWrite(person, content_hash(person))])
    store.close()
    seen: list[tuple[str, str]] = []
    with SandboxServer(SandboxOptions(port=0, faults="429:at=1+2")) as sandbox:
        config = tmp_path / "crmbridge.yaml"
        config.write_text(
            f"store: {{url: '{hub_url}'}}\n"
            "connectors:\n"
            "  crm:\n"
            "    type: zoho\n"
            "    client_id: 1000.SANDBOXCLIENT\n"
            "    client_secret: sandbox-secret\n"
            "    refresh_token: 1000.sandbox.refresh\n"
            f"    accounts_url: {sandbox.base_url}\n"
            f"    api_url: {sandbox.base_url}\n"
            "jobs:\n"
            "  crm-out: {connector: crm, entities: [stakeholders], direction: push}\n",
            encoding="utf-8",
        )
        children = SyncProcesses(
            load_config(config, {}), api_events=lambda name: _Counted(seen, name)
        )
        try:
            report = asyncio.run(children("crm-out", "pushed"))
        finally:
            children.close()
    assert report.status == "succeeded"
    assert report.counts["pushed"] == 1
    assert seen.count(("crm", "rate_limited")) == 2
    assert seen.count(("crm", "retried")) >= 2


def test_a_prestarted_child_takes_the_first_run(tmp_path: Path, hub_url: str) -> None:
    children = SyncProcesses(load_config(_config(tmp_path, hub_url), {}))
    try:
        children.prestart()
        (ready,) = [c.process.pid for c in children._idle]
        assert asyncio.run(children("files-in", "first")).status == "succeeded"
        assert [c.process.pid for c in children._idle] == [ready]
    finally:
        children.close()


def test_an_idle_child_leaves_at_once_on_sigterm(tmp_path: Path, hub_url: str) -> None:
    import signal

    children = SyncProcesses(load_config(_config(tmp_path, hub_url), {}))
    try:
        children.prestart()
        (child,) = children._idle
        assert child.conn.poll(60)
        assert child.conn.recv() == ("ready",)  # started up, waiting for a run
        os.kill(child.process.pid, signal.SIGTERM)
        child.process.join(10)
        assert child.process.exitcode == 0
        assert asyncio.run(children("files-in", "after")).status == "succeeded"  # a new child
    finally:
        children.close()


def test_the_service_asks_its_children_to_stop_when_it_shuts_down(
    tmp_path: Path, hub_url: str
) -> None:
    from crmbridge.service import Bridge
    from crmbridge.web import create_app

    config = load_config(_config(tmp_path, hub_url), {})
    children = SyncProcesses(config)
    bridge = Bridge(config)
    app = create_app(bridge, sync=children)

    async def serve_then_stop() -> None:
        async with app.router.lifespan_context(app):
            assert not children._stop.is_set()

    try:
        asyncio.run(serve_then_stop())
        assert children._stop.is_set()  # runs going on end at their next batch boundary
    finally:
        children.close()
        bridge.close()
