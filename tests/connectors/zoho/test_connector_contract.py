"""The connector contract, against the Zoho sandbox in-process (``httpx.ASGITransport``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import httpx

from connectors.zoho import ZohoConnector, ZohoSettings
from connectors.zoho.sandbox import SandboxOptions, create_app
from crmbridge.connector import ConnectorContext
from crmbridge.testing import ConnectorContract

MAPPING = str(Path(__file__).with_name("sandbox_mapping.yaml"))
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
        ConnectorContext(mapping=MAPPING),
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
        assert result.outcome is WriteOutcome.UPDATED  # found, brought up to date
        pages = [p async for p in conn.read_changes("interactions", None)]
        calls = [r for p in pages for r in p.records if r.data["$remote"] == "Calls"]
        assert [r.external_id for r in calls] == [result.external_id]
        await conn.close()

    asyncio.run(go())
