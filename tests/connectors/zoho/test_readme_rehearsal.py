"""The README's rehearsal: the bundled examples migrated into the Zoho sandbox, shipped mapping."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner

from connectors.zoho.sandbox import SandboxOptions, SandboxServer
from crmbridge.cli import app
from crmbridge.store import Record, open_store

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "data"
MARKER = re.compile(r"\[crmbridge:([^\]]+)\]")


def write_config(folder: Path, sandbox: str) -> Path:
    """examples/config.yaml's store and source, and a zoho connector set up as the README says."""
    shutil.copytree(EXAMPLES, folder / "data")
    config = folder / "crmbridge.yaml"
    config.write_text(
        "store: {url: 'sqlite:///hub.db'}\n"
        "defaults: {phone_region: CN, timezone: Asia/Shanghai}\n"
        "connectors:\n"
        "  examples: {type: csv, directory: data}\n"
        "  crm:\n"
        "    type: zoho\n"
        f"    accounts_url: {sandbox}\n"
        "    client_id: 1000.SANDBOXCLIENT\n"
        "    client_secret: sandbox-secret\n"
        "    refresh_token: 1000.sandbox.refresh\n",
        encoding="utf-8",
    )
    return config


def ours(base: str, module: str) -> dict[str, dict[str, Any]]:
    """The records of ``module`` the migration made, by the hub id they carry."""
    rows = httpx.get(f"{base}/__sandbox/records/{module}").json()["data"]
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        marker = MARKER.search(row.get("Note_Content") or "")
        key = row.get("crmbridge_id") or (marker.group(1) if marker else None)
        if key:
            assert key not in found, f"{module}: {key} arrived twice"
            found[key] = row
    return found


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_the_bundled_examples_arrive_in_the_sandbox_whole(tmp_path: Path) -> None:
    with SandboxServer(SandboxOptions(port=0, seed_records=500)) as sandbox:
        base = sandbox.base_url
        config = write_config(tmp_path, base)
        report = tmp_path / "out" / "report.json"
        args = ["migrate", "-c", str(config), "--from", "examples", "--to", "crm"]
        result = CliRunner().invoke(app, [*args, "--report", str(report)])
        assert result.exit_code == 0, result.output
        assert "Migration examples -> crm: succeeded" in result.output
        # the sandbox's own contacts and accounts are told apart from ours without a doubt
        assert "warning" not in result.output
        legs = json.loads(report.read_text(encoding="utf-8"))["legs"]
        assert [leg["counts"]["conflicts"] for leg in legs] == [0] * len(legs)
        modules = ("Accounts", "Contacts", "Calls", "Events", "Tasks", "Notes", "Change_Requests")
        zoho = {m: ours(base, m) for m in modules}
        again = CliRunner().invoke(app, [*args, "--report", str(tmp_path / "again.json")])
        assert again.exit_code == 0, again.output
        assert {m: ours(base, m) for m in modules} == zoho

    store = open_store(f"sqlite:///{tmp_path / 'hub.db'}")
    hub: dict[str, dict[str, Record]] = {
        e: {r.id: r for r in store.iter_records(e)}
        for e in ("organizations", "stakeholders", "interactions", "requirement_changes")
    }
    store.close()
    assert len(hub["stakeholders"]) > 250
    assert zoho["Accounts"].keys() == hub["organizations"].keys()
    assert zoho["Contacts"].keys() == hub["stakeholders"].keys()
    assert zoho["Change_Requests"].keys() == hub["requirement_changes"].keys()
    # Calls, Tasks and Notes hold one contact: only interactions with several are held back
    interactions = {k: v for m in ("Calls", "Events", "Tasks", "Notes") for k, v in zoho[m].items()}
    held = json.loads(report.read_text(encoding="utf-8"))["entities"]["interactions"]["push"]
    assert len(interactions) + held["rejected"] == len(hub["interactions"])
    assert interactions.keys() <= hub["interactions"].keys()
    hub_id = {row["id"]: key for key, row in zoho["Contacts"].items()}

    (huawei,) = (a for a in zoho["Accounts"].values() if a["Account_Name"] == "华为技术有限公司")
    assert (huawei["Billing_City"], huawei["Billing_Country"]) == ("深圳", "中国")
    assert huawei["Phone"] == "+8675573710533"

    (liu,) = (c for c in zoho["Contacts"].values() if c["Email"] == "user1@example.cn")
    assert (liu["Last_Name"], liu["First_Name"]) == ("刘", "超")
    assert [t["name"] for t in liu["Tag"]] == ["vip", "决策者"]
    assert (liu["Stakeholder_Type"], liu["Power"], liu["Interest"]) == ("Internal", "Low", "Medium")
    assert liu["Expectations"] == "数据安全合规"
    assert liu["Account_Name"]["name"] == "海尔集团"

    channels = Counter(e["Interaction_Channel"] for e in zoho["Events"].values())
    wanted = Counter(hub["interactions"][k].data["channel"] for k in zoho["Events"])
    assert channels == {"Meeting": wanted["meeting"], "Visit": wanted["visit"]}
    for key, event in zoho["Events"].items():
        people = sorted(hub_id[p["participant"]] for p in event["Participants"])
        assert people == sorted(hub["interactions"][key].data["participant_ids"])

    assert {t["Interaction_Channel"] for t in zoho["Tasks"].values()} == {"Email", "Message"}
    for key, task in zoho["Tasks"].items():
        when = hub["interactions"][key].data["occurred_at"]
        assert instant(task["Occurred_At"]) == instant(when)

    for key, change in zoho["Change_Requests"].items():
        data = hub["requirement_changes"][key].data
        assert hub_id[change["Requested_By"]["id"]] == data["requested_by_id"]
        assert change["Description"] == data["description"]
        assert json.loads(change["History"]) == data.get("history", [])
