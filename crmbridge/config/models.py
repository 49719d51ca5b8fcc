"""The validated config: one frozen pydantic model per section, and :class:`Config`."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from typing_extensions import override

from crmbridge.config.problems import ConfigProblem, first_of
from crmbridge.config.secrets import hide_secret_keys, mask_url, mask_urls, reveal
from crmbridge.durations import format_duration, parse_duration
from crmbridge.errors import ConfigError
from crmbridge.scheduler import validate_cron

__all__ = [
    "DEFAULT_ENTITIES",
    "Config",
    "ConflictPolicy",
    "ConflictsConfig",
    "ConnectorConfig",
    "DefaultsConfig",
    "DeletePolicy",
    "Direction",
    "Duration",
    "Entity",
    "JobConfig",
    "LogConfig",
    "MassDeleteConfig",
    "RunsConfig",
    "ScheduleConfig",
    "ServerConfig",
    "StoreConfig",
    "resolve_sqlite_url",
]

Entity = Literal[
    "organizations", "stakeholders", "interactions", "requirements", "requirement_changes"
]
ConflictPolicy = Literal["newest", "hub", "remote", "prefer_non_empty", "manual"]
Direction = Literal["pull", "push", "both"]
DeletePolicy = Literal["propagate", "ignore", "archive"]

DEFAULT_ENTITIES: tuple[Entity, ...] = (
    "organizations",
    "stakeholders",
    "interactions",
    "requirement_changes",
)
"""What a job syncs when it lists no ``entities``."""

Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, when_used="json"),
]

_SQLITE_URL = re.compile(r"(?P<scheme>sqlite(?:\+\w+)?):///(?P<path>[^?]*)(?P<query>\?.*)?")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoreConfig(_Section):
    """Where the hub keeps its records: a SQLAlchemy URL (SQLite or PostgreSQL)."""

    url: str = "sqlite:///crmbridge.db"

    @field_validator("url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        from crmbridge.store.engine import is_in_memory, normalize_url

        try:
            url = normalize_url(value)
        except ConfigError as exc:
            raise ValueError(exc.message) from None
        if is_in_memory(url):
            raise ValueError(
                "the hub cannot be an in-memory SQLite database: it would be gone when the "
                "command ends; give a file, such as sqlite:///crmbridge.db"
            )
        return value

    @override
    def __repr_args__(self) -> Iterable[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, mask_url(value) if name == "url" else value


class DefaultsConfig(_Section):
    """Defaults for values records leave implicit: phone numbers' region, times' zone."""

    phone_region: str | None = None
    timezone: str = "UTC"

    @field_validator("phone_region", mode="before")
    @classmethod
    def _known_region(cls, value: Any) -> Any:
        # YAML 1.1 reads a bare NO (Norway) as false.
        if isinstance(value, bool):
            raise ValueError('got a yes/no value; quote the region code, e.g. "NO"')
        if not isinstance(value, str):
            return value
        code = value.strip().upper()
        if code not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(
                f"{value!r} is not a phone region; use a two-letter country code such as CN or US"
            )
        return code

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError(
                f"{value!r} is not a time zone; use an IANA name such as Asia/Shanghai or UTC"
            ) from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        """The default time zone as a ``tzinfo``."""
        return ZoneInfo(self.timezone)


class ConnectorConfig(BaseModel):
    """One connector section: its ``type``, an optional ``mapping``, and its own settings.

    The settings are kept as given (secret-looking ones as ``SecretStr``); the
    connector package validates them with its own model, see
    :func:`validate_connector_settings`.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    type: str
    mapping: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _hide_secrets(cls, data: Any) -> Any:
        return hide_secret_keys(data) if isinstance(data, dict) else data

    def settings(self) -> dict[str, Any]:
        """The connector-specific settings with secrets revealed, for the connector's model."""
        return {key: reveal(value) for key, value in (self.model_extra or {}).items()}


class ScheduleConfig(_Section):
    """When a job runs: ``every`` a duration, or on a 5-field ``cron`` expression."""

    every: Duration | None = None
    cron: str | None = None

    @field_validator("every")
    @classmethod
    def _positive(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise ValueError("must be longer than 0s")
        return value

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str | None) -> str | None:
        problem = None if value is None else validate_cron(value)
        if problem is not None:
            raise ValueError(
                f"{value!r} is not a cron expression ({problem}); "
                'write 5 fields: minute hour day month weekday, e.g. "*/5 * * * *"'
            )
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> ScheduleConfig:
        if (self.every is None) == (self.cron is None):
            raise ValueError(
                "give either `every: <duration>` or `cron: <expression>`; "
                "leave `schedule` out for a job run only by hand"
            )
        return self


class ConflictsConfig(_Section):
    """How a field changed differently on both sides is settled: one policy, per-field overrides."""

    policy: ConflictPolicy = "newest"
    fields: dict[str, ConflictPolicy] = Field(default_factory=dict)


class MassDeleteConfig(_Section):
    """A run that would delete more than either limit stops instead (a guard against wipes)."""

    max_fraction: float = Field(0.2, gt=0, le=1)
    max_count: int = Field(500, ge=0)


class JobConfig(_Section):
    """One sync job: hub <-> one connector, for some entities, in some direction."""

    connector: str
    entities: tuple[Entity, ...] = DEFAULT_ENTITIES
    direction: Direction = "both"
    schedule: ScheduleConfig | None = None
    conflicts: ConflictsConfig = Field(default_factory=ConflictsConfig)
    deletes: DeletePolicy = "ignore"
    mass_delete: MassDeleteConfig = Field(default_factory=MassDeleteConfig)
    max_record_failures: int = Field(5, ge=0)
    batch_size: int | None = Field(None, ge=1)

    @field_validator("entities")
    @classmethod
    def _distinct(cls, value: tuple[Entity, ...]) -> tuple[Entity, ...]:
        if not value:
            raise ValueError("list at least one entity, or leave `entities` out for the default")
        twice = sorted({entity for entity in value if value.count(entity) > 1})
        if twice:
            raise ValueError(f"{', '.join(twice)} listed more than once")
        return value


class ServerConfig(_Section):
    """The HTTP endpoint of ``crmbridge run``: webhooks, triggers, status, metrics."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    trigger_token: SecretStr | None = None
    max_body_bytes: int = Field(1_048_576, ge=1)
    shutdown_grace_s: float = Field(30.0, ge=0)
    lease_ttl_s: float = Field(60.0, gt=0)

    @field_validator("trigger_token", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        # `${CRMBRIDGE_TRIGGER_TOKEN:-}` must mean "no token", never "the empty token".
        return None if value == "" else value


class LogConfig(_Section):
    """Logging: level and line format."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    format: Literal["text", "json"] = "text"

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class RunsConfig(_Section):
    """The run history kept in the store, and how runs use the machine."""

    retention_days: int = Field(30, ge=1)
    map_workers: int = Field(0, ge=0, le=1)
    """A worker process (1) that maps and validates pulled pages while the hub
    writes (the run maps the share of each page that keeps both busy); 0 (the
    default): the run maps in its own process."""


class Config(_Section):
    """The whole validated config; build it with :func:`load_config`."""

    store: StoreConfig = Field(default_factory=StoreConfig)
    defaults: DefaultsConfig = Field(default_factory=DefaultsConfig)
    connectors: dict[str, ConnectorConfig] = Field(default_factory=dict)
    jobs: dict[str, JobConfig] = Field(default_factory=dict)
    server: ServerConfig = Field(default_factory=ServerConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    runs: RunsConfig = Field(default_factory=RunsConfig)

    _source_path: Path | None = PrivateAttr(default=None)
    _lines: dict[str, int] = PrivateAttr(default_factory=dict)
    _unusable: dict[str, list[ConfigProblem]] = PrivateAttr(default_factory=dict)
    _unset: dict[str, list[str]] = PrivateAttr(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _prepare(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict):
            return data
        # An empty section (`jobs:` with only comments under it) means its defaults.
        data = {key: value for key, value in data.items() if value is not None}
        base_dir = (info.context or {}).get("base_dir")
        store = data.get("store", {})
        if isinstance(base_dir, Path) and isinstance(store, dict):
            url = store.get("url", StoreConfig.model_fields["url"].default)
            if isinstance(url, str):
                data["store"] = {**store, "url": resolve_sqlite_url(url, base_dir)}
        return data

    @property
    def source_path(self) -> Path | None:
        """The file this config was loaded from (absolute), or ``None`` if built in code."""
        return self._source_path

    @property
    def base_dir(self) -> Path:
        """The directory relative paths in the config are relative to."""
        return self._source_path.parent if self._source_path else Path.cwd()

    def resolve_path(self, value: str | os.PathLike[str]) -> Path:
        """A path from the config, made absolute against :attr:`base_dir`."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    def unusable(self, connector: str) -> ConfigError | None:
        """Why connector ``connector`` cannot be used although the config loaded (a variable
        its settings need is unset; see ``load_config(only_used=True)``), else ``None``."""
        problems = self._unusable.get(connector)
        return first_of(problems) if problems else None

    def unset_keys(self, connector: str) -> list[str]:
        """The key paths of ``connector``'s settings whose variable is unset (see
        :meth:`unusable`): ``connectors.crm.refresh_token``, ..."""
        return list(self._unset.get(connector, ()))

    def line_of(self, key: str) -> int | None:
        """The line of a dotted key path (``jobs.crm-sync.schedule``) in the file, if known."""
        return self._lines.get(key)

    def redacted(self) -> dict[str, Any]:
        """The config as plain data that is safe to print: secrets show as ``**********``."""
        data: dict[str, Any] = mask_urls(self.model_dump(mode="json"))
        return data

    def redacted_yaml(self) -> str:
        """:meth:`redacted` as YAML, in the file's key order."""
        return yaml.safe_dump(self.redacted(), sort_keys=False, allow_unicode=True)


def resolve_sqlite_url(url: str, base_dir: Path) -> str:
    """Make a relative SQLite path in ``url`` absolute against ``base_dir``; others unchanged."""
    match = _SQLITE_URL.fullmatch(url)
    if match is None or match["path"] in ("", ":memory:") or match["path"].startswith("file:"):
        return url
    path = Path(match["path"]).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    return f"{match['scheme']}:///{path.as_posix()}{match['query'] or ''}"
