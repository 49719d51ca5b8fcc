"""What a crmbridge error says once a run has stored it: the same as when it is raised."""

from __future__ import annotations

from crmbridge.errors import ConfigError, PermanentError


def test_a_stored_config_error_still_names_its_file_key_and_line() -> None:
    error = ConfigError(
        "expected a mapping", path="crmbridge.yaml", key="connectors.a", line=4, entity="x"
    )
    stored = error.as_dict()
    assert stored["message"] == "crmbridge.yaml: connectors.a: expected a mapping (line 4)"
    assert stored["message"] == str(error)
    assert (stored["path"], stored["key"], stored["line"]) == ("crmbridge.yaml", "connectors.a", 4)
    assert (stored["error"], stored["entity"]) == ("ConfigError", "x")


def test_a_config_error_without_a_place_stays_as_it_was() -> None:
    stored = ConfigError("no job 'nope'").as_dict()
    assert stored == {"error": "ConfigError", "message": "no job 'nope'"}


def test_other_errors_keep_their_message_apart_from_their_context() -> None:
    stored = PermanentError("the file is gone", connector="files").as_dict()
    assert stored == {
        "error": "PermanentError",
        "message": "the file is gone",
        "connector": "files",
    }
