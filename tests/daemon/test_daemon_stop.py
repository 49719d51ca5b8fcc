"""A SIGTERM that lands while a scheduler tick publishes its next run time."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace
from typing import Any

import pytest

from crmbridge.daemon import Daemon


def test_a_tick_the_stopping_scheduler_cancels_ends_quietly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # found by the fault drill: APScheduler logged the cancelled tick as an ERROR with a
    # traceback ("Job ... raised an exception ... CancelledError") on a graceful stop
    entered, release = threading.Event(), threading.Event()

    class Store:
        def publish_schedules(self, holder: str, times: dict[str, Any]) -> None:
            entered.set()
            release.wait(30)

    server = SimpleNamespace(host="127.0.0.1", port=8080, lease_ttl_s=60)
    bridge: Any = SimpleNamespace(config=SimpleNamespace(server=server), store=Store())
    daemon = Daemon(bridge)
    daemon._scheduler = SimpleNamespace(running=True)
    monkeypatch.setattr("crmbridge.daemon.next_fire_times", lambda scheduler: {})
    triggered: list[str] = []
    registry = SimpleNamespace(
        trigger=lambda job, coalesce: triggered.append(job) or "r1", running=lambda job: None
    )

    async def stop_mid_tick() -> None:
        tick = asyncio.create_task(daemon._fire(registry, "crm-sync"))
        await asyncio.to_thread(entered.wait, 30)
        daemon.stopping.set()
        tick.cancel()  # what scheduler.shutdown(wait=False) does to the ticks it runs
        try:
            await tick  # ends without raising: nothing for the scheduler to log
        finally:
            release.set()
        assert not tick.cancelled()

    asyncio.run(stop_mid_tick())
    assert triggered == ["crm-sync"]
