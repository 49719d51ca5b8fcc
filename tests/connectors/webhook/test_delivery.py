"""Outbound webhooks through the whole engine: a CSV file into the hub, the hub out to a real
receiver on a loopback port, with the run's SQLite hub and the connector's dead-letter file."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.webhook.deadletters import DeadLetters
from crmbridge.config import load_config
from crmbridge.service import Bridge
from crmbridge.sync.runner import RunReport

from .support import SECRET, Receiver

HEADER = "Record Id,Full Name,Email,Title\r\n"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.fixture
def bridge(tmp_path: Path, receiver: Receiver) -> Iterator[Bridge]:
    (tmp_path / "files").mkdir()
    _write_title(tmp_path, "Engineer")
    config = tmp_path / "crmbridge.yaml"
    config.write_text(
        "store: {url: 'sqlite:///hub.db'}\n"
        "connectors:\n"
        "  files: {type: csv, directory: files}\n"
        f"  peer: {{type: webhook, secret: {SECRET}, url: '{receiver.url}',"
        " dead_letters: dead.sqlite, retry: {attempts: 1, later: [0]}}\n"
        "jobs:\n"
        "  files-in: {connector: files, direction: pull, entities: [stakeholders]}\n"
        "  peer-out: {connector: peer, direction: push, entities: [stakeholders]}\n",
        encoding="utf-8",
    )
    bridge = Bridge(load_config(config, {}))
    try:
        yield bridge
    finally:
        bridge.close()


def _write_title(tmp_path: Path, title: str) -> None:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["S1", "Wang Wei", "wang@example.cn", title])
    (tmp_path / "files" / "stakeholders.csv").write_text(HEADER + out.getvalue(), "utf-8")


def _sync(bridge: Bridge, job: str) -> RunReport:
    report = asyncio.run(bridge.sync(job))
    assert report.status == "succeeded", report.error
    return report


def _titles(receiver: Receiver) -> list[str | None]:
    return [record.get("title") for a in receiver.accepted for record in a["data"]]


def test_a_title_changed_and_changed_back_reaches_a_deduplicating_receiver(
    tmp_path: Path, bridge: Bridge, receiver: Receiver
) -> None:
    _sync(bridge, "files-in")
    _sync(bridge, "peer-out")
    for title in ("Manager", "Engineer", "Manager"):  # the updates go A -> B -> A
        _write_title(tmp_path, title)
        _sync(bridge, "files-in")
        _sync(bridge, "peer-out")
    assert len(set(receiver.ids)) == 4
    assert _titles(receiver) == ["Engineer", "Manager", "Engineer", "Manager"]


def test_a_kept_message_goes_on_the_next_run_though_nothing_new_is_written(
    tmp_path: Path, bridge: Bridge, receiver: Receiver
) -> None:
    _sync(bridge, "files-in")
    receiver.script = [503]
    report = _sync(bridge, "peer-out")
    assert any("dead-letter file" in w for w in report.warnings)
    assert receiver.accepted == []
    dry = asyncio.run(bridge.sync("peer-out", dry_run=True))
    assert dry.status == "succeeded"
    assert len(receiver.ids) == 1  # a dry run sends nothing
    _sync(bridge, "peer-out")  # the hub has nothing new for the peer
    assert _titles(receiver) == ["Engineer"]
    assert receiver.ids == [receiver.ids[0]] * 2  # sent again under its first id
    assert DeadLetters(tmp_path / "dead.sqlite").entries() == []


@pytest.mark.parametrize("status", [404, 410])
def test_an_update_the_endpoint_answers_not_found_is_kept_and_sent_again(
    tmp_path: Path, bridge: Bridge, receiver: Receiver, status: int
) -> None:
    _sync(bridge, "files-in")
    _sync(bridge, "peer-out")
    _write_title(tmp_path, "Manager")
    _sync(bridge, "files-in")
    receiver.script = [status]  # the endpoint is wrong for a while, or says it is gone
    _sync(bridge, "peer-out")
    (reject,) = bridge.store.list_open_rejects("peer-out")
    assert (reject.code, reject.entity) == (f"HTTP_{status}", "stakeholders")
    assert str(status) in reject.reason
    assert bridge.store.count_links("peer", "stakeholders") == 1  # the record is still there
    _sync(bridge, "peer-out")  # the endpoint works again; nothing new in the hub
    assert _titles(receiver) == ["Engineer", "Manager"]
    assert bridge.store.list_open_rejects("peer-out") == []


def test_a_kept_message_a_newer_change_has_overtaken_is_never_sent(
    tmp_path: Path, bridge: Bridge, receiver: Receiver
) -> None:
    _sync(bridge, "files-in")
    receiver.script = [503, 503]  # the peer is down: "Engineer" is kept, then given up on
    _sync(bridge, "peer-out")
    _write_title(tmp_path, "Manager")
    _sync(bridge, "files-in")
    _sync(bridge, "peer-out")  # the kept message fails again; "Manager" goes out and is taken
    assert _titles(receiver) == ["Manager"]
    (kept,) = DeadLetters(tmp_path / "dead.sqlite").entries()
    assert kept.status == "dead"

    async def redeliver_all() -> list[dict[str, object]]:
        peer = bridge.connector("peer")
        await peer.open()
        try:
            return await peer.redeliver(None)
        finally:
            await peer.close()

    rows = asyncio.run(redeliver_all())  # as `crmbridge webhooks redeliver peer --all` does
    assert [row["webhook_id"] for row in rows] == [kept.webhook_id]
    assert _titles(receiver) == ["Manager"]  # the older title would have undone the newer
    assert DeadLetters(tmp_path / "dead.sqlite").entries() == []
    (settled,) = DeadLetters(tmp_path / "dead.sqlite").entries(include_delivered=True)
    assert settled.status == "superseded"
