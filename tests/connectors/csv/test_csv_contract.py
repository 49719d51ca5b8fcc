"""The CSV connector passes the contract every connector passes."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from connectors.csv import CsvConnector, CsvSettings
from crmbridge.connector import ConnectorContext
from crmbridge.testing import ConnectorContract

_folders = itertools.count()


class TestCsvConnectorContract(ConnectorContract):
    entity = "stakeholders"

    @pytest.fixture(autouse=True)
    def _folder(self, tmp_path: Path) -> None:
        self.root = tmp_path

    def new_connector(self) -> CsvConnector:
        folder = self.root / f"remote-{next(_folders)}"
        return CsvConnector("contract", CsvSettings(directory=str(folder)), ConnectorContext())

    def sample(self, i: int) -> dict[str, Any]:
        return {
            "Full Name": f"测试{i}",
            "Email": f"person{i}@example.cn",
            "Mobile": f"+86138001380{i:02d}",
            "Account Name": "华为技术有限公司",
        }


class TestCsvConnectorContractOrganizations(TestCsvConnectorContract):
    entity = "organizations"

    def sample(self, i: int) -> dict[str, Any]:
        return {"Account Name": f"公司 {i}", "Industry": "telecom", "Phone": "+8675512345678"}
