"""A `directory` that is missing, a file, or cannot be made: one line naming it and its key."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from csv_support import connector, last_cursor, pull, push, records, write_file
from typer.testing import CliRunner, Result

from connectors.csv import CsvConnector, CsvSettings
from crmbridge.cli import app
from crmbridge.connector import ConnectorContext, WriteOp, WriteRequest
from crmbridge.errors import ConfigError, PermanentError

PEOPLE = "Record Id,Full Name,Email\r\n1,Anna,anna@example.com\r\n"
KEY = "connectors.files.directory"

runner = CliRunner()


def _create(key: str, name: str) -> WriteRequest:
    return WriteRequest(key, WriteOp.CREATE, {"Full Name": name})


def test_reading_a_folder_that_is_not_there_names_it_and_its_key(tmp_path: Path) -> None:
    missing = tmp_path / "exprot"
    with pytest.raises(ConfigError) as failed:
        pull(connector(missing), "stakeholders")
    assert failed.value.key == KEY
    assert str(failed.value) == (
        f"{KEY}: the folder {missing} does not exist; correct the path, or create the folder"
    )
    with pytest.raises(ConfigError, match="does not exist"):
        asyncio.run(connector(missing).fetch("stakeholders", ["1"]))
    assert not missing.exists()  # a read makes nothing


def test_a_missing_file_in_a_folder_that_is_there_is_still_no_rows(tmp_path: Path) -> None:
    assert pull(connector(tmp_path), "stakeholders") == []
    assert asyncio.run(connector(tmp_path).fetch("stakeholders", ["1"])) == []


def test_reading_a_folder_that_is_a_file_says_so(tmp_path: Path) -> None:
    path = write_file(tmp_path / "stakeholders.csv", PEOPLE)
    with pytest.raises(ConfigError) as failed:
        pull(connector(path), "stakeholders")
    assert str(failed.value) == (
        f"{KEY}: {path} is a file, not a folder; set the folder the CSV files are in"
    )


def test_reading_a_file_under_a_file_names_the_file(tmp_path: Path) -> None:
    write_file(tmp_path / "notes", "not a folder")
    remote = connector(tmp_path, files={"stakeholders": "notes/people.csv"})
    with pytest.raises(PermanentError) as failed:
        pull(remote, "stakeholders")
    target = tmp_path / "notes" / "people.csv"
    assert failed.value.message == f"{target}: cannot read the file: Not a directory"


def test_writing_into_a_missing_folder_makes_it(tmp_path: Path) -> None:
    folder = tmp_path / "out" / "export"
    push(connector(folder), "stakeholders", _create("k1", "Dora"))
    assert "Dora" in (folder / "stakeholders.csv").read_text(encoding="utf-8-sig")


def test_writing_into_a_folder_under_a_file_names_the_key(tmp_path: Path) -> None:
    write_file(tmp_path / "notes", "not a folder")
    folder = tmp_path / "notes" / "export"
    with pytest.raises(ConfigError) as failed:
        push(connector(folder), "stakeholders", _create("k1", "Dora"))
    assert str(failed.value) == (
        f"{KEY}: cannot create the folder {folder}: a part of that path is a file; "
        "set the folder the CSV files are to go in"
    )
    assert (tmp_path / "notes").read_text() == "not a folder"


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_writing_into_a_folder_that_cannot_be_made_names_the_key() -> None:
    with pytest.raises(ConfigError) as failed:
        push(connector(Path("/proc/nope")), "stakeholders", _create("k1", "Dora"))
    assert str(failed.value) == (
        f"{KEY}: cannot create the folder /proc/nope: No such file or directory; "
        "set a folder this process may write in"
    )


# the audit's reproduction: a migration between folders, as a user runs it


def _config(tmp_path: Path, source: str, target: str) -> Path:
    folder = tmp_path / "src"
    folder.mkdir()
    write_file(folder / "stakeholders.csv", PEOPLE)
    config = tmp_path / "c.yaml"
    config.write_text(
        "store: {url: 'sqlite:///hub.db'}\n"
        f"connectors:\n  a: {{type: csv, directory: '{source}'}}\n"
        f"  b: {{type: csv, directory: '{target}'}}\n",
        encoding="utf-8",
    )
    assert runner.invoke(app, ["db", "upgrade", "-c", str(config)]).exit_code == 0
    return config


def _migrate(config: Path, *more: str) -> Result:
    args = ["migrate", "-c", str(config), "--from", "a", "--to", "b"]
    return runner.invoke(app, [*args, "--entities", "stakeholders", *more])


def _one_line(result: Result) -> str:
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    return " ".join(result.stderr[result.stderr.index(line) :].split())


def test_migrating_into_a_folder_under_a_file_fails_with_one_line(tmp_path: Path) -> None:
    write_file(tmp_path / "notes", "not a folder")
    config = _config(tmp_path, "src", "notes/export")
    said = _one_line(_migrate(config))
    assert said == (
        f"error: {config}: connectors.b.directory: cannot create the folder "
        f"{tmp_path / 'notes' / 'export'}"
        ": a part of that path is a file; set the folder the CSV files are to go in"
    )


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_migrating_into_proc_fails_with_one_line(tmp_path: Path) -> None:
    config = _config(tmp_path, "src", "/proc/nope")
    said = _one_line(_migrate(config))
    assert said.startswith(
        f"error: {config}: connectors.b.directory: cannot create the folder /proc/nope"
    )


def test_migrating_from_a_folder_that_is_a_file_fails_with_one_line(tmp_path: Path) -> None:
    config = _config(tmp_path, "src/stakeholders.csv", "out")
    said = _one_line(_migrate(config))
    assert said == (
        f"error: {config}: connectors.a.directory: {tmp_path / 'src' / 'stakeholders.csv'} "
        "is a file, "
        "not a folder; set the folder the CSV files are in"
    )
    assert not (tmp_path / "out").exists()


def test_migrating_from_a_mistyped_folder_fails_instead_of_moving_nothing(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path, "scr", "out")
    result = _migrate(config)
    said = _one_line(result)
    assert said == (
        f"error: {config}: connectors.a.directory: the folder {tmp_path / 'scr'} does not exist; "
        "correct the path, or create the folder"
    )
    as_json = json.loads(_migrate(config, "--json").stdout)
    assert (as_json["status"], as_json["error"]["key"]) == ("failed", "connectors.a.directory")
    assert not (tmp_path / "scr").exists()


def _dry_run(folder: Path) -> CsvConnector:
    settings = CsvSettings(directory=str(folder))
    return CsvConnector("files", settings, ConnectorContext(phone_region="CN"), dry_run=True)


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_dry_run_reads_changes_without_leaving_side_files(tmp_path: Path) -> None:
    path = write_file(tmp_path / "stakeholders.csv", PEOPLE)
    planned = _dry_run(tmp_path)
    assert set(records(pull(planned, "stakeholders"))) == {"1"}
    asyncio.run(planned.close())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stakeholders.csv"]

    real = connector(tmp_path)
    cursor = last_cursor(pull(real, "stakeholders"))
    asyncio.run(real.close())
    write_file(path, PEOPLE + "2,Ben,ben@example.com\r\n")
    before = _tree(tmp_path)
    planned = _dry_run(tmp_path)
    assert set(records(pull(planned, "stakeholders", cursor))) == {"2"}  # changes only
    asyncio.run(planned.close())
    assert _tree(tmp_path) == before


def test_a_dry_run_migration_leaves_the_source_folder_as_it_was(tmp_path: Path) -> None:
    config = _config(tmp_path, "src", "out")
    before = sorted(p.relative_to(tmp_path) for p in (tmp_path / "src").rglob("*"))
    result = _migrate(config, "--dry-run")
    assert result.exit_code == 0, result.output
    assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "src").rglob("*")) == before
    assert not (tmp_path / "out").exists()


def test_a_dry_run_from_a_mistyped_folder_says_why_it_failed(tmp_path: Path) -> None:
    config = _config(tmp_path, "scr", "out")
    said = _one_line(_migrate(config, "--dry-run"))
    assert "connectors.a.directory: the folder" in said
