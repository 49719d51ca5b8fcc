"""A header the mapping cannot read names its file wherever a user sees the failed run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crmbridge.cli import app

runner = CliRunner()

HEADERS = {
    "duplicated": ("Full Name,Email,email\r\n", "the header names 'Email' twice"),
    "unknown": ("Foo,Bar\r\n", "none of the columns 'Foo', 'Bar'"),
}


def _config(tmp_path: Path, header: str) -> tuple[Path, Path]:
    source = tmp_path / "src"
    source.mkdir()
    csv_file = source / "stakeholders.csv"
    csv_file.write_bytes((header + "Ann,ann@example.com,x\r\n").encode())
    config = tmp_path / "c.yaml"
    config.write_text(
        "store: {url: 'sqlite:///hub.db'}\n"
        "connectors:\n"
        "  a: {type: csv, directory: src}\n"
        "  b: {type: csv, directory: out}\n"
        "jobs:\n  load: {connector: a, entities: [stakeholders], direction: pull}\n",
        encoding="utf-8",
    )
    assert runner.invoke(app, ["db", "upgrade", "-c", str(config)]).exit_code == 0
    return config, csv_file


@pytest.mark.parametrize("kind", sorted(HEADERS))
def test_migrate_names_the_file_of_a_bad_header(tmp_path: Path, kind: str) -> None:
    header, says = HEADERS[kind]
    config, csv_file = _config(tmp_path, header)
    args = ["migrate", "-c", str(config), "--from", "a", "--to", "b", "--entities", "stakeholders"]
    shown = runner.invoke(app, args)
    assert shown.exit_code == 1
    assert f"error: {csv_file}: {says}" in " ".join(shown.stderr.split())
    assert "Traceback" not in shown.output

    as_json = runner.invoke(app, [*args, "--json"])
    error = json.loads(as_json.stdout)["error"]
    assert error["path"] == str(csv_file)
    assert error["message"].startswith(f"{csv_file}: {says}")

    run_id = json.loads(as_json.stdout)["run_id"]
    stored = runner.invoke(app, ["runs", "show", run_id, "-c", str(config)])
    assert f"error: {csv_file}: {says}" in " ".join(stored.stdout.split())


@pytest.mark.parametrize("kind", sorted(HEADERS))
def test_sync_names_the_file_of_a_bad_header(tmp_path: Path, kind: str) -> None:
    header, says = HEADERS[kind]
    config, csv_file = _config(tmp_path, header)
    shown = runner.invoke(app, ["sync", "load", "-c", str(config)])
    assert shown.exit_code == 1
    assert f"error: {csv_file}: {says}" in " ".join(shown.stderr.split())

    as_json = runner.invoke(app, ["sync", "load", "-c", str(config), "--json"])
    assert json.loads(as_json.stdout)["error"]["path"] == str(csv_file)


@pytest.mark.parametrize(
    ("encoding", "says"),
    [
        ("utf-16", "cannot be read as utf-16, the encoding the connector's settings declare"),
        ("utf-32", "cannot be read as utf-32, the encoding the connector's settings declare"),
        ("utf-32-le", "cannot be read as utf-32-le (code point not in range(0x110000))"),
    ],
)
def test_a_declared_encoding_the_file_is_not_in_is_a_clear_error(
    tmp_path: Path, encoding: str, says: str
) -> None:
    config, csv_file = _config(tmp_path, "Full Name,Email\r\n")  # UTF-8, no mark
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("directory: src}", f"directory: src, encoding: {encoding}}}"))
    shown = runner.invoke(app, ["migrate", "-c", str(config), "--from", "a", "--to", "b"])
    assert shown.exit_code == 1
    assert "Traceback" not in shown.output
    message = " ".join(shown.stderr.split())
    assert f"error: {csv_file}: {says}" in message
    assert "declare the file's own encoding" in message
