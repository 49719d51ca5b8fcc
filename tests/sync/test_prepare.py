"""A pull with a mapping worker process stores exactly what a pull in one process stores."""

from __future__ import annotations

import asyncio
import csv
import functools
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from crmbridge.config import load_config
from crmbridge.connector import RemoteRecord
from crmbridge.model import content_hash, identity_index_keys
from crmbridge.service import Bridge
from crmbridge.sync.job import SyncJob
from crmbridge.sync.prepare import MIN_PAGE, PagePreparer, PortableMappers, prepare_records
from crmbridge.sync.runner import RunReport, run_job

ROWS = 3 * MIN_PAGE + 50
HEADER = ["Record Id", "Full Name", "Mobile", "Email", "Account Name", "Title"]


def _people() -> list[list[str]]:
    rows = []
    for i in range(ROWS):
        email = f"p{i}@example.cn"
        if i % 97 == 5:
            email = "not an email"  # rejected alone
        if i % 101 == 7:
            email = "p1@example.cn"  # the same person as row 1, on another page
        company = "华为技术有限公司" if i % 2 else "Acme Analytics Ltd"
        if i % 151 == 9:
            company = "Nobody Ltd"  # no such organisation: waits for it
        rows.append([f"S{i:05d}", f"王{i}", f"+86138{i:08d}", email, company, "工程师"])
    return rows


def _bridge(folder: Path, workers: int) -> Bridge:
    source = folder / "source"
    source.mkdir(parents=True)
    with (source / "organizations.csv").open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(
            [
                ["Account Name", "Industry"],
                ["华为技术有限公司", "telecom"],
                ["Acme Analytics Ltd", "it"],
            ]
        )
    with (source / "stakeholders.csv").open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([HEADER, *_people()])
    config = folder / "crmbridge.yaml"
    config.write_text(
        "store: {url: 'sqlite:///hub.db'}\n"
        "defaults: {phone_region: CN}\n"
        f"runs: {{map_workers: {workers}}}\n"
        "connectors:\n"
        f"  source: {{type: csv, directory: source, page_size: {MIN_PAGE + 30}}}\n",
        encoding="utf-8",
    )
    return Bridge(load_config(config, {}))


def _import(bridge: Bridge, mappers: Any = None) -> RunReport:
    job = SyncJob("import", "source", ("organizations", "stakeholders"), direction="pull")
    return asyncio.run(
        run_job(bridge.store, job, bridge.connector("source"), mappers or bridge.mappers("source"))
    )


def _hub(bridge: Bridge) -> dict[str, Any]:
    """Everything a user sees of the import, without the ids the hub minted."""
    with bridge.store.transaction() as tx:
        links = tx.get_links_by_external_ids(
            "source", "stakeholders", [f"S{i:05d}" for i in range(ROWS)]
        )
        records = tx.get_records("stakeholders", [link.record_id for link in links.values()])
        orgs = {
            rid: rec.data["name"]
            for rid, rec in tx.get_records(
                "organizations",
                list({str(r.data.get("organization_id")) for r in records.values()}),
            ).items()
        }
        rejects = sorted(
            (r.external_id or "", r.code, r.field or "")
            for r in tx.list_open_rejects("import", connector="source", entity="stakeholders")
        )
        inbox = sorted((i.kind, i.external_id or "") for i in tx.list_open_inbox("import"))
        # what later pulls match by: the identity keys the hub indexed for each record
        indexed = tx.find_by_identity(
            "stakeholders",
            [
                (kind, value)
                for rec in records.values()
                for kind, value in identity_index_keys("stakeholders", rec.data)
            ],
        )
    people = {}
    for ext, link in links.items():
        data = dict(records[link.record_id].data)
        data["organization_id"] = orgs.get(str(data.get("organization_id")))
        data.pop("id", None)
        twins = sorted(e for e, lk in links.items() if lk.record_id == link.record_id)
        keys = sorted(key for key, ids in indexed.items() if link.record_id in ids)
        # the link's shadow is the base of the next merge: it must be the same too
        shadow = dict(link.shadow or {})
        assert link.shadow_hash == content_hash(shadow)
        shadow["organization_id"] = orgs.get(str(shadow.get("organization_id")))
        people[ext] = (data, twins, shadow, keys)
    return {"people": people, "rejects": rejects, "inbox": inbox}


@pytest.fixture(autouse=True)
def wait_for_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every page worth it goes to the worker, even those read while it starts."""
    monkeypatch.setattr(PagePreparer, "wait_for_start", True)


@pytest.fixture
def alone(tmp_path: Path) -> tuple[RunReport, dict[str, Any]]:
    bridge = _bridge(tmp_path / "alone", 0)
    assert not isinstance(bridge.mappers("source"), PortableMappers) or (
        bridge.mappers("source").workers == 0  # type: ignore[attr-defined]
    )
    report = _import(bridge)
    return report, _hub(bridge)


def test_a_worker_changes_nothing_a_user_sees(
    tmp_path: Path, alone: tuple[RunReport, dict[str, Any]]
) -> None:
    bridge = _bridge(tmp_path / "worker", 1)
    report = _import(bridge)
    assert report.status == "succeeded"
    assert report.by_entity == alone[0].by_entity
    hub = _hub(bridge)
    assert hub == alone[1]
    # the file's traps did their work in both: a bad email and a missing parent rejected
    # alone, and rows on different pages sharing one email held for a person to decide
    assert {code for _, code, _ in hub["rejects"]} == {"INVALID_VALUE", "PENDING_RELATION"}
    assert ("ambiguous_match", "S00108") in hub["inbox"]
    assert len(hub["people"]) > ROWS - 20


def test_a_worker_that_dies_leaves_the_run_to_map_alone(
    tmp_path: Path, alone: tuple[RunReport, dict[str, Any]]
) -> None:
    bridge = _bridge(tmp_path / "broken", 1)
    working = bridge.mappers("source")
    dying = PortableMappers(working, functools.partial(os._exit, 3), workers=1)
    report = _import(bridge, dying)
    assert report.status == "succeeded"
    assert report.by_entity == alone[0].by_entity
    assert _hub(bridge) == alone[1]


def test_pages_shared_between_the_worker_and_the_run_store_the_same(
    tmp_path: Path, alone: tuple[RunReport, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from crmbridge.sync.balance import Balance

    # the run maps the last records of every page itself, the worker the rest
    monkeypatch.setattr(Balance, "kept", lambda self, count: 17)
    sent: list[int] = []
    real_submit = PagePreparer.submit

    def submit(self: PagePreparer, entity: str, records: Any, *args: Any) -> Any:
        sent.append(len(records))
        return real_submit(self, entity, records, *args)

    monkeypatch.setattr(PagePreparer, "submit", submit)
    bridge = _bridge(tmp_path / "shared", 1)
    report = _import(bridge)
    assert sent
    assert all(count == MIN_PAGE + 30 - 17 for count in sent)
    assert report.status == "succeeded"
    assert report.by_entity == alone[0].by_entity
    assert _hub(bridge) == alone[1]


def test_an_answer_marshal_cannot_write_reaches_the_run_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crmbridge.sync import prepare

    bridge = _bridge(tmp_path / "odd", 1)
    mapper = bridge.mappers("source")["stakeholders"]
    data = {"Record Id": "S1", "Full Name": "王伟", "Mobile": "13800000000"}
    monkeypatch.setattr(prepare, "_mappers", {"stakeholders": mapper})
    request = prepare.page_request("stakeholders", [RemoteRecord("S1", data)], {}, "CN")
    expected = prepare_records(mapper, [("S1", data)], {}, "CN")
    assert prepare.received(prepare._prepare_in_worker(request)).prepared == expected

    def unmarshallable(value: Any) -> bytes:  # as for a value a mapping made (a date)
        raise ValueError("unmarshallable object")

    monkeypatch.setattr(prepare.marshal, "dumps", unmarshallable)
    assert prepare.received(prepare._prepare_in_worker(request)).prepared == expected


def test_a_record_the_worker_mapped_with_a_stale_link_is_mapped_again(tmp_path: Path) -> None:
    bridge = _bridge(tmp_path / "unit", 1)
    mapper = bridge.mappers("source")["stakeholders"]
    data = {"Record Id": "S1", "Full Name": "王伟", "Account Name": "Acme Analytics Ltd"}
    ref = ("organizations", "Acme Analytics Ltd")
    waiting = prepare_records(mapper, [("S1", data)], {ref: None}, "CN")
    assert waiting["S1"] is None  # the parent was not linked yet: the run maps it itself
    done = prepare_records(mapper, [("S1", data)], {ref: "org-1"}, "CN")["S1"]
    assert done is not None
    assert done.flat is not None
    assert done.flat["organization_id"] == "org-1"
    assert done.holds(lambda entity, ext: "org-1")
    assert not done.holds(lambda entity, ext: "org-2")


def test_a_page_that_cannot_cross_to_the_worker_is_mapped_in_the_run(
    tmp_path: Path, alone: tuple[RunReport, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    import pickle

    from crmbridge.sync import prepare

    real = pickle.dumps
    calls = []

    def flaky(value: Any, protocol: int | None = None) -> bytes:
        calls.append(1)
        if len(calls) <= 2:  # the page as it is, then as dict copies
            raise pickle.PicklingError("a value that cannot be pickled")
        return real(value, protocol)

    def not_json(*args: Any) -> bytes:
        raise TypeError("not rows JSON can carry")

    monkeypatch.setattr(prepare.pickle, "dumps", flaky)
    monkeypatch.setattr(prepare, "_as_json", not_json)
    bridge = _bridge(tmp_path / "flaky", 1)
    report = _import(bridge)
    assert report.status == "succeeded"
    assert report.by_entity == alone[0].by_entity
    assert _hub(bridge) == alone[1]
    assert calls  # the page went the other way, and the run did not fail


def test_pages_read_while_the_worker_starts_are_mapped_in_the_run(
    tmp_path: Path, alone: tuple[RunReport, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(PagePreparer, "wait_for_start", False)
    answers: list[bool] = []
    real_wants = PagePreparer.wants

    def wants(self: PagePreparer, records: Any) -> bool:
        ready = real_wants(self, records)
        if len(records) < MIN_PAGE:
            return ready
        answers.append(ready)
        if not ready and self._started is not None:
            self._started.result()  # the worker is up from the next page on
        return ready

    monkeypatch.setattr(PagePreparer, "wants", wants)
    bridge = _bridge(tmp_path / "starting", 1)
    report = _import(bridge)
    # the first big page was read before the worker could answer: the run mapped it; the
    # next went to the worker; the run stores the same as a run in one process
    assert answers[:2] == [False, True]
    assert report.status == "succeeded"
    assert report.by_entity == alone[0].by_entity
    assert _hub(bridge) == alone[1]


def test_a_record_whose_mapping_type_cannot_be_pickled_crosses_as_a_dict() -> None:
    from collections.abc import Iterator, Mapping

    from crmbridge.connector import RemoteRecord
    from crmbridge.sync.prepare import _read_request, page_request

    class Local(Mapping[str, Any]):  # a class local to a function does not pickle
        def __init__(self, data: dict[str, Any]) -> None:
            self.data = data

        def __getitem__(self, key: str) -> Any:
            return self.data[key]

        def __iter__(self) -> Iterator[str]:
            return iter(self.data)

        def __len__(self) -> int:
            return len(self.data)

    records = [
        RemoteRecord("S1", Local({"Full Name": "Ada"})),
        RemoteRecord("S1", Local({"Full Name": "Ada Lovelace"})),  # the last one counts
        RemoteRecord("S2", {"Full Name": "王伟"}),
    ]
    entity, sent, links, region = _read_request(page_request("stakeholders", records, {}, "CN"))
    assert (entity, links, region) == ("stakeholders", {}, "CN")
    assert sent == [("S1", {"Full Name": "Ada Lovelace"}), ("S2", {"Full Name": "王伟"})]
    assert all(type(data) is dict for _, data in sent)


def _import_in_two_runs(bridge: Bridge, alone: tuple[RunReport, dict[str, Any]]) -> None:
    """Organisations in one run, then the stakeholders that refer to them in the next;
    the stakeholders end as they do in one run in one process."""
    first = SyncJob("import", "source", ("organizations",), direction="pull")
    asyncio.run(run_job(bridge.store, first, bridge.connector("source"), bridge.mappers("source")))
    report = _import(bridge)
    assert report.status == "succeeded"
    assert report.by_entity["stakeholders"] == alone[0].by_entity["stakeholders"]
    assert _hub(bridge) == alone[1]


def _calls(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[int]:
    """A list that grows by one at each call of ``module.name`` (which still runs)."""
    calls: list[int] = []
    real = getattr(module, name)

    def counted(*args: Any) -> Any:
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_parents_linked_before_the_run_reach_the_worker_whole(
    tmp_path: Path, alone: tuple[RunReport, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from crmbridge.sync import apply, pull

    looked_up = _calls(monkeypatch, pull, "_page_links")
    mapped_here = _calls(monkeypatch, apply, "fresh_record")
    _import_in_two_runs(_bridge(tmp_path / "whole", 1), alone)
    # the worker had every organisation's link from the first page on, and used it for
    # every page: no page's references were looked up here, and only the last page, too
    # short to ship, was mapped here
    assert looked_up == []
    assert 0 < len(mapped_here) < MIN_PAGE


def test_parents_too_many_to_send_whole_go_with_each_page(
    tmp_path: Path, alone: tuple[RunReport, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from crmbridge.sync import context, pull

    looked_up = _calls(monkeypatch, pull, "_page_links")
    real_init = context.LinkResolver.__init__

    def small(self: context.LinkResolver, connector: str, limit: int = 50_000) -> None:
        real_init(self, connector, limit=2)  # room for one organisation, not for two

    monkeypatch.setattr(context.LinkResolver, "__init__", small)
    _import_in_two_runs(_bridge(tmp_path / "paged", 1), alone)
    assert looked_up  # each page's references were looked up and sent with it


def _rows_of(bridge: Bridge, entity: str) -> list[Any]:
    async def read() -> list[Any]:
        return [
            record
            async for page in bridge.connector("source").read_changes(entity, None)
            for record in page.records
        ]

    return asyncio.run(read())


def test_csv_rows_cross_to_the_worker_as_json_and_read_back_the_same(tmp_path: Path) -> None:
    from crmbridge.sync.prepare import _read_request, page_request

    bridge = _bridge(tmp_path / "json", 1)
    rows = _rows_of(bridge, "stakeholders")
    links = {("organizations", "Acme Analytics Ltd"): "org-1", ("organizations", "Nobody"): None}
    request = page_request("stakeholders", rows, links, "CN")
    assert request.startswith(b"J")  # the cheap way
    entity, sent, got_links, region = _read_request(request)
    assert (entity, got_links, region) == ("stakeholders", links, "CN")
    assert sent == [(row.external_id, dict(row.data)) for row in rows]
    assert sent[3][1]["$line"] == 5  # the row's line stays a number


def test_a_row_json_cannot_carry_crosses_pickled() -> None:
    from collections.abc import Iterator, Mapping

    from crmbridge.connector import RemoteRecord
    from crmbridge.sync.prepare import _read_request, page_request

    class Row(Mapping[str, Any]):
        """A JsonRow whose values may not be what it promises."""

        keys_ = ("Full Name", "Mobile")

        def __init__(self, *values: Any) -> None:
            self.values_ = list(values)

        def json_row(self) -> tuple[tuple[str, ...], list[Any]]:
            return self.keys_, self.values_

        def __getitem__(self, key: str) -> Any:
            return dict(zip(self.keys_, self.values_, strict=True))[key]

        def __iter__(self) -> Iterator[str]:
            return iter(self.keys_)

        def __len__(self) -> int:
            return 2

    fine = [RemoteRecord("S1", Row("Ada", "+8613800000000"))]
    assert page_request("stakeholders", fine, {}, "CN").startswith(b"J")
    # a value JSON would give back as another type (a datetime as text) goes pickled
    when = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    dated = [RemoteRecord("S1", Row("Ada", when))]
    request = page_request("stakeholders", dated, {}, "CN")
    assert request.startswith(b"P")
    assert _read_request(request)[1] == [("S1", {"Full Name": "Ada", "Mobile": when})]
    # a lone surrogate (a byte a file could not decode) is not Unicode JSON can hold
    odd = [*fine, RemoteRecord("S2", Row("\udcff", None))]
    request = page_request("stakeholders", odd, {}, "CN")
    assert request.startswith(b"P")
    assert _read_request(request)[1] == [
        ("S1", {"Full Name": "Ada", "Mobile": "+8613800000000"}),
        ("S2", {"Full Name": "\udcff", "Mobile": None}),
    ]


def test_a_pull_whose_pages_all_stay_in_the_run_loads_no_parents_links(
    tmp_path: Path, alone: tuple[RunReport, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from crmbridge.sync import context

    monkeypatch.setattr(PagePreparer, "wants", lambda self, records: False)
    loaded = _calls(monkeypatch, context.LinkResolver, "know_all")
    bridge = _bridge(tmp_path / "small", 1)
    report = _import(bridge)
    assert report.by_entity == alone[0].by_entity
    assert _hub(bridge) == alone[1]
    assert loaded == []  # a small sync in a daemon pays nothing for the worker it never uses


_SCRIPT = """
import sys
from pathlib import Path

with Path(sys.argv[1]).open("a") as marker:
    marker.write(__name__ + "\\n")

if __name__ == "__main__":
    from crmbridge.sync.prepare import MIN_PAGE, PagePreparer

    PagePreparer.wait_for_start = True
    preparer = PagePreparer(dict)
    assert preparer.wants([None] * MIN_PAGE)
    preparer.close()
"""


def test_the_worker_does_not_run_the_script_that_started_the_run_again(tmp_path: Path) -> None:
    # the `crmbridge` command is such a script: run again, it imports the whole command line
    script, marker = tmp_path / "script.py", tmp_path / "ran"
    script.write_text(_SCRIPT, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script), str(marker)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert marker.read_text().split() == ["__main__"]


def _failing_first_stakeholders_page(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hub refuses the first page of stakeholders once (a lock, a dropped connection)."""
    from crmbridge.errors import StoreError
    from crmbridge.sync import pull

    real = pull.apply_page
    failed: list[int] = []

    def apply_page(ctx: Any, tx: Any, entity: str, records: Any, *args: Any, **kw: Any) -> None:
        if entity == "stakeholders" and records and not failed:
            failed.append(1)
            raise StoreError("the hub database failed: database is locked")
        real(ctx, tx, entity, records, *args, **kw)

    monkeypatch.setattr(pull, "apply_page", apply_page)


@pytest.mark.parametrize("workers", [0, 1])
def test_pages_after_one_the_hub_refused_wait_for_the_next_run(
    tmp_path: Path,
    alone: tuple[RunReport, dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    workers: int,
) -> None:
    bridge = _bridge(tmp_path / "refused", workers)
    with monkeypatch.context() as patched:
        _failing_first_stakeholders_page(patched)
        assert _import(bridge).status == "failed"
    # the next run goes on from what was committed: the first page's rows are not skipped
    report = _import(bridge)
    assert report.status == "succeeded"
    assert _hub(bridge) == alone[1]


@pytest.mark.parametrize("workers", [0, 1])
def test_a_stop_asked_for_ends_the_pull_after_the_page_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    from crmbridge.sync import pull

    applied: list[int] = []
    real = pull._apply

    def counted(ctx: Any, entity: str, page: Any, prepared: Any) -> None:
        if entity == "stakeholders":
            applied.append(len(page.records))
        real(ctx, entity, page, prepared)

    monkeypatch.setattr(pull, "_apply", counted)
    bridge = _bridge(tmp_path / "stopped", workers)
    job = SyncJob("import", "source", ("organizations", "stakeholders"), direction="pull")
    report = asyncio.run(
        run_job(
            bridge.store,
            job,
            bridge.connector("source"),
            bridge.mappers("source"),
            should_stop=lambda: bool(applied),
        )
    )
    assert report.status == "interrupted"
    assert applied == [MIN_PAGE + 30]  # the first page, and not one more


def test_a_page_the_worker_is_not_mapping_is_written_before_the_next_is_read(
    tmp_path: Path, alone: tuple[RunReport, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from crmbridge.sync import pull

    # small pages (an incremental sync) never go to the worker: they must not wait behind
    # pages read after them, or a run's progress lags and a failed read drops them
    monkeypatch.setattr(PagePreparer, "wants", lambda self, records: False)
    events: list[str] = []
    real_apply = pull._apply

    def apply(ctx: Any, entity: str, page: Any, prepared: Any) -> None:
        if entity == "stakeholders" and page.records:
            events.append("written")
        real_apply(ctx, entity, page, prepared)

    monkeypatch.setattr(pull, "_apply", apply)
    bridge = _bridge(tmp_path / "small", 1)
    connector = bridge.connector("source")
    real_read = type(connector).read_changes

    async def read(self: Any, entity: str, cursor: Any) -> Any:
        async for page in real_read(self, entity, cursor):
            if entity == "stakeholders" and page.records:
                events.append("read")
            yield page

    monkeypatch.setattr(type(connector), "read_changes", read)
    report = _import(bridge)
    assert events == ["read", "written"] * (len(events) // 2)
    assert len(events) >= 6
    assert report.by_entity == alone[0].by_entity
    assert _hub(bridge) == alone[1]


def test_pages_in_flight_when_the_worker_fails_are_mapped_in_the_run(
    tmp_path: Path, alone: tuple[RunReport, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from crmbridge.sync import pull

    real_received = pull.received
    answers: list[int] = []

    def failing_once(shipped: bytes) -> Any:
        answers.append(1)
        if len(answers) == 1:
            raise RuntimeError("the worker's answer is garbled")
        return real_received(shipped)

    monkeypatch.setattr(pull, "received", failing_once)
    bridge = _bridge(tmp_path / "failing", 1)
    report = _import(bridge)
    # the first answer failed: the worker is given up, and the pages sent to it after that
    # one (whatever the pool did with them) are mapped in the run
    assert answers == [1]
    assert report.status == "succeeded"
    assert report.by_entity == alone[0].by_entity
    assert _hub(bridge) == alone[1]


_ORPHAN_SCRIPT = """
import time

from crmbridge.sync.prepare import MIN_PAGE, PagePreparer

if __name__ == "__main__":
    PagePreparer.wait_for_start = True
    preparer = PagePreparer(dict)
    assert preparer.wants([None] * MIN_PAGE)
    (worker,) = preparer._pool._processes
    print(worker, flush=True)
    time.sleep(120)
"""


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting to be reaped has ended)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except OSError:
        return False
    return "State:\tZ" not in status


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel's parent-death signal")
def test_a_run_killed_outright_leaves_no_mapping_worker_behind(tmp_path: Path) -> None:
    import signal
    import time

    script = tmp_path / "script.py"
    script.write_text(_ORPHAN_SCRIPT, encoding="utf-8")
    parent = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=tmp_path
    )
    try:
        assert parent.stdout is not None
        worker = int(parent.stdout.readline())
        assert _alive(worker)
        parent.send_signal(signal.SIGKILL)  # the OOM killer, kill -9: no clean-up runs
        parent.wait(timeout=30)
        deadline = time.monotonic() + 30
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(worker)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(timeout=30)
        if parent.stdout is not None:
            parent.stdout.close()
