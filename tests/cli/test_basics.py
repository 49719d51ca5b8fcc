"""The command line's basics: help, version, connectors and schema, as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from crmbridge import __version__
from crmbridge.cli import app

runner = CliRunner()


def test_version_prints_the_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"crmbridge {__version__}"


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("connectors", "schema", "config", "db"):
        assert command in result.stdout


def _commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name)


def test_every_option_s_help_is_shown_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    # rich reads "[default: x]" as markup and drops it unless the bracket is escaped
    monkeypatch.setattr("typer.rich_utils.MAX_WIDTH", 400)  # one line an option
    root: Any = typer.main.get_command(app)
    for path in _commands(root):
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, path
        shown = " ".join(result.stdout.replace("│", " ").split())
        command = root
        for name in path:
            command = command.commands[name]
        for param in command.params:
            text = " ".join((getattr(param, "help", None) or "").replace("\\[", "[").split())
            assert text in shown, (path, param.name)


def test_installed_script_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "crmbridge", "--version"], capture_output=True, text=True, check=True
    )
    assert __version__ in done.stdout


def test_the_command_line_answers_help_without_loading_the_engine() -> None:
    # --help, --version and a mistyped option answer at once: nothing heavy is imported
    # until a command runs (the store, the model, the connectors, the HTTP client)
    heavy = ["sqlalchemy", "alembic", "crmbridge.model", "crmbridge.service", "httpx"]
    probe = (
        "import sys; sys.argv = ['crmbridge', '--help']\n"
        "from crmbridge.command import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print([m for m in {heavy!r} if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert "migrate" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_the_names_the_command_line_shows_are_the_model_s() -> None:
    from crmbridge.model import ENTITY_ORDER
    from crmbridge.names import ENTITY_NAMES

    assert ENTITY_NAMES == ENTITY_ORDER


def test_connectors_lists_built_ins_with_capabilities_as_json() -> None:
    result = runner.invoke(app, ["connectors", "--json"])
    assert result.exit_code == 0
    listed = {row["type"]: row for row in json.loads(result.stdout)["connectors"]}
    memory = listed["memory"]
    assert memory["loaded"] is True
    assert "stakeholders" in memory["entities"]
    assert memory["incremental"] is True


def test_schema_of_one_entity_is_json_schema() -> None:
    result = runner.invoke(app, ["schema", "stakeholders", "--json"])
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert document["title"] == "Stakeholder"
    assert {"power", "interest", "influence", "phone", "email"} <= set(document["properties"])


def test_schema_of_unknown_entity_is_a_usage_error() -> None:
    result = runner.invoke(app, ["schema", "contacts"])
    assert result.exit_code == 2
    assert "choose one of" in result.stderr


_CTRL_C_WHILE_LOADING = """
import sys
from pathlib import Path


class CtrlC:
    def find_spec(self, name, path=None, target=None):
        if name == "crmbridge.cli.common":
            raise KeyboardInterrupt


sys.meta_path.insert(0, CtrlC())
from crmbridge.command import main

main()
"""


def test_ctrl_c_while_the_command_loads_prints_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _CTRL_C_WHILE_LOADING, "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stderr) == (130, "interrupted\n")


def test_a_config_path_that_is_not_a_file_is_one_line_and_exit_1(tmp_path: Path) -> None:
    result = runner.invoke(app, ["status", "-c", str(tmp_path)])
    assert result.exit_code == 1
    assert (
        result.stderr.strip()
        == f"error: {tmp_path}: {tmp_path} is a directory; name the config file itself"
    )
