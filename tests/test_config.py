from __future__ import annotations

import re
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, SecretStr, model_validator

from crmbridge.config import (
    DEFAULT_ENTITIES,
    Config,
    check_config,
    default_config_path,
    load_config,
    validate_connector_settings,
)
from crmbridge.durations import format_duration, parse_duration
from crmbridge.errors import ConfigError

ISSUE_EXAMPLE = """\
store: {url: "sqlite:///crmbridge.db"}
defaults: {phone_region: CN, timezone: Asia/Shanghai}
connectors:
  crm:   {type: zoho, data_centre: com, client_id: "${ZOHO_CLIENT_ID}", client_secret: "${ZOHO_CLIENT_SECRET}", refresh_token: "${ZOHO_REFRESH_TOKEN}"}
  files: {type: csv, directory: ./data}
jobs:
  crm-sync:
    connector: crm
    entities: [organizations, stakeholders, interactions, requirement_changes]
    direction: both            # pull | push | both
    schedule: {every: 5m}      # or {cron: "*/5 * * * *"}
    conflicts: {policy: newest, fields: {power: hub}}
    deletes: propagate         # propagate | ignore | archive
server: {host: 127.0.0.1, port: 8080, trigger_token: "${CRMBRIDGE_TRIGGER_TOKEN}"}
"""

ENV = {
    "ZOHO_CLIENT_ID": "1000.client",
    "ZOHO_CLIENT_SECRET": "zoho-client-secret-value",
    "ZOHO_REFRESH_TOKEN": "zoho-refresh-token-value",
    "CRMBRIDGE_TRIGGER_TOKEN": "trigger-token-value",
}
SECRETS = [value for key, value in ENV.items() if key != "ZOHO_CLIENT_ID"]
EXAMPLE_FILE = Path(__file__).resolve().parent.parent / "config.example.yaml"


def write(tmp_path: Path, text: str, name: str = "crmbridge.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def only_problem(path: Path, environ: dict[str, str] | None = None) -> str:
    problems = check_config(path, environ if environ is not None else ENV)
    assert len(problems) == 1, [str(p) for p in problems]
    return str(problems[0])


def test_the_issues_example_loads(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ISSUE_EXAMPLE), ENV)

    crm = config.connectors["crm"]
    assert crm.type == "zoho"
    assert crm.settings() == {
        "data_centre": "com",
        "client_id": "1000.client",
        "client_secret": "zoho-client-secret-value",
        "refresh_token": "zoho-refresh-token-value",
    }
    job = config.jobs["crm-sync"]
    assert job.connector == "crm"
    assert job.entities == DEFAULT_ENTITIES
    assert job.schedule is not None
    assert job.schedule.every == timedelta(minutes=5)
    assert job.conflicts.fields == {"power": "hub"}
    assert job.deletes == "propagate"
    assert config.server.port == 8080
    assert config.server.trigger_token is not None
    assert config.server.trigger_token.get_secret_value() == "trigger-token-value"
    assert config.defaults.zone.key == "Asia/Shanghai"
    assert config.source_path == tmp_path / "crmbridge.yaml"
    assert config.line_of("jobs.crm-sync.schedule") == 11


def test_a_job_gets_safe_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        connectors: {files: {type: csv}}
        jobs: {export: {connector: files}}
        """,
    )
    job = load_config(path, {}).jobs["export"]

    assert job.direction == "both"
    assert job.schedule is None
    assert job.deletes == "ignore"
    assert job.conflicts.policy == "newest"
    assert (job.mass_delete.max_fraction, job.mass_delete.max_count) == (0.2, 500)
    assert job.max_record_failures == 5
    assert job.batch_size is None


def test_environment_fills_references_with_defaults_and_escapes(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        server:
          host: "${HOST:-0.0.0.0}"
          port: "${PORT:-9000}"
        connectors:
          hook: {type: webhook, url: "https://x/${SITE}/$${literal}", secret: ["${A}", "${B}"]}
        """,
    )
    config = load_config(path, {"PORT": "9100", "SITE": "acme", "A": "one", "B": "two"})

    assert config.server.host == "0.0.0.0"
    assert config.server.port == 9100
    assert config.connectors["hook"].settings() == {
        "url": "https://x/acme/${literal}",
        "secret": ["one", "two"],
    }


def test_an_unset_variable_names_the_variable_the_key_and_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, ISSUE_EXAMPLE)
    environ = {k: v for k, v in ENV.items() if k != "ZOHO_CLIENT_SECRET"}

    assert only_problem(path, environ) == (
        "connectors.crm.client_secret: ${ZOHO_CLIENT_SECRET} is not set; set "
        "ZOHO_CLIENT_SECRET in the environment or write the value in the file (line 4)"
    )
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ)
    assert (raised.value.key, raised.value.line) == ("connectors.crm.client_secret", 4)
    assert raised.value.path == str(path)


def test_an_unset_connector_variable_makes_only_that_connector_unusable(tmp_path: Path) -> None:
    path = write(tmp_path, ISSUE_EXAMPLE)
    environ = {"CRMBRIDGE_TRIGGER_TOKEN": "t"}  # none of Zoho's: a laptop migrating CSV files
    config = load_config(path, environ, only_used=True)
    assert config.unusable("files") is None
    unusable = config.unusable("crm")
    assert unusable is not None
    assert (unusable.key, unusable.line, unusable.path) == (
        "connectors.crm.client_id",
        4,
        str(path),
    )
    assert "${ZOHO_CLIENT_ID} is not set" in unusable.message
    assert "2 more problems" in unusable.message
    with pytest.raises(ConfigError, match="ZOHO_CLIENT_ID"):
        load_config(path, environ)  # the daemon's load: every connector must be ready


def test_only_connector_variables_are_left_until_used(tmp_path: Path) -> None:
    path = write(tmp_path, ISSUE_EXAMPLE)
    environ = {k: v for k, v in ENV.items() if k != "CRMBRIDGE_TRIGGER_TOKEN"}
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ, only_used=True)
    assert raised.value.key == "server.trigger_token"


def test_a_bad_duration_is_reported_with_its_key_and_line(tmp_path: Path) -> None:
    text = ISSUE_EXAMPLE.replace(
        '    schedule: {every: 5m}      # or {cron: "*/5 * * * *"}\n',
        "    # Every five parsecs is\n    # not a time.\n    schedule:\n      every: 5 parsecs\n",
    )
    path = write(tmp_path, text)
    assert text.splitlines()[13] == "      every: 5 parsecs"

    assert only_problem(path) == (
        "jobs.crm-sync.schedule.every: '5 parsecs' is not a duration (line 14)"
    )


def test_a_misspelt_key_is_caught_with_a_suggestion(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        connectors: {files: {type: csv}}
        jobs:
          export:
            connector: files
            schedul: {every: 1h}
        """,
    )

    assert only_problem(path) == (
        "jobs.export.schedul: unknown key 'schedul'; did you mean 'schedule'? (line 5)"
    )


def test_a_job_naming_a_missing_connector(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        connectors: {crm: {type: zoho}}
        jobs:
          sync: {connector: crn}
        """,
    )

    assert only_problem(path) == (
        "jobs.sync.connector: no connector named 'crn' (configured: crm); "
        "did you mean 'crm'? (line 3)"
    )


def test_every_problem_is_found_at_once_in_file_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        defaults: {phone_region: XX, timezone: Mars/Olympus}
        connectors: {files: {type: csv, token: "${NOPE}"}}
        jobs:
          a:
            connector: ghost
            direction: sideways
            entities: [stakeholders, contacts]
            schedule: {cron: "* * * *"}
          b:
            connector: files
            schedule: {every: 1m, cron: "* * * * *"}
        server: {port: 99999}
        """,
    )
    problems = check_config(path, {})

    assert [(p.key, p.line) for p in problems] == [
        ("defaults.phone_region", 1),
        ("defaults.timezone", 1),
        ("connectors.files.token", 2),
        ("jobs.a.connector", 5),
        ("jobs.a.direction", 6),
        ("jobs.a.entities[1]", 7),
        ("jobs.a.schedule.cron", 8),
        ("jobs.b.schedule", 11),
        ("server.port", 12),
    ]
    messages = {p.key: p.message for p in problems}
    assert messages["jobs.a.direction"] == "'sideways' is not allowed; use 'pull', 'push' or 'both'"
    assert "Asia/Shanghai" in messages["defaults.timezone"]
    assert "Wrong number of fields" in messages["jobs.a.schedule.cron"]
    assert all(p.file == str(path) for p in problems)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("jobs:\n  a: {connector: x\n", r"not valid YAML: .* \(line 3\)$"),
        (
            "store:\n  url: a\n   bad: b\n",
            r"not valid YAML: mapping values are not allowed.* \(line 3\)$",
        ),
        ("", r"^the file is empty; config.example.yaml shows what to write$"),
        ("# only a comment\n", r"^the file is empty"),
        ("- store\n- jobs\n", r"^the top level must be a mapping of sections .* \(line 1\)$"),
        ("jobs: {}\njobs: {}\n", r"^jobs: given twice \(first on line 1\); keep one \(line 2\)$"),
    ],
)
def test_unreadable_files_get_a_one_line_message(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)

    with pytest.raises(ConfigError) as raised:
        load_config(path, {})
    message = str(raised.value)
    assert "\n" not in message
    assert re.search(expected, message.removeprefix(f"{path}: ")), message


def test_a_missing_file_says_how_to_name_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path / "nope.yaml", {})

    message = str(raised.value)
    assert "\n" not in message
    assert f"no config file at {tmp_path / 'nope.yaml'}" in message
    assert "-c/--config" in message
    assert "CRMBRIDGE_CONFIG" in message


def test_load_config_reports_the_first_problem_and_counts_the_rest(tmp_path: Path) -> None:
    path = write(tmp_path, "log: {level: LOUD}\nruns: {retention_days: 0}\n")

    with pytest.raises(ConfigError) as raised:
        load_config(path, {})
    assert raised.value.key == "log.level"
    assert raised.value.line == 1
    assert "1 more problem: `crmbridge config check` lists them all" in str(raised.value)


def test_secrets_are_never_printed(tmp_path: Path) -> None:
    text = ISSUE_EXAMPLE.replace(
        'store: {url: "sqlite:///crmbridge.db"}',
        'store: {url: "postgresql://hub:db-password-value@db/hub"}',
    )
    config = load_config(write(tmp_path, text), ENV)

    shown = [repr(config), str(config), str(config.redacted()), config.redacted_yaml()]
    for text_shown in shown:
        for secret in [*SECRETS, "db-password-value"]:
            assert secret not in text_shown
    assert isinstance(config.connectors["crm"].model_extra, dict)
    assert isinstance(config.connectors["crm"].model_extra["client_secret"], SecretStr)
    redacted = config.redacted()
    assert redacted["server"]["trigger_token"] == "**********"
    assert redacted["connectors"]["crm"]["refresh_token"] == "**********"
    assert redacted["connectors"]["crm"]["client_id"] == "1000.client"
    assert redacted["store"]["url"] == "postgresql://hub:**********@db/hub"
    assert redacted["jobs"]["crm-sync"]["schedule"]["every"] == "5m"


def test_urls_are_printed_without_their_credentials(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "connectors:\n  hook:\n    type: webhook\n"
        '    url: "https://ops:url-password-value@hooks.example/in?token=url-token-value&team=7"\n'
        "    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n",
    )
    config = load_config(path, {})
    shown = config.redacted_yaml()
    assert "url-password-value" not in shown
    assert "url-token-value" not in shown
    assert config.redacted()["connectors"]["hook"]["url"] == (
        "https://ops:**********@hooks.example/in?token=**********&team=7"
    )


def test_secret_values_stay_out_of_error_messages(tmp_path: Path) -> None:
    class Strict(BaseModel):
        model_config = ConfigDict(extra="forbid")
        api_key: SecretStr
        retries: int

    path = write(tmp_path, 'connectors: {x: {type: t, api_key: ["hunter2"], retries: many}}\n')
    problems = check_config(path, {}, {"t": Strict})

    assert [p.key for p in problems] == ["connectors.x.api_key", "connectors.x.retries"]
    assert all("hunter2" not in str(p) for p in problems)
    assert "'many' is not valid" in problems[1].message


def test_a_relative_sqlite_path_is_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "etc").mkdir()
    monkeypatch.chdir(tmp_path)
    relative = write(
        tmp_path / "etc", 'store: {url: "sqlite:///./var/hub.db?timeout=5"}\n', "a.yaml"
    )
    default = write(tmp_path / "etc", "runs: {retention_days: 7}\n", "b.yaml")
    absolute = write(tmp_path / "etc", 'store: {url: "sqlite:////srv/hub.db"}\n', "c.yaml")

    etc = (tmp_path / "etc").as_posix()
    assert load_config("etc/a.yaml", {}).store.url == f"sqlite:///{etc}/var/hub.db?timeout=5"
    assert load_config(default, {}).store.url == f"sqlite:///{etc}/crmbridge.db"
    assert load_config(absolute, {}).store.url == "sqlite:////srv/hub.db"
    assert relative.exists()


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("sqlite:///:memory:", "cannot be an in-memory SQLite database"),
        ("sqlite://", "cannot be an in-memory SQLite database"),
        ("sqlite://var/hub.db", "a SQLite URL has three slashes before a relative path"),
        ("mysql://u@h/db", "the store must be SQLite or PostgreSQL"),
    ],
)
def test_a_store_url_that_cannot_hold_a_hub_is_a_config_error(
    tmp_path: Path, url: str, says: str
) -> None:
    path = write(tmp_path, f'store: {{url: "{url}"}}\n')
    with pytest.raises(ConfigError) as raised:
        load_config(path, {})
    assert (raised.value.key, raised.value.line) == ("store.url", 1)
    assert says in str(raised.value)
    assert str(path.name) in str(raised.value)


def test_the_example_file_documents_a_valid_config() -> None:
    names = set(re.findall(r"\$\{([A-Z_]+)\}", EXAMPLE_FILE.read_text(encoding="utf-8")))
    environ = dict.fromkeys(names, "dummy")

    assert check_config(EXAMPLE_FILE, environ) == []
    config = load_config(EXAMPLE_FILE, environ)
    assert {c.type for c in config.connectors.values()} == {"zoho", "fxiaoke", "csv", "webhook"}
    schedules = [job.schedule for job in config.jobs.values() if job.schedule]
    assert {"every", "cron"} == {"every" if s.every else "cron" for s in schedules}
    assert config.resolve_path("data") == EXAMPLE_FILE.parent / "data"


def test_the_example_file_documents_every_key() -> None:
    lines = EXAMPLE_FILE.read_text(encoding="utf-8").splitlines()
    keys_in_file = {
        re.sub(r":.*", "", line).strip() for line in lines if re.match(r"^\s*\w+:", line)
    }

    def fields(model: type[BaseModel]) -> set[str]:
        return set(model.model_fields)

    config = Config()
    for section in ("store", "defaults", "server", "log", "runs"):
        assert fields(type(getattr(config, section))) <= keys_in_file, section
    from crmbridge.config import JobConfig

    assert fields(JobConfig) <= keys_in_file


def test_connector_settings_are_validated_by_the_connectors_models() -> None:
    class Zoho(BaseModel):
        model_config = ConfigDict(extra="forbid")
        data_centre: str
        client_id: str
        client_secret: SecretStr
        refresh_token: SecretStr
        region: str

    class Loose(BaseModel):
        model_config = ConfigDict(extra="allow")

    environ = dict.fromkeys(re.findall(r"\$\{([A-Z_]+)\}", EXAMPLE_FILE.read_text()), "x")
    config = load_config(EXAMPLE_FILE, environ)
    problems = validate_connector_settings(config, {"zoho": Zoho, "csv": Loose})

    line_of_crm = config.line_of("connectors.crm")
    assert [(p.key, p.line) for p in problems] == [
        ("connectors.crm.region", line_of_crm),
        ("connectors.fxiaoke.type", config.line_of("connectors.fxiaoke.type")),
        ("connectors.inbound.type", config.line_of("connectors.inbound.type")),
    ]
    assert problems[2].message == "unknown connector type 'webhook'; known types: csv, zoho"
    assert [str(p) for p in check_config(EXAMPLE_FILE, environ, {})][:1] == [
        f"connectors.crm.type: unknown connector type 'zoho'; known types: none installed "
        f"(line {config.line_of('connectors.crm.type')})"
    ]


def test_phone_region_and_timezone_are_checked(tmp_path: Path) -> None:
    good = load_config(write(tmp_path, "defaults: {phone_region: gb}\n"), {})
    assert good.defaults.phone_region == "GB"
    assert good.defaults.timezone == "UTC"

    norway = write(tmp_path, "defaults: {phone_region: NO}\n", "no.yaml")
    assert 'quote the region code, e.g. "NO"' in only_problem(norway)


def test_default_config_path() -> None:
    assert default_config_path({}) == Path("crmbridge.yaml")
    assert default_config_path({"CRMBRIDGE_CONFIG": "/etc/cb.yaml"}) == Path("/etc/cb.yaml")
    assert default_config_path({"CRMBRIDGE_CONFIG": ""}) == Path("crmbridge.yaml")


# --- durations ---------------------------------------------------------------

whole_seconds = st.integers(min_value=0, max_value=10**9).map(lambda s: timedelta(seconds=s))


@given(whole_seconds)
def test_durations_round_trip(duration: timedelta) -> None:
    text = format_duration(duration)
    assert parse_duration(text) == duration
    assert format_duration(parse_duration(text)) == text
    assert parse_duration(int(duration.total_seconds())) == duration
    assert parse_duration(str(int(duration.total_seconds()))) == duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("1h30m", 5400), ("2d", 172_800), ("1h 5s", 3605), (90, 90)],
)
def test_durations_as_people_write_them(text: str | int, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("bad", ["5 parsecs", "", "m", "1.5h", "30m1h", "-3", -3, True, "5M"])
def test_not_durations(bad: str | int) -> None:
    with pytest.raises(ValueError, match=r"is not a duration$"):
        parse_duration(bad)


def test_an_unset_variable_is_reported_once(tmp_path: Path) -> None:
    class Csv(BaseModel):
        directory: int

    path = write(tmp_path, 'connectors: {files: {type: csv, directory: "${DATA_DIR}"}}\n')

    assert [p.key for p in check_config(path, {}, {"csv": Csv})] == ["connectors.files.directory"]


def test_the_example_file_passes_the_installed_connectors_own_checks() -> None:
    from crmbridge.registry import discover, settings_models

    environ = {
        "ZOHO_CLIENT_ID": "1000.X",
        "ZOHO_CLIENT_SECRET": "s",
        "ZOHO_REFRESH_TOKEN": "r",
        "WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "FXIAOKE_APP_ID": "FSAID_131a2b3",
        "FXIAOKE_APP_SECRET": "s",
        "FXIAOKE_PERMANENT_CODE": "p",
    }
    models = settings_models(discover())
    assert {"zoho", "fxiaoke", "csv", "webhook"} <= set(models)
    assert check_config(EXAMPLE_FILE, environ, models) == []


def test_a_connector_whose_secret_is_unset_is_held_back_whole(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        connectors:
          files: {type: csv, directory: ./data}
          hooks: {type: webhook, url: "https://x.example/in", signature: standard, secret: "${HOOK_SECRET}"}
        """,
    )
    models = {"webhook": _RequiresSecret, "csv": _Anything}
    config = load_config(path, {}, models, only_used=True)
    unusable = config.unusable("hooks")
    assert unusable is not None
    assert unusable.key == "connectors.hooks.secret"  # the cause, not what it caused
    assert "${HOOK_SECRET} is not set" in unusable.message
    assert config.unusable("files") is None


class _Anything(BaseModel):
    model_config = ConfigDict(extra="allow")


class _RequiresSecret(BaseModel):
    url: str
    signature: str
    secret: str

    @model_validator(mode="after")
    def _consistent(self) -> _RequiresSecret:
        if self.signature == "standard" and not self.secret:
            raise ValueError("signature: standard needs a secret")
        return self


def test_unset_keys_name_only_the_unset_variables(tmp_path: Path) -> None:
    path = write(tmp_path, ISSUE_EXAMPLE.replace("data_centre: com", "data_centre: mars"))
    environ = {k: v for k, v in ENV.items() if k != "ZOHO_REFRESH_TOKEN"}
    models = {"zoho": _Anything, "csv": _Anything}
    config = load_config(path, environ, models, only_used=True)
    assert config.unset_keys("crm") == ["connectors.crm.refresh_token"]
    assert config.unset_keys("files") == []


def test_an_unset_variable_is_reported_before_what_its_empty_value_caused(
    tmp_path: Path,
) -> None:
    # the connector's own check ("needs a secret") sits on the section's line, above the
    # secret's: `crmbridge run` named it and not the variable to set
    path = write(
        tmp_path,
        """\
        connectors:
          hooks:
            type: webhook
            url: "https://x.example/in"
            secret: "whsec_${HOOK_SECRET}"
        """,
    )
    from crmbridge.registry import discover, settings_models

    models = {"webhook": settings_models(discover())["webhook"]}
    first, *rest = check_config(path, {}, models)
    assert (first.key, first.line) == ("connectors.hooks.secret", 5)
    assert "${HOOK_SECRET} is not set" in first.message
    assert rest, "what the empty value caused is still listed, after it"
    with pytest.raises(ConfigError) as raised:
        load_config(path, {}, models)
    assert raised.value.key == "connectors.hooks.secret"
    assert "${HOOK_SECRET} is not set" in raised.value.message
    assert str(path) in str(raised.value)
