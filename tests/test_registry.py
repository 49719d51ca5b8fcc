"""Connector discovery: built-ins register like third parties; a broken one is reported, not fatal."""

from __future__ import annotations

from importlib.metadata import EntryPoint

from crmbridge.registry import ENTRY_POINT_GROUP, _load, discover, settings_models


def test_built_in_connectors_come_through_entry_points() -> None:
    found = discover()
    assert found["memory"].error is None
    assert found["memory"].target == "crmbridge.testing:InMemoryConnector"
    assert "memory" in settings_models(found)


def test_connector_that_fails_to_import_is_reported() -> None:
    broken = EntryPoint("broken", "no_such_package_for_crmbridge:Connector", ENTRY_POINT_GROUP)
    loaded = _load(broken)
    assert loaded.cls is None
    assert loaded.error is not None
    assert "no_such_package_for_crmbridge" in loaded.error


def test_object_that_is_not_a_connector_is_reported() -> None:
    loaded = _load(EntryPoint("odd", "json:dumps", ENTRY_POINT_GROUP))
    assert loaded.error is not None
    assert "is not a crmbridge connector" in loaded.error
