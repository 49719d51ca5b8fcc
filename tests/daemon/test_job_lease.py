"""The job lease as the services hold it: what is left in the runs table when it is given up."""

from __future__ import annotations

import asyncio
import os
import socket
from datetime import timedelta

from crmbridge.job_lease import leased
from crmbridge.store import Store
from crmbridge.sync.runner import RunReport
from crmbridge.web import RunRegistry


def test_a_run_cut_off_at_the_end_of_the_grace_period_is_marked_interrupted(
    store: Store,
) -> None:
    # a run in a child process that the shutdown's grace period cuts off never records its
    # end; once the lease is given up no other holder takes it over "lapsed", so nothing else
    # would ever say the run is over
    started = asyncio.Event()

    async def endless(job: str, run_id: str) -> RunReport:
        store.start_run(job, "sync", run_id=run_id, host=socket.gethostname(), pid=os.getpid())
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("never reached")

    async def scenario() -> str:
        registry = RunRegistry(leased(store, timedelta(minutes=5), endless))
        run_id = registry.trigger("mem-sync")
        await asyncio.wait_for(started.wait(), 30)
        await registry.aclose(0.1)
        return run_id

    run_id = asyncio.run(scenario())
    run = store.get_run(run_id)
    assert run is not None
    assert run.status == "interrupted"
    assert run.finished_at is not None
    assert store.get_lease("job:mem-sync") is None


def test_a_run_that_ended_keeps_its_own_status(store: Store) -> None:
    async def quick(job: str, run_id: str) -> RunReport:
        store.start_run(job, "sync", run_id=run_id, host=socket.gethostname(), pid=os.getpid())
        store.finish_run(run_id, "succeeded")
        return RunReport(run_id, job, "succeeded", {}, {}, None, 0.0)

    report = asyncio.run(leased(store, timedelta(minutes=5), quick)("mem-sync", "r1"))
    assert report.status == "succeeded"
    assert store.get_run("r1").status == "succeeded"  # type: ignore[union-attr]
