"""Shared pieces of the CSV connector tests: connectors over a folder, files, full reads."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from connectors.csv import CsvConnector, CsvSettings
from crmbridge.connector import ConnectorContext, Cursor, Page, WriteRequest, WriteResult


def connector(folder: Path, name: str = "files", **settings: Any) -> CsvConnector:
    """A CSV connector over ``folder`` with the shipped mapping."""
    return CsvConnector(
        name, CsvSettings(directory=str(folder), **settings), ConnectorContext(phone_region="CN")
    )


def write_file(path: Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` as the bytes a spreadsheet would save (no newline translation)."""
    path.write_bytes(text.encode(encoding))
    return path


def pull(remote: CsvConnector, entity: str, cursor: Cursor | None = None) -> list[Page]:
    """Every page of one read."""

    async def read() -> list[Page]:
        return [page async for page in remote.read_changes(entity, cursor)]

    return asyncio.run(read())


def last_cursor(pages: list[Page]) -> Cursor | None:
    """The cursor of a read (that of its last page)."""
    return pages[-1].cursor if pages else None


def records(pages: list[Page]) -> dict[str, dict[str, Any]]:
    """The records of a read by external id."""
    return {r.external_id: dict(r.data) for p in pages for r in p.records}


def deleted(pages: list[Page]) -> list[str]:
    """The deletions of a read."""
    return [d.external_id for p in pages for d in p.deletions]


def push(remote: CsvConnector, entity: str, *requests: WriteRequest) -> dict[str, WriteResult]:
    """Write one batch; the results by key."""
    results = asyncio.run(remote.write(entity, list(requests)))
    return {r.key: r for r in results}


def exchanges_names(folder: Path) -> bool:
    """Whether the file system of ``folder`` swaps two names atomically (see ``connectors.csv.swap``)."""
    from connectors.csv.swap import exchange

    first, second = folder / ".probe-a", folder / ".probe-b"
    first.write_text("a")
    second.write_text("b")
    try:
        return exchange(first, second) and first.read_text() == "b"
    finally:
        first.unlink()
        second.unlink()
