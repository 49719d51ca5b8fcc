"""Convergence: random edits on both sides, random crashes, random syncs; both sides end equal."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Sequence
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from crmbridge.connector import WriteRequest, WriteResult
from crmbridge.model import content_hash
from crmbridge.store import RecordWrite, open_store
from crmbridge.sync.job import SyncJob
from crmbridge.sync.merge import ConflictPolicy, Policy
from crmbridge.sync.runner import run_job
from crmbridge.testing import FakeClock, InMemoryConnector, InMemorySettings, PassThroughMapper

FIELDS = ["full_name", "email", "title"]
TITLES = st.sampled_from([None, "CEO", "CTO", "采购经理", "工程师", ""])
NAMES = st.sampled_from(["王伟", "李娜", "Anna", "欧阳娜娜", "John Smith"])


class Crash(BaseException):
    """A process killed mid-run."""


class FlakyCrm(InMemoryConnector):
    """Dies after applying a write, before answering, when told to."""

    crash_next_write = False

    async def write(self, entity: str, requests: Sequence[WriteRequest]) -> list[WriteResult]:
        results = await super().write(entity, requests)
        if self.crash_next_write:
            self.crash_next_write = False
            raise Crash
        return results


class Convergence(RuleBasedStateMachine):
    """Interleaves edits, deletes, crashes and syncs; checks nothing exists twice."""

    @initialize()
    def start(self) -> None:
        self.clock = FakeClock()
        self.store = open_store("sqlite://", now=self.clock)
        self.crm = FlakyCrm("crm", InMemorySettings(page_size=3, batch_size=2), clock=self.clock)
        self.job = SyncJob(
            "j",
            "crm",
            ("stakeholders",),
            conflicts=ConflictPolicy(Policy.NEWEST),
            deletes="propagate",
            mass_delete_fraction=1.0,
            mass_delete_count=10_000,
        )
        self.mappers: dict[str, Any] = {
            "stakeholders": PassThroughMapper("stakeholders", FIELDS, identity=["email"])
        }
        self.emails = (f"p{i}@example.cn" for i in itertools.count())

    def teardown(self) -> None:
        self.store.close()

    def _tick(self) -> None:
        self.clock.advance(1)

    def _hub_ids(self) -> list[str]:
        return sorted(r.id for r in self.store.iter_records("stakeholders"))

    @rule(name=NAMES, title=TITLES)
    def hub_create(self, name: str, title: str | None) -> None:
        self._tick()
        data = {"full_name": name, "email": next(self.emails), "title": title}
        self.store.upsert_records("stakeholders", [RecordWrite(data, content_hash(data))])

    @rule(pick=st.integers(0, 50), title=TITLES, name=NAMES)
    def hub_update(self, pick: int, title: str | None, name: str) -> None:
        ids = self._hub_ids()
        if ids:
            self._tick()
            record = self.store.get_record("stakeholders", ids[pick % len(ids)])
            assert record is not None
            data = {**record.data, "title": title, "full_name": name}
            self.store.upsert_records(
                "stakeholders", [RecordWrite(data, content_hash(data), record.id)]
            )

    @rule(pick=st.integers(0, 50))
    def hub_delete(self, pick: int) -> None:
        ids = self._hub_ids()
        if ids:
            self._tick()
            self.store.tombstone_records("stakeholders", [ids[pick % len(ids)]])

    @rule(name=NAMES, title=TITLES)
    def remote_create(self, name: str, title: str | None) -> None:
        self._tick()
        self.crm.put(
            "stakeholders", {"full_name": name, "email": next(self.emails), "title": title}
        )

    @rule(pick=st.integers(0, 50), title=TITLES)
    def remote_update(self, pick: int, title: str | None) -> None:
        live = sorted(self.crm.live("stakeholders"))
        if live:
            self._tick()
            ext = live[pick % len(live)]
            self.crm.put(
                "stakeholders", {**self.crm.live("stakeholders")[ext], "title": title}, ext
            )

    @rule(pick=st.integers(0, 50))
    def remote_delete(self, pick: int) -> None:
        live = sorted(self.crm.live("stakeholders"))
        if live:
            self._tick()
            self.crm.delete("stakeholders", live[pick % len(live)])

    @rule(crash=st.booleans())
    def sync(self, crash: bool) -> None:
        self._tick()
        self.crm.crash_next_write = crash
        with contextlib.suppress(Crash):
            asyncio.run(run_job(self.store, self.job, self.crm, self.mappers, now=self.clock))
        self.crm.crash_next_write = False

    @invariant()
    def nothing_exists_twice(self) -> None:
        hub_emails = [r.data["email"] for r in self.store.iter_records("stakeholders")]
        remote_emails = [r["email"] for r in self.crm.live("stakeholders").values()]
        assert len(hub_emails) == len(set(hub_emails))
        assert len(remote_emails) == len(set(remote_emails))

    def settle_and_compare(self) -> None:
        for _ in range(2):
            self._tick()
            report = asyncio.run(
                run_job(self.store, self.job, self.crm, self.mappers, now=self.clock)
            )
            assert report.status == "succeeded", report.error
        hub = {
            r.data["email"]: {f: r.data.get(f) for f in FIELDS}
            for r in self.store.iter_records("stakeholders")
        }
        remote = {
            r["email"]: {f: r.get(f) for f in FIELDS}
            for r in self.crm.live("stakeholders").values()
        }
        assert self.store.list_open_inbox("j") == []
        assert hub == remote


class ConvergenceWithCheck(Convergence):
    """Runs the settle-and-compare step when each example ends."""

    def teardown(self) -> None:
        try:
            self.settle_and_compare()
        finally:
            super().teardown()


ConvergenceWithCheck.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestConvergence = ConvergenceWithCheck.TestCase


def test_a_field_the_hub_emptied_last_is_emptied_remotely_too() -> None:
    """Both sides changed a title; the hub's later change cleared it: the remote is cleared."""
    state = Convergence()
    state.start()
    try:
        state.hub_create(name="王伟", title="CEO")
        state.sync(crash=False)
        state.remote_update(pick=0, title="CTO")
        state.hub_update(pick=0, title=None, name="John Smith")
        state.settle_and_compare()
        (remote,) = state.crm.live("stakeholders").values()
        assert (remote["full_name"], remote["title"]) == ("John Smith", None)
    finally:
        state.teardown()
