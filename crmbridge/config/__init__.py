"""The config file (``crmbridge.yaml``) and the environment, validated.

One YAML file configures every command::

    store:      {url: "sqlite:///crmbridge.db"}
    defaults:   {phone_region: CN, timezone: Asia/Shanghai}
    connectors: {<name>: {type: zoho, ...connector settings...}}
    jobs:       {<name>: {connector: <name>, entities: [...], schedule: {every: 5m}}}
    server:     {host: 127.0.0.1, port: 8080, trigger_token: "${CRMBRIDGE_TRIGGER_TOKEN}"}
    log:        {level: INFO, format: text}
    runs:       {retention_days: 30}

``config.example.yaml`` documents every key. How a file becomes a :class:`Config`:

1. the file is read and parsed with PyYAML, keeping the line of every key;
2. ``${VAR}`` and ``${VAR:-default}`` in string values are filled from the
   ``environ`` mapping passed in (``$${`` writes a literal ``${``); an unset
   ``${VAR}`` without a default is a problem;
3. jobs are cross-checked against the connectors they name;
4. the pydantic models of :mod:`crmbridge.config.models` validate everything
   else, with unknown keys forbidden so typos are caught;
5. optionally, every connector section is validated by the pydantic model its
   connector package registers for its ``type`` (:func:`validate_connector_settings`).

:func:`check_config` gathers every problem of every step at once, each with its
dotted key path and line; :func:`load_config` raises :class:`ConfigError` for the
first. A relative SQLite path in ``store.url`` is relative to the config file's
directory, not to the working directory, so ``crmbridge -c /etc/crmbridge/x.yaml``
finds the same database from anywhere.

Secrets (``server.trigger_token`` and, in connector sections, every key whose
name contains ``secret``, ``token``, ``password``, ``passphrase``, ``api_key``
or ``private_key``) are :class:`~pydantic.SecretStr`: they print as
``**********`` in ``repr``, ``str`` and :meth:`Config.redacted`, which also
masks any URL's password and its secret-looking query values (``?token=``).
"""

from __future__ import annotations

from crmbridge.config.loading import check_config, load_config, validate_connector_settings
from crmbridge.config.models import (
    DEFAULT_ENTITIES,
    Config,
    ConflictsConfig,
    ConnectorConfig,
    DefaultsConfig,
    JobConfig,
    LogConfig,
    MassDeleteConfig,
    RunsConfig,
    ScheduleConfig,
    ServerConfig,
    StoreConfig,
    resolve_sqlite_url,
)
from crmbridge.config.problems import ConfigProblem
from crmbridge.config.reading import CONFIG_ENV_VAR, DEFAULT_CONFIG_PATH, default_config_path
from crmbridge.config.secrets import mask_url, mask_urls

__all__ = [
    "CONFIG_ENV_VAR",
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_ENTITIES",
    "Config",
    "ConfigProblem",
    "ConflictsConfig",
    "ConnectorConfig",
    "DefaultsConfig",
    "JobConfig",
    "LogConfig",
    "MassDeleteConfig",
    "RunsConfig",
    "ScheduleConfig",
    "ServerConfig",
    "StoreConfig",
    "check_config",
    "default_config_path",
    "load_config",
    "mask_url",
    "mask_urls",
    "resolve_sqlite_url",
    "validate_connector_settings",
]
