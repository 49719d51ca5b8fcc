"""Two processes appending to one file: every row each was told it created is in the file once."""

from __future__ import annotations

import asyncio
import multiprocessing
from pathlib import Path

from csv_support import connector, pull, records, write_file

from crmbridge.connector import WriteOp, WriteOutcome, WriteRequest
from crmbridge.errors import TransientError

BATCHES = 40
ROWS = 25


def _writer(folder: str, name: str) -> int:
    """Append BATCHES batches of ROWS creates as connector ``name``; how many it was told made."""
    remote = connector(Path(folder), name=name)
    made = 0
    for batch in range(BATCHES):
        requests = [
            WriteRequest(
                f"{name}-{batch}-{i}",
                WriteOp.CREATE,
                {"Record Id": f"{name}-{batch}-{i}", "Full Name": f"{name} {batch} {i}"},
            )
            for i in range(ROWS)
        ]
        while True:
            try:
                results = asyncio.run(remote.write("stakeholders", requests))
            except TransientError:
                continue  # the file changed under it: sent again, as the engine does
            break
        made += sum(r.outcome is WriteOutcome.CREATED for r in results)
    asyncio.run(remote.close())
    return made


def test_two_processes_appending_to_one_file_lose_no_row(tmp_path: Path) -> None:
    write_file(tmp_path / "stakeholders.csv", "Record Id,Full Name\r\n")
    spawn = multiprocessing.get_context("spawn")
    with spawn.Pool(2) as pool:
        made = pool.starmap(_writer, [(str(tmp_path), "one"), (str(tmp_path), "two")])
    assert made == [BATCHES * ROWS, BATCHES * ROWS]
    got = records(pull(connector(tmp_path, name="reader"), "stakeholders"))
    assert len(got) == 2 * BATCHES * ROWS
