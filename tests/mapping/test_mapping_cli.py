"""``crmbridge mappings check`` and ``show``, as a user runs them."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crmbridge.cli.mappings_cmd import app
from crmbridge.mapping import check_config_mappings, shipped_mapping_path

runner = CliRunner()


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def config(tmp_path: Path) -> Path:
    write(
        tmp_path / "mem.yaml",
        """\
        connector: memory
        entities:
          stakeholders:
            remote: people
            identity: [email]
            fields:
              - {canonical: email, remote: email, transform: email}
              - {canonical: mobile, remote: mobile, transform: phon}
        """,
    )
    return write(
        tmp_path / "crmbridge.yaml",
        """\
        store: {url: "sqlite:///hub.db"}
        connectors:
          mem: {type: memory, mapping: ./mem.yaml}
        """,
    )


def test_check_lists_problems_of_the_configs_mappings_as_json(config: Path) -> None:
    result = runner.invoke(app, ["check", "--config", str(config), "--json"])
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["ok"] is False
    (entry,) = document["mappings"]
    assert (entry["connector"], entry["type"]) == ("mem", "memory")
    (problem,) = entry["problems"]
    assert problem["key"] == "entities.stakeholders.fields[1].transform"
    assert problem["line"] == 8
    assert problem["file"].endswith("mem.yaml")


def test_check_of_good_files_exits_zero() -> None:
    paths = [str(shipped_mapping_path(name)) for name in ("zoho", "csv", "webhook")]
    result = runner.invoke(app, ["check", *paths])
    assert result.exit_code == 0
    assert result.stdout.count(": ok") == 3


def test_check_config_mappings_names_a_type_without_a_shipped_mapping(tmp_path: Path) -> None:
    found = check_config_mappings(
        [
            ("crm", "zoho", None),
            ("mem", "memory", None),
            ("x", "csv", str(shipped_mapping_path("zoho"))),
        ],
        base_dir=tmp_path,
    )
    assert found["crm"] == []
    assert "no shipped mapping for connector type 'memory'" in found["mem"][0].message
    assert "this mapping is for zoho" in found["x"][0].message


def test_show_prints_the_effective_mapping_as_json() -> None:
    result = runner.invoke(app, ["show", "zoho", "stakeholders", "--json"])
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert document["remote"] == "Contacts"
    rows = {row["canonical"]: row for row in document["fields"]}
    assert rows["mobile"]["remote"] == "Mobile"
    assert rows["mobile"]["transforms"] == ["phone"]
    assert rows["power"]["notes"] == ["custom remote field"]


def test_show_prints_a_table() -> None:
    result = runner.invoke(app, ["show", "csv", "stakeholders"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "stakeholders.csv" in result.stdout
    assert "姓名" in result.stdout


def test_show_of_an_unknown_entity_is_bad_usage() -> None:
    result = runner.invoke(app, ["show", "zoho", "deals"])
    assert result.exit_code == 2
