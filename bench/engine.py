# ruff: noqa: E402
"""Figures for the sync engine: initial sync, a quiet re-sync and a 1% change, on SQLite.

    python bench/engine.py [--records 100000] [--store sqlite:///path.db]

Prints records/s and peak RSS for the initial sync of N stakeholders from the
in-memory connector, then the time and SQL statement count of a second sync
with nothing changed, then of a sync with 1% of the records changed.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/csv.py would shadow the standard library's csv module: keep this folder off the path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import asyncio
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event

from crmbridge.store import Store, open_store
from crmbridge.sync.job import SyncJob
from crmbridge.sync.runner import RunReport, run_job
from crmbridge.testing import InMemoryConnector, InMemorySettings, PassThroughMapper

FIELDS = ["full_name", "email", "mobile", "title", "department", "power", "interest", "tags"]
SURNAMES = "王李张刘陈杨黄赵周吴"
LEVELS = ["low", "medium", "high"]


def person(i: int) -> dict[str, Any]:
    return {
        "full_name": f"{SURNAMES[i % 10]}{i}" if i % 3 else f"Person {i}",
        "email": f"p{i}@example.cn",
        "mobile": f"+86138{i:08d}",
        "title": "工程师" if i % 2 else "Buyer",
        "department": f"D{i % 17}",
        "power": LEVELS[i % 3],
        "interest": LEVELS[(i // 3) % 3],
        "tags": ["vip"] if i % 5 == 0 else [],
    }


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class StatementCounter:
    def __init__(self, store: Store) -> None:
        self.count = 0
        event.listen(store.engine, "before_cursor_execute", self._hit)

    def _hit(self, *args: Any) -> None:
        self.count += 1


def sync(
    store: Store, crm: InMemoryConnector, counter: StatementCounter
) -> tuple[RunReport, float, int]:
    job = SyncJob("bench", "crm", ("stakeholders",), direction="both")
    mappers: dict[str, Any] = {"stakeholders": PassThroughMapper("stakeholders", FIELDS)}
    before = counter.count
    started = time.perf_counter()
    report = asyncio.run(run_job(store, job, crm, mappers))
    took = time.perf_counter() - started
    assert report.status == "succeeded", report.error
    return report, took, counter.count - before


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--store", default=None, help="store URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="crmbridge-bench-")
    url = args.store or f"sqlite:///{Path(folder) / 'hub.db'}"
    store = open_store(url)
    counter = StatementCounter(store)
    crm = InMemoryConnector("crm", InMemorySettings(page_size=1000, batch_size=1000, concurrency=1))
    for i in range(args.records):
        crm.put("stakeholders", person(i))
    rss_before = peak_rss_mb()

    report, took, statements = sync(store, crm, counter)
    n = report.counts["created"]
    print(
        f"initial sync: {n} records in {took:.1f} s = {n / took:,.0f} records/s; "
        f"{statements} SQL statements; peak RSS {peak_rss_mb():.0f} MB "
        f"(of which {rss_before:.0f} MB before the sync: Python, the fake CRM's data)"
    )

    report, took, statements = sync(store, crm, counter)
    print(
        f"quiet re-sync: {took:.3f} s, {statements} SQL statements, "
        f"pulled {report.counts['pulled']}, pushed {report.counts['pushed']}"
    )

    changed = max(1, args.records // 100)
    for i in range(0, args.records, args.records // changed):
        ext = f"m{i + 1}"
        crm.put("stakeholders", {**crm.tables["stakeholders"][ext].data, "title": "经理"}, ext)
    report, took, statements = sync(store, crm, counter)
    print(
        f"1% changed: {report.counts['updated']} updated in {took:.2f} s "
        f"({report.counts['updated'] / took:,.0f} records/s), {statements} SQL statements"
    )
    store.close()


if __name__ == "__main__":
    main()
