"""End to end: the sync engine between a SQLite hub and the Zoho sandbox over real HTTP."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.zoho import ZohoConnector, ZohoSettings
from connectors.zoho.sandbox import SandboxOptions, SandboxServer
from crmbridge.connector import ConnectorContext
from crmbridge.mapping import load_connector_mapping
from crmbridge.model import content_hash
from crmbridge.store import RecordWrite, Store, open_store
from crmbridge.sync.job import SyncJob
from crmbridge.sync.runner import RunReport, run_job

ENTITIES = ("organizations", "stakeholders")


def connector(base: str) -> ZohoConnector:
    settings = ZohoSettings(
        client_id="1000.SANDBOXCLIENT",
        client_secret="sandbox-secret",
        refresh_token="1000.sandbox.refresh",
        accounts_url=base,
        api_url=base,
        backoff_s=0.05,
        max_backoff_s=0.5,
        max_retries=6,
        timeout_s=10,
    )
    return ZohoConnector("zoho", settings, ConnectorContext())


def sync(store: Store, base: str, entities: tuple[str, ...] = ENTITIES) -> RunReport:
    compiled = load_connector_mapping("zoho", "zoho", None)
    mappers = {e: compiled.entity(e) for e in entities}
    job = SyncJob(name="zoho-sync", connector="zoho", entities=entities)
    return asyncio.run(run_job(store, job, connector(base), mappers))


def seed_hub(store: Store, people: int = 50) -> None:
    org = {"name": "Analytical Engines Ltd", "industry": "Technology"}
    (made,) = store.upsert_records("organizations", [RecordWrite(org, content_hash(org))])
    rows = []
    for i in range(people):
        data = {
            "full_name": f"Ada Lovelace{i}",
            "email": f"ada{i}@engines.example",
            "organization_id": made.id,
        }
        rows.append(RecordWrite(data, content_hash(data)))
    store.upsert_records("stakeholders", rows)


def remote(base: str, module: str) -> list[dict[str, Any]]:
    body = httpx.get(f"{base}/__sandbox/records/{module}").json()
    return list(body.get("data", body) if isinstance(body, dict) else body)


@pytest.fixture
def hub(tmp_path: Path) -> Store:
    return open_store(f"sqlite:///{tmp_path / 'hub.db'}")


def test_push_echo_and_a_remote_edit(hub: Store) -> None:
    seed_hub(hub)
    with SandboxServer(SandboxOptions(port=0)) as server:
        base = server.base_url
        first = sync(hub, base)
        assert first.status == "succeeded", first.error
        assert first.counts["pushed"] == 51
        contacts = remote(base, "Contacts")
        assert len(contacts) == 50
        (account,) = remote(base, "Accounts")
        assert {c["Account_Name"]["id"] for c in contacts} == {account["id"]}

        # coming back, our writes are echoes: nothing is pushed again; the hub only learns
        # the pull-only fields Zoho fills in (owner, given and family name) ...
        back = sync(hub, base)
        assert back.status == "succeeded", back.error
        assert back.counts["pushed"] == back.counts["created"] == 0
        # ... and from then on a quiet run changes nothing on either side
        echo = sync(hub, base)
        assert echo.status == "succeeded", echo.error
        assert echo.counts["pushed"] == echo.counts["created"] == echo.counts["updated"] == 0
        assert echo.counts["unchanged"] == 51

        target = contacts[0]
        httpx.post(
            f"{base}/__sandbox/records/Contacts",
            json={"data": [{"id": target["id"], "Title": "Chief Analyst"}]},
        ).raise_for_status()
        edit = sync(hub, base)
        assert edit.status == "succeeded", edit.error
        assert edit.counts["updated"] == 1
        assert edit.counts["pushed"] == 0
        titles = [r.data.get("title") for r in hub.iter_records("stakeholders")]
        assert titles.count("Chief Analyst") == 1


@pytest.mark.slow
def test_faults_end_without_duplicates(hub: Store) -> None:
    seed_hub(hub)
    faults = "5xx:0.1,reset:0.05@after@write,partial:0.1,token_expiry:every=50"
    with SandboxServer(SandboxOptions(port=0, seed=7)) as server:
        base = server.base_url
        # the account first, so a record-level fault on it does not hold back every contact
        assert sync(hub, base, ("organizations",)).counts["pushed"] == 1
        httpx.post(f"{base}/__sandbox/faults", json={"spec": faults}).raise_for_status()
        reports = [sync(hub, base) for _ in range(5)]
        fired = httpx.get(f"{base}/__sandbox/state").json()["faults"]["fired"]
        httpx.post(f"{base}/__sandbox/faults", json={"spec": ""}).raise_for_status()
        reports.append(sync(hub, base))
        assert reports[-1].status == "succeeded", reports[-1].error
        contacts = remote(base, "Contacts")
        keys = Counter(c["crmbridge_id"] for c in contacts)
        assert all(n == 1 for n in keys.values()), keys.most_common(3)
        # records Zoho rejected (partial faults) stay parked in the hub, never sent twice
        assert 40 <= len(contacts) <= 50
        assert len(remote(base, "Accounts")) == 1
        ids = [r.id for r in hub.iter_records("stakeholders")]
        links = hub.get_links_by_record_ids("zoho", "stakeholders", ids)
        linked = {link.external_id for link in links.values()}
        assert linked == {c["id"] for c in contacts}
        assert fired.get("partial"), fired
        assert fired.get("5xx") or fired.get("reset"), fired
