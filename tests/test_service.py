"""The service's compiled mappings: compiled once, compiled again when a file changes."""

from __future__ import annotations

import os
from pathlib import Path

from crmbridge.config import load_config
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
