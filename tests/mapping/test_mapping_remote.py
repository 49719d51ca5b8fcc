"""Checking a mapping against the remote's own field list (Zoho's field metadata)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from crmbridge.mapping import RemoteField, RemoteFields, check_against_remote, load_mapping

FIXTURE = Path("/work/shared/fixtures/zoho/fields_metadata_response.json")


def zoho_fields(module: str, payload: dict[str, Any]) -> RemoteFields:
    """What the Zoho connector builds from GET /settings/fields?module=..."""
    return RemoteFields(
        module,
        {
            f["api_name"]: RemoteField(
                f["api_name"],
                read_only=bool(f.get("read_only") or f.get("field_read_only")),
                picklist=tuple(p["actual_value"] for p in f["pick_list_values"])
                if f.get("pick_list_values")
                else None,
                data_type=f.get("data_type"),
                custom=bool(f.get("custom_field")),
            )
            for f in payload["fields"]
        },
    )


def leads_fields() -> RemoteFields:
    if FIXTURE.exists():
        return zoho_fields("Leads", json.loads(FIXTURE.read_text(encoding="utf-8")))
    return RemoteFields(  # the fields of the recorded response these tests use
        "Leads",
        {
            "Last_Name": RemoteField("Last_Name"),
            "Email": RemoteField("Email"),
            "Score1": RemoteField("Score1", read_only=True),
            "Testing_GPL": RemoteField("Testing_GPL", picklist=("-None-", "A", "B", "C")),
        },
    )


def test_unknown_read_only_and_pick_list_values_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "leads.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            connector: zoho
            entities:
              stakeholders:
                remote: Leads
                fields:
                  - {canonical: email, remote: Email, transform: email}
                  - {canonical: family_name, remote: Last_Name}
                  - {canonical: title, remote: Designaton}
                  - {canonical: notes, remote: Score1}
                  - {canonical: needs, remote: Needs, remote_custom: true}
                  - canonical: power
                    remote: Testing_GPL
                    transform: {map: {values: {low: A, medium: B, high: D}}}
            """
        ),
        encoding="utf-8",
    )
    problems = check_against_remote(load_mapping(path), [leads_fields()])
    found = {p.key: p.message for p in problems}
    assert set(found) == {
        "entities.stakeholders.fields[2].remote",
        "entities.stakeholders.fields[3].remote",
        "entities.stakeholders.fields[4].remote",
        "entities.stakeholders.fields[5].transform.map.values.high",
    }
    assert "did you mean Designation?" in found["entities.stakeholders.fields[2].remote"]
    assert "read-only" in found["entities.stakeholders.fields[3].remote"]
    assert "custom field 'Needs'" in found["entities.stakeholders.fields[4].remote"]
    assert "choose one of" in found["entities.stakeholders.fields[5].transform.map.values.high"]
    assert all(p.line is not None for p in problems)


def test_objects_not_described_are_not_checked() -> None:
    mapping = load_mapping(Path(__file__).parents[2] / "mappings" / "zoho.yaml")
    assert check_against_remote(mapping, [RemoteFields("Deals")]) == []
