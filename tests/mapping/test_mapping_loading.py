"""Loading mapping files: shipped ones, extends, and errors that name file, line, key path and choices."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from crmbridge.errors import ConfigError
from crmbridge.mapping import (
    DictResolver,
    check_mapping,
    load_mapping,
    mapping_source,
    shipped_mapping_path,
    shipped_mappings,
)

SHIPPED = ("zoho", "csv", "webhook")


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_mapping_loads_without_problems(name: str) -> None:
    path = shipped_mapping_path(name)
    assert check_mapping(path) == []
    mapping = load_mapping(path)
    for entity in ("organizations", "stakeholders", "interactions", "requirement_changes"):
        assert mapping.entity(entity).fields


def test_shipped_mappings_are_found_by_type() -> None:
    assert set(SHIPPED) <= set(shipped_mappings())
    with pytest.raises(ConfigError, match="choose one of"):
        shipped_mapping_path("salesforce")


def test_a_connector_mapping_path_is_relative_to_the_config(tmp_path: Path) -> None:
    assert mapping_source("zoho", None) == shipped_mapping_path("zoho")
    assert mapping_source("zoho", "maps/mine.yaml", tmp_path) == tmp_path / "maps/mine.yaml"
    assert mapping_source("zoho", "csv") == shipped_mapping_path("csv")


def test_extends_overrides_one_field_and_keeps_the_rest(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "mine.yaml",
        """\
        connector: zoho
        extends: zoho
        entities:
          stakeholders:
            fields:
              - {canonical: phone, remote: Phone, transform: {phone: {format: national}}}
              - {canonical: needs, remote: Customer_Needs, remote_custom: true}
              - {canonical: expectations, remove: true}
        """,
    )
    mapping = load_mapping(path, phone_region="CN")
    mapper = mapping.entity("stakeholders")
    payload = mapper.to_remote(
        {"phone": "+8613800138000", "needs": "更快交付", "expectations": "x", "email": "a@b.cn"},
        DictResolver(),
    )
    assert payload == {"Phone": "138 0013 8000", "Customer_Needs": "更快交付", "Email": "a@b.cn"}
    assert mapper.remotes == ("Contacts",)
    assert "expectations" not in mapper.fields
    assert mapping.spec.files == (path, shipped_mapping_path("zoho"))


def test_extends_a_file_next_to_it(tmp_path: Path) -> None:
    write(tmp_path, "base.yaml", "connector: webhook\nextends: webhook\n")
    path = write(
        tmp_path,
        "child.yaml",
        """\
        connector: webhook
        extends: ./base.yaml
        entities:
          organizations: {remote: company}
        """,
    )
    assert load_mapping(path).entity("organizations").remotes == ("company",)


def test_an_extends_circle_is_a_problem(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "connector: csv\nextends: ./b.yaml\n")
    write(tmp_path, "b.yaml", "connector: csv\nextends: ./a.yaml\n")
    (problem,) = check_mapping(tmp_path / "a.yaml")
    assert "circle" in problem.message


def test_an_unknown_canonical_field_names_file_line_key_and_choices(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bad.yaml",
        """\
        connector: zoho
        entities:
          stakeholders:
            remote: Contacts
            fields:
              - {canonical: email, remote: Email}
              - {canonical: emial, remote: Email2}
        """,
    )
    with pytest.raises(ConfigError) as caught:
        load_mapping(path)
    error = caught.value
    assert error.path == str(path)
    assert error.line == 7
    assert error.key == "entities.stakeholders.fields[1].canonical"
    assert "did you mean email?" in error.message
    assert "full_name" in error.message
    assert str(error).startswith(f"{path}: entities.stakeholders.fields[1].canonical: ")


def test_an_unknown_transform_names_the_transforms(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bad.yaml",
        """\
        connector: zoho
        entities:
          stakeholders:
            remote: Contacts
            fields:
              - canonical: mobile
                remote: Mobile
                transform: phon
        """,
    )
    (problem,) = check_mapping(path)
    assert (problem.key, problem.line) == ("entities.stakeholders.fields[0].transform", 8)
    assert "unknown transform 'phon'; did you mean phone?" in problem.message
    assert "split" in problem.message


def test_a_pick_list_with_a_bad_target_names_the_allowed_values(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bad.yaml",
        """\
        connector: zoho
        entities:
          stakeholders:
            remote: Contacts
            fields:
              - canonical: power
                remote: Power
                transform:
                  map:
                    values: {low: Low, very_high: Very High}
        """,
    )
    (problem,) = check_mapping(path)
    assert problem.key == "entities.stakeholders.fields[0].transform.map.values.very_high"
    assert problem.line == 10
    assert "choose one of high, low, medium" in problem.message


def test_a_transform_that_does_not_fit_the_field_is_a_type_mismatch(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bad.yaml",
        """\
        connector: csv
        entities:
          organizations:
            remote: orgs.csv
            fields:
              - {canonical: name, remote: Name, transform: date}
              - {canonical: tags, remote: Tags, default: 12}
        """,
    )
    problems = check_mapping(path)
    assert [p.key for p in problems] == [
        "entities.organizations.fields[0].transform",
        "entities.organizations.fields[1].default",
    ]
    assert "date does not fit name (text)" in problems[0].message


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bad.yaml",
        """\
        connector: zoho
        defaults: {timezone: Mars/Olympus, phone_region: XX}
        entities:
          stakeholder: {remote: Contacts}
          interactions:
            variant_by: channel
            identity: [email]
            variants:
              calls: {remote: Calls, when: [call, meeting], fields: [{canonical: subject, remote: Subject, direction: sideways}]}
        """,
    )
    keys = [p.key for p in check_mapping(path)]
    assert keys == [
        "defaults.timezone",
        "defaults.phone_region",
        "entities.stakeholder",
        "entities.interactions.variants.calls.fields[0].direction",
        "entities.interactions.variants.calls.when",
        "entities.interactions.identity[0]",
    ]


def test_bad_yaml_is_a_config_error_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", "connector: zoho\nentities: [\n")
    (problem,) = check_mapping(path)
    assert problem.file == str(path)
    assert "not valid YAML" in problem.message
    assert problem.line is not None


def test_an_installed_wheel_finds_its_shipped_mappings_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crmbridge.mapping import shipped

    installed = tmp_path / "_shipped_mappings"
    installed.mkdir()
    (installed / "zoho.yaml").write_text("connector: zoho\n", encoding="utf-8")
    monkeypatch.setattr(shipped, "_PACKAGE_DIR", installed)
    assert shipped_mapping_path("zoho") == installed / "zoho.yaml"
    assert shipped_mapping_path("csv").parent.name == "mappings"
