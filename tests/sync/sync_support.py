"""Shared pieces of the sync tests: a small job over the in-memory connector."""

from __future__ import annotations

import asyncio
from typing import Any

from crmbridge.connector import Connector
from crmbridge.model import content_hash
from crmbridge.store import RecordWrite, Store
from crmbridge.sync.job import SyncJob
from crmbridge.sync.merge import ConflictPolicy, Policy
from crmbridge.sync.runner import RunReport, run_job
from crmbridge.testing import FakeClock, InMemoryConnector, InMemorySettings, PassThroughMapper

PEOPLE = ["full_name", "email", "mobile", "title", "organization_id"]
ORGS = ["name", "industry"]


def mappers() -> dict[str, Any]:
    return {
        "organizations": PassThroughMapper("organizations", ORGS, identity=["name"]),
        "stakeholders": PassThroughMapper("stakeholders", PEOPLE),
    }


def job(**kwargs: Any) -> SyncJob:
    defaults: dict[str, Any] = {
        "name": "crm-sync",
        "connector": "crm",
        "entities": ("organizations", "stakeholders"),
        "conflicts": ConflictPolicy(Policy.MANUAL),
    }
    return SyncJob(**{**defaults, **kwargs})


def sync(store: Store, remote: Connector, clock: FakeClock, **kwargs: Any) -> RunReport:
    dry_run = kwargs.pop("dry_run", False)
    return asyncio.run(run_job(store, job(**kwargs), remote, mappers(), dry_run=dry_run, now=clock))


def remote_crm(clock: FakeClock, **settings: Any) -> InMemoryConnector:
    return InMemoryConnector("crm", InMemorySettings(**settings), clock=clock)


def hub_add(store: Store, entity: str, data: dict[str, Any]) -> str:
    (result,) = store.upsert_records(entity, [RecordWrite(data, content_hash(data))])
    return result.id


def live(store: Store, entity: str) -> list[dict[str, Any]]:
    return [r.data for r in store.iter_records(entity)]
