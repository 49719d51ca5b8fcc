"""The connector contract, against the Zoho sandbox in-process (``httpx.ASGITransport``)."""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from connectors.zoho import ZohoConnector, ZohoSettings
from connectors.zoho.sandbox import SandboxOptions, create_app
from crmbridge.connector import ConnectorContext
from crmbridge.testing import ConnectorContract

BASE = "http://zoho.sandbox"


def sandbox_connector(faults: str = "", **extra: Any) -> ZohoConnector:
    """A connector over a fresh in-process sandbox."""
    app = create_app(SandboxOptions(faults=faults))
    settings = ZohoSettings(
        client_id="1000.SANDBOXCLIENT",
        client_secret="sandbox-secret",
        refresh_token="1000.sandbox.refresh",
        accounts_url=BASE,
        api_url=BASE,
        **extra,
    )
    return ZohoConnector(
        "zoho",
        settings,
        ConnectorContext(),
        transport=httpx.ASGITransport(app=app),
    )


class TestZohoStakeholders(ConnectorContract):
    entity: ClassVar[str] = "stakeholders"

    def new_connector(self) -> ZohoConnector:
        return sandbox_connector()

    def sample(self, i: int) -> dict[str, Any]:
        return {
            "First_Name": f"Ada{i}",
            "Last_Name": f"Lovelace{i}",
            "Email": f"ada{i}@example.com",
        }


class TestZohoInteractions(ConnectorContract):
    """Calls have no upsert: replays are caught by the unique crmbridge id."""

    entity: ClassVar[str] = "interactions"

    def new_connector(self) -> ZohoConnector:
        return sandbox_connector()

    def sample(self, i: int) -> dict[str, Any]:
        return {
            "$remote": "Calls",
            "Subject": f"Call {i}",
            "Call_Type": "Outbound",
            "Call_Start_Time": "2026-01-05T09:00:00+00:00",
            "Call_Duration": "05:00",
        }


class TestZohoRequirementChangesByCoql(ConnectorContract):
    entity: ClassVar[str] = "requirement_changes"

    def new_connector(self) -> ZohoConnector:
        return sandbox_connector(read_mode="coql")

    def sample(self, i: int) -> dict[str, Any]:
        return {"Name": f"Change {i}", "Status": "Identified"}


def test_an_unanswered_insert_is_looked_up_not_sent_twice() -> None:
    """Calls have no upsert: the answer to the insert is lost, the retry finds the record by COQL."""
    import asyncio

    from crmbridge.connector import WriteOp, WriteOutcome, WriteRequest

    # calls 1-7 read field metadata; call 8 is the insert, applied and then its answer dropped
    conn = sandbox_connector("reset:at=8@after@write", backoff_s=0)

    async def go() -> None:
        await conn.open()
        sample = TestZohoInteractions().sample(1)
        (result,) = await conn.write("interactions", [WriteRequest("k1", WriteOp.CREATE, sample)])
        # found, and adopted: written once only
        assert (result.outcome, result.code) == (WriteOutcome.CREATED, "ALREADY_CREATED")
        pages = [p async for p in conn.read_changes("interactions", None)]
        calls = [r for p in pages for r in p.records if r.data["$remote"] == "Calls"]
        assert [r.external_id for r in calls] == [result.external_id]
        await conn.close()

    asyncio.run(go())


def test_a_replayed_contact_create_adopts_the_record_and_keeps_a_person_s_edit() -> None:
    """Found by the fault drill: an upsert replayed after a crash undid a Zoho user's edit."""
    import asyncio
    from dataclasses import replace

    from crmbridge.connector import WriteOp, WriteOutcome, WriteRequest

    app = create_app(SandboxOptions(faults=""))
    settings = ZohoSettings(
        client_id="1000.SANDBOXCLIENT",
        client_secret="sandbox-secret",
        refresh_token="1000.sandbox.refresh",
        accounts_url=BASE,
        api_url=BASE,
        backoff_s=0,
    )
    transport = httpx.ASGITransport(app=app)
    conn = ZohoConnector("zoho", settings, ConnectorContext(), transport=transport)
    data = {"First_Name": "Ada", "Last_Name": "Lovelace", "Email": "ada@example.com"}
    create = WriteRequest("k1", WriteOp.CREATE, {**data, "Title": "Analyst"})

    async def go() -> None:
        await conn.open()
        (first,) = await conn.write("stakeholders", [create])
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as person:
            edit = {"data": [{"id": first.external_id, "Title": "Countess"}]}
            (await person.post("/__sandbox/records/Contacts", json=edit)).raise_for_status()
            # the engine replays the outbox batch whose answer it never saw
            (again,) = await conn.write("stakeholders", [replace(create, resent=True)])
            rows = (await person.get("/__sandbox/records/Contacts")).json()["data"]
        await conn.close()
        assert (again.outcome, again.external_id) == (WriteOutcome.CREATED, first.external_id)
        assert again.code == "ALREADY_CREATED"
        assert [(r["id"], r["Title"]) for r in rows] == [(first.external_id, "Countess")]

    asyncio.run(go())


def test_an_unanswered_upsert_is_adopted_not_sent_again() -> None:
    """Every write is applied and its answer lost: the one record is found and adopted."""
    import asyncio

    from crmbridge.connector import WriteOp, WriteOutcome, WriteRequest

    conn = sandbox_connector("reset:1@after@write", backoff_s=0)

    async def go() -> None:
        await conn.open()
        sample = TestZohoStakeholders().sample(1)
        (result,) = await conn.write("stakeholders", [WriteRequest("k1", WriteOp.CREATE, sample)])
        assert (result.outcome, result.code) == (WriteOutcome.CREATED, "ALREADY_CREATED")
        pages = [p async for p in conn.read_changes("stakeholders", None)]
        assert [r.external_id for p in pages for r in p.records] == [result.external_id]
        await conn.close()

    asyncio.run(go())
