"""End to end: the sync engine between a SQLite hub and the Fxiaoke sandbox over real HTTP."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.fxiaoke import FxiaokeConnector, FxiaokeSettings
from connectors.fxiaoke.sandbox import SandboxServer
from crmbridge.connector import ConnectorContext
from crmbridge.mapping import load_connector_mapping
from crmbridge.model import content_hash
from crmbridge.store import RecordWrite, Store, open_store
from crmbridge.sync.job import SyncJob
from crmbridge.sync.runner import RunReport, run_job

from .sandbox_support import ADMIN_ID, APP

MAPPING = str(Path(__file__).with_name("sandbox_mapping.yaml"))
ENTITIES = ("organizations", "stakeholders")


def connector(base: str) -> FxiaokeConnector:
    settings = FxiaokeSettings(
        base_url=base,
        app_id=APP["appId"],
        app_secret=APP["appSecret"],
        permanent_code=APP["permanentCode"],
        user_id=ADMIN_ID,
        requirement_change_object="RequirementChange__c",
        deletions_scan_every_s=0,
        backoff_s=0.05,
        max_backoff_s=0.5,
        max_retries=6,
        timeout_s=10,
    )
    return FxiaokeConnector("fxiaoke", settings, ConnectorContext(mapping=MAPPING))


def sync(store: Store, base: str, **job: Any) -> RunReport:
    compiled = load_connector_mapping("fxiaoke", "fxiaoke", MAPPING)
    mappers = {e: compiled.entity(e) for e in ENTITIES}
    spec = SyncJob(name="fxiaoke-sync", connector="fxiaoke", entities=ENTITIES, **job)
    return asyncio.run(run_job(store, spec, connector(base), mappers))


def seed_hub(store: Store, people: int = 30) -> None:
    org = {"name": "分析机器有限公司", "phone": "+861062345678"}
    (made,) = store.upsert_records("organizations", [RecordWrite(org, content_hash(org))])
    rows = []
    for i in range(people):
        data = {
            "full_name": f"陈静{i}",
            "email": f"chen{i}@engines.example",
            "organization_id": made.id,
        }
        rows.append(RecordWrite(data, content_hash(data)))
    store.upsert_records("stakeholders", rows)


def remote(base: str, api_name: str) -> list[dict[str, Any]]:
    body = httpx.get(f"{base}/__sandbox/records/{api_name}", params={"convention": "current"})
    payload = body.json()
    return list(payload["dataList"])


@pytest.fixture
def hub(tmp_path: Path) -> Store:
    return open_store(f"sqlite:///{tmp_path / 'hub.db'}")


def test_push_echo_a_remote_edit_and_a_remote_deletion(
    hub: Store, fxiaoke_sandbox: SandboxServer
) -> None:
    seed_hub(hub)
    base = fxiaoke_sandbox.base_url
    first = sync(hub, base)
    assert first.status == "succeeded", first.error
    assert first.counts["pushed"] == 31
    contacts = [c for c in remote(base, "ContactObj") if c.get("life_status") != "invalid"]
    assert len(contacts) == 30
    (account,) = remote(base, "AccountObj")
    assert {c["account_id"] for c in contacts} == {account["_id"]}

    back = sync(hub, base)
    assert back.status == "succeeded", back.error
    assert back.counts["pushed"] == back.counts["created"] == 0
    quiet = sync(hub, base)
    assert quiet.status == "succeeded", quiet.error
    assert quiet.counts["pushed"] == quiet.counts["created"] == quiet.counts["updated"] == 0

    target = contacts[0]
    httpx.post(
        f"{base}/__sandbox/records/ContactObj",
        json={"data": [{"_id": target["_id"], "job_title": "首席分析师"}]},
    ).raise_for_status()
    edit = sync(hub, base)
    assert edit.status == "succeeded", edit.error
    assert edit.counts["updated"] == 1
    titles = [r.data.get("title") for r in hub.iter_records("stakeholders")]
    assert titles.count("首席分析师") == 1

    gone = contacts[1]["_id"]
    httpx.delete(f"{base}/__sandbox/records/ContactObj", params={"ids": gone}).raise_for_status()
    deleted = sync(hub, base, deletes="propagate")
    assert deleted.status == "succeeded", deleted.error
    assert deleted.counts["deleted"] == 1
    live = [r for r in hub.iter_records("stakeholders") if not getattr(r, "deleted", False)]
    assert len(live) == 29


@pytest.mark.slow
def test_faults_end_without_duplicates(
    hub: Store, fxiaoke_sandbox_factory: Callable[..., SandboxServer]
) -> None:
    seed_hub(hub)
    server = fxiaoke_sandbox_factory(seed=7)
    base = server.base_url
    assert sync(hub, base).counts["pushed"] == 31
    faults = "busy:0.1,limit:0.05,token_expiry:every=40"
    httpx.post(f"{base}/__sandbox/faults", json={"spec": faults}).raise_for_status()
    more = [
        RecordWrite(d, content_hash(d))
        for d in ({"full_name": f"王伟{i}", "email": f"wang{i}@x.example"} for i in range(20))
    ]
    hub.upsert_records("stakeholders", more)
    reports = [sync(hub, base) for _ in range(3)]
    httpx.post(f"{base}/__sandbox/faults", json={"spec": ""}).raise_for_status()
    reports.append(sync(hub, base))
    assert reports[-1].status == "succeeded", reports[-1].error
    keys = Counter(c["crmbridge_id__c"] for c in remote(base, "ContactObj"))
    assert all(n == 1 for n in keys.values()), keys.most_common(3)
    assert len(keys) == 50
