"""The connector contract, against the Fxiaoke sandbox in-process (``httpx.ASGITransport``)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import httpx

from connectors.fxiaoke import FxiaokeConnector, FxiaokeSettings
from connectors.fxiaoke.reads import lookup
from connectors.fxiaoke.sandbox import SandboxOptions, create_app
from crmbridge.connector import ConnectorContext, WriteOp, WriteOutcome, WriteRequest
from crmbridge.testing import ConnectorContract

from .sandbox_support import ADMIN_ID, ADMIN_OPEN_USER_ID, APP, BASE

MAPPING = str(Path(__file__).with_name("sandbox_mapping.yaml"))


def sandbox_connector(auth: str = "current", faults: str = "", **extra: Any) -> FxiaokeConnector:
    """A connector over a fresh in-process sandbox."""
    app = create_app(SandboxOptions(faults=faults))
    settings = FxiaokeSettings(
        base_url=BASE,
        app_id=APP["appId"],
        app_secret=APP["appSecret"],
        permanent_code=APP["permanentCode"],
        user_id=ADMIN_ID if auth == "current" else ADMIN_OPEN_USER_ID,
        auth=auth,
        requirement_change_object="RequirementChange__c",
        deletions_scan_every_s=0,
        backoff_s=0,
        **extra,
    )
    return FxiaokeConnector(
        "fxiaoke",
        settings,
        ConnectorContext(mapping=MAPPING),
        transport=httpx.ASGITransport(app=app),
    )


class TestFxiaokeStakeholders(ConnectorContract):
    entity: ClassVar[str] = "stakeholders"

    def new_connector(self) -> FxiaokeConnector:
        return sandbox_connector()

    def sample(self, i: int) -> dict[str, Any]:
        return {"name": f"陈静{i}", "email": f"chen{i}@example.com", "stakeholder_type__c": "1"}


class TestFxiaokeStakeholdersLegacyAuth(TestFxiaokeStakeholders):
    def new_connector(self) -> FxiaokeConnector:
        return sandbox_connector("legacy")


class TestFxiaokeOrganizations(ConnectorContract):
    entity: ClassVar[str] = "organizations"

    def new_connector(self) -> FxiaokeConnector:
        return sandbox_connector()

    def sample(self, i: int) -> dict[str, Any]:
        return {"name": f"分析机器有限公司{i}", "tel": "010-12345678"}


class TestFxiaokeInteractions(ConnectorContract):
    entity: ClassVar[str] = "interactions"

    def new_connector(self) -> FxiaokeConnector:
        return sandbox_connector()

    def sample(self, i: int) -> dict[str, Any]:
        return {"name": f"回访 {i}", "active_record_content": "谈了续约", "active_record_type": "1"}


class TestFxiaokeRequirementChanges(ConnectorContract):
    """The custom object: every call on the /cgi/crm/custom/v2 paths."""

    entity: ClassVar[str] = "requirement_changes"

    def new_connector(self) -> FxiaokeConnector:
        return sandbox_connector()

    def sample(self, i: int) -> dict[str, Any]:
        return {"name": f"变更 {i}", "change_status__c": "identified", "priority__c": "2"}


def test_a_replayed_create_adopts_the_record_and_keeps_a_person_s_edit() -> None:
    conn = sandbox_connector()
    create = WriteRequest("k1", WriteOp.CREATE, {"name": "陈静", "job_title": "分析师"})

    async def go() -> None:
        await conn.open()
        (first,) = await conn.write("stakeholders", [create])
        (again,) = await conn.write("stakeholders", [replace(create, resent=True)])
        pages = [p async for p in conn.read_changes("stakeholders", None)]
        await conn.close()
        assert (again.outcome, again.code) == (WriteOutcome.CREATED, "ALREADY_CREATED")
        assert again.external_id == first.external_id
        assert [r.external_id for p in pages for r in p.records] == [first.external_id]

    asyncio.run(go())


def test_an_owner_change_goes_through_change_owner() -> None:
    conn = sandbox_connector()

    calls = conn.client.calls

    async def go() -> None:
        await conn.open()
        (made,) = await conn.write(
            "stakeholders", [WriteRequest("k", WriteOp.CREATE, {"name": "王伟"})]
        )
        update = WriteRequest(
            "k",
            WriteOp.UPDATE,
            {"job_title": "总监", "owner": "1001"},
            external_id=made.external_id,
        )
        (done,) = await conn.write("stakeholders", [update])
        (record,) = await conn.fetch("stakeholders", [str(made.external_id)])
        (row,) = await lookup(conn.client, "ContactObj", "_id", [str(made.external_id)], ["owner"])
        await conn.close()
        assert done.outcome is WriteOutcome.UPDATED, done
        assert record.data["job_title"] == "总监"
        assert row["owner"] == ["1001"]
        changes = [c for c in calls if c.endswith("/changeOwner")]
        assert changes == ["/cgi/crm/v2/data/changeOwner"]

    asyncio.run(go())
