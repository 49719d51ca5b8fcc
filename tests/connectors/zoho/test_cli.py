"""``crmbridge zoho auth`` and ``crmbridge zoho watch`` against the sandbox over real HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connectors.zoho.sandbox import SandboxOptions, SandboxServer
from crmbridge.cli import app

runner = CliRunner()


def config_for(tmp_path: Path, base_url: str) -> Path:
    path = tmp_path / "crmbridge.yaml"
    path.write_text(
        "connectors:\n"
        "  crm:\n"
        "    type: zoho\n"
        f"    accounts_url: {base_url}\n"
        "    client_id: 1000.SANDBOXCLIENT\n"
        "    client_secret: sandbox-secret\n"
        '    refresh_token: "${ZOHO_REFRESH_TOKEN:-}"\n',
        encoding="utf-8",
    )
    return path


def test_grant_code_becomes_a_refresh_token_and_says_where_it_goes(tmp_path: Path) -> None:
    with SandboxServer(SandboxOptions(port=0)) as server:
        config = config_for(tmp_path, server.base_url)
        result = runner.invoke(
            app, ["zoho", "auth", "--grant-code", "1000.sandbox.grant", "-c", str(config)]
        )
        assert result.exit_code == 0, result.output
        assert "refresh_token" in result.stderr
        assert "ZOHO_REFRESH_TOKEN" in result.stderr
        token = result.stdout.strip().splitlines()[-1].strip()
        assert token.startswith("1000.")
        again = runner.invoke(
            app, ["zoho", "auth", "--grant-code", "1000.sandbox.grant", "-c", str(config)]
        )
        assert again.exit_code == 1
        assert "grant" in again.stderr.lower() or "code" in again.stderr.lower()


def test_watch_opens_a_channel_with_a_random_token(tmp_path: Path) -> None:
    with SandboxServer(SandboxOptions(port=0)) as server:
        config = config_for(tmp_path, server.base_url)
        config.write_text(
            config.read_text(encoding="utf-8").replace(
                '"${ZOHO_REFRESH_TOKEN:-}"', "1000.sandbox.refresh"
            ),
            encoding="utf-8",
        )
        result = runner.invoke(
            app,
            [
                "zoho",
                "watch",
                "--notify-url",
                "http://127.0.0.1:9/webhooks/crm",
                "--modules",
                "Contacts",
                "-c",
                str(config),
                "--json",
            ],
        )
        assert result.exit_code == 0, result.output
        channel = json.loads(result.stdout)
        assert channel["connector"] == "crm"
        assert len(channel["token"]) >= 20


def test_auth_runs_before_the_refresh_token_it_makes_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ZOHO_REFRESH_TOKEN", raising=False)
    with SandboxServer(SandboxOptions(port=0)) as server:
        config = config_for(tmp_path, server.base_url)
        text = config.read_text(encoding="utf-8").replace(":-}", "}")  # unset: no default
        config.write_text(text, encoding="utf-8")
        result = runner.invoke(
            app, ["zoho", "auth", "--grant-code", "1000.sandbox.grant", "-c", str(config)]
        )
        assert result.exit_code == 0, result.output
        assert result.stdout.strip().splitlines()[-1].strip().startswith("1000.")
        watch = runner.invoke(
            app, ["zoho", "watch", "--notify-url", "http://127.0.0.1:9/w", "-c", str(config)]
        )
        assert watch.exit_code == 1  # the channel needs the token: one line naming it
        assert "${ZOHO_REFRESH_TOKEN} is not set" in watch.stderr
        assert "Traceback" not in watch.output
