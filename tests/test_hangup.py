"""SIGHUP reaches every process of a service (``systemctl kill -s HUP``, a closed terminal)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from crmbridge.config import load_config
from crmbridge.registry import discover, settings_models
from crmbridge.sync_processes import SyncProcesses

CONFIG = """
store: {{url: "sqlite:///{db}"}}
connectors:
  mem: {{type: memory}}
jobs:
  mem-sync: {{connector: mem, entities: [stakeholders]}}
"""


def test_a_sync_child_outlives_a_sighup(tmp_path: Path) -> None:
    path = tmp_path / "crmbridge.yaml"
    path.write_text(CONFIG.format(db=tmp_path / "hub.db"), encoding="utf-8")
    config = load_config(path, {}, settings_models(discover()))
    children = SyncProcesses(config)
    try:
        children.prestart()
        (child,) = children._idle
        assert child.conn.recv() == ("ready",)  # its signal handlers are in place
        assert child.process.pid is not None
        os.kill(child.process.pid, signal.SIGHUP)
        report = asyncio.run(children("mem-sync", "r1"))
        assert report.status == "succeeded"
        assert child.alive()
    finally:
        children.close()


_WORKER_SCRIPT = """
import os
import signal

from crmbridge.sync.prepare import MIN_PAGE, PagePreparer, _ready

if __name__ == "__main__":
    # as `crmbridge run` does: SIGHUP is the service's to log
    signal.signal(signal.SIGHUP, lambda signum, frame: None)
    PagePreparer.wait_for_start = True
    preparer = PagePreparer(dict)
    assert preparer.wants([None] * MIN_PAGE)
    (worker,) = preparer._pool._processes
    os.kill(worker, signal.SIGHUP)
    assert preparer._pool.submit(_ready).result(timeout=60)
    preparer.close()
"""


def test_the_mapping_worker_of_a_service_outlives_a_sighup(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text(_WORKER_SCRIPT, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
