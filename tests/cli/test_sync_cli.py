"""``crmbridge sync``, ``runs`` and ``conflicts`` as a user runs them, over a real SQLite hub."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crmbridge.cli import app
from crmbridge.model import content_hash
from crmbridge.store import NewInboxItem, RecordWrite, open_store

runner = CliRunner()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "crmbridge.yaml"
    path.write_text(
        "store: {url: 'sqlite:///hub.db'}\n"
        "defaults: {phone_region: CN}\n"
        "connectors:\n  mem: {type: memory}\n"
        "jobs:\n  mem-sync: {connector: mem, entities: [organizations, stakeholders]}\n",
        encoding="utf-8",
    )
    store = open_store(f"sqlite:///{tmp_path / 'hub.db'}")
    data = {"full_name": "王小明", "email": "wang@example.cn", "mobile": "+8613800138000"}
    store.upsert_records("stakeholders", [RecordWrite(data, content_hash(data))])
    store.close()
    return path


def invoke(*args: str) -> object:
    return runner.invoke(app, list(args))


def test_sync_json_report_has_the_documented_keys(config: Path) -> None:
    result = runner.invoke(app, ["sync", "mem-sync", "-c", str(config), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {"run_id", "job", "status", "counts", "api_calls", "duration_s"} <= set(report)
    assert set(report["counts"]) == {
        "pulled",
        "created",
        "updated",
        "deleted",
        "unchanged",
        "conflicts",
        "rejected",
        "pushed",
    }
    assert report["counts"]["pushed"] == 1
    listed = runner.invoke(app, ["runs", "list", "-c", str(config), "--json"])
    assert json.loads(listed.stdout)["runs"][0]["id"] == report["run_id"]
    shown = runner.invoke(
        app, ["runs", "show", report["run_id"], "--rejects", "-c", str(config), "--json"]
    )
    assert json.loads(shown.stdout)["rejects"] == []


def test_dry_run_plans_and_writes_nothing(config: Path) -> None:
    result = runner.invoke(app, ["sync", "mem-sync", "--dry-run", "-c", str(config), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["plan"] == {"stakeholders": {"remote": {"create": 1}}}
    assert report["plan_records"][0]["action"] == "create"
    listed = runner.invoke(app, ["runs", "list", "-c", str(config), "--json"])
    assert json.loads(listed.stdout)["runs"] == []


def test_unknown_job_is_a_one_line_usage_error(config: Path) -> None:
    result = runner.invoke(app, ["sync", "nope", "-c", str(config)])
    assert result.exit_code == 2  # as an unknown connector is to migrate
    assert "no job 'nope' in the config; jobs: mem-sync" in result.stderr
    assert "Traceback" not in result.output


def test_conflicts_listed_shown_and_resolved(config: Path) -> None:
    store = open_store(f"sqlite:///{config.parent / 'hub.db'}")
    (person,) = store.iter_records("stakeholders")
    item = store.add_inbox_item(
        NewInboxItem(
            "conflict",
            "mem-sync",
            "mem",
            "stakeholders",
            record_id=person.id,
            external_id="m1",
            fields=["title"],
            base={"title": None},
            hub={"title": "CTO"},
            remote={"title": "CEO"},
        )
    )
    store.close()
    listed = runner.invoke(app, ["conflicts", "list", "-c", str(config), "--json"])
    assert [i["id"] for i in json.loads(listed.stdout)["items"]] == [item.id]
    shown = runner.invoke(app, ["conflicts", "show", str(item.id), "-c", str(config)])
    assert "CTO" in shown.stdout
    assert "CEO" in shown.stdout
    bad = runner.invoke(
        app, ["conflicts", "resolve", str(item.id), "--value", "title=CFO", "-c", str(config)]
    )
    assert bad.exit_code == 2
    assert "is not JSON" in bad.stderr
    done = runner.invoke(
        app,
        [
            "conflicts",
            "resolve",
            str(item.id),
            "--value",
            'title="CFO"',
            "-c",
            str(config),
            "--json",
        ],
    )
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["status"] == "resolved"
    store = open_store(f"sqlite:///{config.parent / 'hub.db'}")
    assert store.get_record("stakeholders", person.id).data["title"] == "CFO"  # type: ignore[union-attr]
    store.close()


def test_status_reports_every_job_after_a_run(config: Path) -> None:
    runner.invoke(app, ["sync", "mem-sync", "-c", str(config)])
    result = runner.invoke(app, ["status", "-c", str(config), "--json"])
    assert result.exit_code == 0, result.output
    (job,) = json.loads(result.stdout)["jobs"]
    assert job["job"] == "mem-sync"
    assert job["schedule"] == "manual"
    assert job["last_run"]["status"] == "succeeded"
    assert (job["open_conflicts"], job["open_rejects"], job["outbox_depth"]) == (0, 0, 0)
    assert job["lag_s"] is not None


def test_sync_does_not_run_beside_a_run_of_the_job_elsewhere(config: Path) -> None:
    store = open_store(f"sqlite:///{config.parent / 'hub.db'}")
    try:
        # the daemon on another machine runs the job right now
        assert store.try_acquire_lease("job:mem-sync", "ops-1:4242", timedelta(minutes=5))
        busy = runner.invoke(app, ["sync", "mem-sync", "-c", str(config)])
        assert busy.exit_code == 1
        message = " ".join(busy.stderr.split())
        assert "error: job mem-sync is running in ops-1:4242" in message
        assert "wait for that run to end" in message
        assert "Traceback" not in busy.output
        assert store.list_runs("mem-sync") == []  # nothing ran
        # its lease lapses (the daemon died): the job runs, and gives the lease up after
        assert store.release_lease("job:mem-sync", "ops-1:4242")
        assert store.try_acquire_lease("job:mem-sync", "ops-1:4242", timedelta(seconds=-1))
        done = runner.invoke(app, ["sync", "mem-sync", "-c", str(config)])
        assert done.exit_code == 0, done.output
        assert [r.status for r in store.list_runs("mem-sync")] == ["succeeded"]
        assert store.get_lease("job:mem-sync") is None
    finally:
        store.close()
