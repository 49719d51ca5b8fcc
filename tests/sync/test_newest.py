"""The newest policy: the change made last where it was made wins, not the one synced last."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import time
from pathlib import Path

from crmbridge.config import load_config
from crmbridge.service import Bridge

HEADER = "Record Id,Full Name,Email,Title\r\n"


def _config(tmp_path: Path) -> Path:
    for side in ("a", "b"):
        (tmp_path / side).mkdir()
    first = tmp_path / "a" / "stakeholders.csv"
    first.write_text(HEADER + "S1,Wang Wei,wang@example.cn,Engineer\r\n", encoding="utf-8")
    an_hour_ago = time.time() - 3600
    os.utime(first, (an_hour_ago, an_hour_ago))  # the person was entered before the edits
    config = tmp_path / "crmbridge.yaml"
    config.write_text(
        "store: {url: 'sqlite:///hub.db'}\n"
        "connectors:\n"
        "  a: {type: csv, directory: a}\n"
        "  b: {type: csv, directory: b}\n"
        "jobs:\n"
        "  a-sync: {connector: a, direction: both, entities: [stakeholders],"
        " conflicts: {policy: newest}}\n"
        "  b-sync: {connector: b, direction: both, entities: [stakeholders],"
        " conflicts: {policy: newest}}\n",
        encoding="utf-8",
    )
    return config


def _sync(bridge: Bridge, *jobs: str) -> None:
    for job in jobs:
        report = asyncio.run(bridge.sync(job))
        assert report.status == "succeeded", report.error


def _title(path: Path) -> str:
    text = path.read_bytes().decode("utf-8-sig")
    (row,) = csv.DictReader(io.StringIO(text, newline=""))
    return row["Title"]


def _edit(path: Path, title: str, at: float) -> None:
    """A person changes the title in ``path``, saving at time ``at``."""
    rows = list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"), newline="")))
    rows[1][rows[0].index("Title")] = title
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    path.write_bytes(out.getvalue().encode("utf-8-sig"))
    os.utime(path, (at, at))


def test_the_later_edit_wins_though_the_other_side_syncs_first(tmp_path: Path) -> None:
    bridge = Bridge(load_config(_config(tmp_path), {}))
    try:
        _sync(bridge, "a-sync", "b-sync")  # the person is in both files now
        a, b = tmp_path / "a" / "stakeholders.csv", tmp_path / "b" / "stakeholders.csv"
        now = time.time()
        _edit(a, "A's title", now - 100)
        _edit(b, "B's title", now - 50)  # the later edit, synced after A's
        _sync(bridge, "a-sync", "b-sync", "a-sync", "b-sync")
        assert (_title(a), _title(b)) == ("B's title", "B's title")
    finally:
        bridge.close()


def test_the_later_edit_wins_when_it_syncs_first_too(tmp_path: Path) -> None:
    bridge = Bridge(load_config(_config(tmp_path), {}))
    try:
        _sync(bridge, "a-sync", "b-sync")
        a, b = tmp_path / "a" / "stakeholders.csv", tmp_path / "b" / "stakeholders.csv"
        now = time.time()
        _edit(a, "A's title", now - 50)  # the later edit
        _edit(b, "B's title", now - 100)
        _sync(bridge, "a-sync", "b-sync", "a-sync", "b-sync")
        assert (_title(a), _title(b)) == ("A's title", "A's title")
    finally:
        bridge.close()


def test_an_older_change_to_another_field_does_not_make_the_hub_look_older(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path)
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace("connectors:\n", "connectors:\n  c: {type: csv, directory: c}\n")
        + "  c-sync: {connector: c, direction: both, entities: [stakeholders],"
        " conflicts: {policy: newest}}\n",
        encoding="utf-8",
    )
    (tmp_path / "c").mkdir()
    bridge = Bridge(load_config(config, {}))
    try:
        _sync(bridge, "a-sync", "b-sync", "c-sync")
        a, b, c = (tmp_path / side / "stakeholders.csv" for side in "abc")
        now = time.time()
        _edit(a, "A's title", now - 100)
        _edit(b, "B's title", now - 50)  # the latest title
        rows = list(csv.reader(io.StringIO(c.read_bytes().decode("utf-8-sig"), newline="")))
        rows[1][rows[0].index("Email")] = "wang.wei@example.cn"  # an older edit elsewhere
        out = io.StringIO(newline="")
        csv.writer(out, lineterminator="\r\n").writerows(rows)
        c.write_bytes(out.getvalue().encode("utf-8-sig"))
        os.utime(c, (now - 200, now - 200))
        _sync(bridge, "b-sync", "c-sync", "a-sync", "b-sync", "c-sync")
        assert {_title(f) for f in (a, b, c)} == {"B's title"}
    finally:
        bridge.close()


def test_a_remote_clock_ahead_does_not_win_every_later_conflict(tmp_path: Path) -> None:
    bridge = Bridge(load_config(_config(tmp_path), {}))
    try:
        _sync(bridge, "a-sync", "b-sync")
        a, b = tmp_path / "a" / "stakeholders.csv", tmp_path / "b" / "stakeholders.csv"
        now = time.time()
        _edit(a, "A's title", now + 30 * 86400)  # a machine whose clock is a month ahead
        _sync(bridge, "a-sync")
        _edit(b, "B's title", now + 3600)  # a later real edit (an hour on)
        _sync(bridge, "b-sync", "a-sync")
        assert (_title(a), _title(b)) == ("B's title", "B's title")
    finally:
        bridge.close()
