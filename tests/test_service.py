"""The service's compiled mappings (once, again when a file changes) and its warm-up."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from crmbridge.config import load_config
from crmbridge.errors import ConfigError
from crmbridge.mapping.shipped import shipped_mapping_path
from crmbridge.service import Bridge


def test_a_mapping_is_compiled_once_and_again_after_its_file_changes(tmp_path: Path) -> None:
    mapping = tmp_path / "people.yaml"
    mapping.write_text(shipped_mapping_path("csv").read_text(encoding="utf-8"), encoding="utf-8")
    config = tmp_path / "crmbridge.yaml"
    config.write_text(
        "store: {url: 'sqlite:///hub.db'}\n"
        "connectors:\n  files: {type: csv, directory: data, mapping: people.yaml}\n",
        encoding="utf-8",
    )
    bridge = Bridge(load_config(config, {}))
    first = bridge.mappers("files")
    assert bridge.mappers("files") is first  # every run and webhook reuses it
    text = mapping.read_text(encoding="utf-8")
    mapping.write_text(text.replace("Full Name", "Display Name", 1), encoding="utf-8")
    stat = mapping.stat()
    os.utime(mapping, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    again = bridge.mappers("files")
    assert again is not first
    assert set(again) == set(first)


def test_warm_up_builds_receivers_and_mappings_before_the_first_request(tmp_path: Path) -> None:
    config = tmp_path / "crmbridge.yaml"
    config.write_text(
        "store: {url: 'sqlite:///hub.db'}\n"
        "connectors:\n"
        "  files: {type: csv, directory: data}\n"
        "  peer: {type: webhook, secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw}\n"
        "jobs:\n  files-in: {connector: files, direction: pull}\n",
        encoding="utf-8",
    )
    bridge = Bridge(load_config(config, {}))
    assert not bridge.receiver_ready("peer")
    bridge.warm_up()
    assert bridge.receiver_ready("peer")
    assert not bridge.receiver_ready("files")  # files take no webhooks
    assert bridge._mappers.keys() == {"files"}
    assert not (tmp_path / "data").exists()  # nothing written by warming up


def test_a_broken_mapping_fails_the_warm_up_by_name(tmp_path: Path) -> None:
    config = tmp_path / "crmbridge.yaml"
    config.write_text(
        "store: {url: 'sqlite:///hub.db'}\n"
        "connectors:\n  files: {type: csv, directory: data, mapping: people.yaml}\n"
        "jobs:\n  files-in: {connector: files, direction: pull}\n",
        encoding="utf-8",
    )
    (tmp_path / "people.yaml").write_text("entities: [", encoding="utf-8")
    bridge = Bridge(load_config(config, {}))
    with pytest.raises(ConfigError, match=r"people\.yaml"):
        bridge.warm_up()


def test_instances_of_one_connector_share_what_outlives_a_run(tmp_path: Path) -> None:
    config = tmp_path / "crmbridge.yaml"
    config.write_text(
        "store: {url: 'sqlite:///hub.db'}\n"
        "connectors:\n"
        "  a: {type: csv, directory: a}\n"
        "  b: {type: csv, directory: b}\n",
        encoding="utf-8",
    )
    bridge = Bridge(load_config(config, {}))
    first, again, other = bridge.connector("a"), bridge.connector("a"), bridge.connector("b")
    first.context.shared["token"] = "t"  # type: ignore[attr-defined]
    assert again.context.shared == {"token": "t"}  # type: ignore[attr-defined]
    assert other.context.shared == {}  # type: ignore[attr-defined]


def test_runs_a_dead_process_left_running_are_marked_interrupted(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    config = tmp_path / "crmbridge.yaml"
    config.write_text(
        "store: {url: 'sqlite:///hub.db'}\n"
        "connectors:\n  files: {type: csv, directory: data}\n"
        "jobs:\n  import: {connector: files, direction: pull, entities: [stakeholders]}\n",
        encoding="utf-8",
    )
    (tmp_path / "data").mkdir()
    bridge = Bridge(load_config(config, {}))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    host = socket.gethostname()
    killed = bridge.store.start_run("import", "sync", host=host, pid=gone.pid)
    living = bridge.store.start_run("import", "sync", host=host, pid=os.getpid())
    elsewhere = bridge.store.start_run("import", "sync", host="another-host", pid=gone.pid)
    from typer.testing import CliRunner

    from crmbridge.cli import app

    result = CliRunner().invoke(app, ["sync", "import", "-c", str(config)])
    assert result.exit_code == 0, result.output
    status = {r.id: r.status for r in bridge.store.list_runs(limit=10)}
    assert status[killed.id] == "interrupted"
    assert status[living.id] == "running"  # another command of this host, still at work
    assert status[elsewhere.id] == "running"  # another host's: not ours to judge
    bridge.close()
