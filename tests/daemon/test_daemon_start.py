"""What ``crmbridge run`` does as it starts."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

from test_daemon import start, stop_all, wait_for
from test_daemon_replicas import write_config

from crmbridge.store import NewWebhook, open_store, upgrade

__all__ = ["stop_all"]


def test_webhooks_left_in_the_inbox_are_merged_at_start_not_at_the_next_tick(
    tmp_path: Path, stop_all: list[subprocess.Popen[str]]
) -> None:
    # taken by a replica that stopped before it ran the job; the job has no schedule
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    upgrade(url)
    store = open_store(url)
    event = {
        "type": "stakeholder.created",
        "data": {"id": "p-1", "full_name": "Zoë Müller", "email": "zoe@example.com"},
    }
    body = json.dumps(event).encode()
    assert store.add_webhooks([NewWebhook("hook", "msg_1", body, {})]) == [True]
    config, _ = write_config(tmp_path, url)
    daemon = start(config)
    stop_all.append(daemon)
    wait_for(lambda: store.count_records("stakeholders") == 1)
    assert store.list_pending_webhooks("hook") == []
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(timeout=30)
    assert daemon.returncode == 0
    store.close()
