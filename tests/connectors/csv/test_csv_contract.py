"""The CSV connector passes the contract every connector passes."""

from __future__ import annotations

import asyncio
import itertools
import threading
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


def test_an_interrupted_read_closes_its_pages_only_after_the_step_in_its_thread() -> None:
    # the step reads the snapshot's SQLite file, which the connector closes next: closing it
    # under a running statement crashed the process on Ctrl-C
    from connectors.csv.connector import _in_threads

    started, release = threading.Event(), threading.Event()
    seen: list[str] = []

    class Pages:
        def __iter__(self) -> Pages:
            return self

        def __next__(self) -> int:
            started.set()
            release.wait(5)
            seen.append("step done")
            return 1

        def close(self) -> None:
            seen.append("closed")

    async def read() -> None:
        async for _ in _in_threads(Pages()):
            pass

    async def interrupt() -> None:
        task = asyncio.create_task(read())
        await asyncio.to_thread(started.wait, 5)
        task.cancel()
        await asyncio.sleep(0.05)
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(interrupt())
    assert seen == ["step done", "closed"]
