"""The in-memory connector shipped for users' tests passes the connector contract itself."""

from __future__ import annotations

from typing import Any

from crmbridge.testing import ConnectorContract, InMemoryConnector, InMemorySettings


class TestInMemoryConnector(ConnectorContract):
    entity = "stakeholders"

    def new_connector(self) -> InMemoryConnector:
        return InMemoryConnector("mem", InMemorySettings(page_size=2))

    def sample(self, i: int) -> dict[str, Any]:
        return {"full_name": f"王{i}", "email": f"p{i}@example.cn"}


class TestInMemoryConnectorByModifiedTime(TestInMemoryConnector):
    def new_connector(self) -> InMemoryConnector:
        return InMemoryConnector("mem", InMemorySettings(page_size=2, cursor="modified_time"))
