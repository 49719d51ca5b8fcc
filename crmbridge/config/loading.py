"""From a file to a :class:`Config`: every step run, every problem gathered."""

from __future__ import annotations

import os
import re
from collections.abc import Container, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from crmbridge.config.models import Config
from crmbridge.config.problems import (
    ConfigProblem,
    Report,
    add_validation_errors,
    did_you_mean,
    first_of,
)
from crmbridge.config.reading import read_yaml, substitute

__all__ = ["check_config", "load_config", "validate_connector_settings"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def check_config(
    path: str | os.PathLike[str],
    environ: Mapping[str, str],
    connector_models: Mapping[str, type[BaseModel]] | None = None,
) -> list[ConfigProblem]:
    """Every problem in the config file at ``path``, in file order; empty when it is good.

    With ``connector_models`` (connector type -> its settings model) every
    connector section is validated too, and an unknown type is a problem;
    without, connector types and settings are not checked.
    """
    return _analyse(Path(path), environ, connector_models)[1]


def load_config(
    path: str | os.PathLike[str],
    environ: Mapping[str, str],
    connector_models: Mapping[str, type[BaseModel]] | None = None,
    *,
    only_used: bool = False,
) -> Config:
    """Load and validate the config file at ``path``.

    Raises :class:`ConfigError` with the file, key path and line of the first
    problem (and how many more there are); it never lets a parser traceback out.
    With ``only_used``, an unset ``${VAR}`` in a connector's settings does not stop
    the load: that connector alone is unusable (:meth:`Config.unusable`), so a
    command that never uses it (a CSV migration beside a Zoho connector whose
    secrets live on the server) runs.
    """
    config, problems = _analyse(Path(path), environ, connector_models, only_used=only_used)
    if problems or config is None:
        raise first_of(problems)
    return config


def validate_connector_settings(
    config: Config, models: Mapping[str, type[BaseModel]]
) -> list[ConfigProblem]:
    """Validate each connector section with the model registered for its ``type``.

    Problems carry key paths such as ``connectors.crm.client_id`` and lines
    from the file; a type with no model is a problem naming the known types.
    """
    report = Report(str(config.source_path) if config.source_path else None, config._lines)
    for name, section in config.connectors.items():
        _check_connector(name, section.type, section.settings(), models, report)
    return report.problems


def _analyse(
    path: Path,
    environ: Mapping[str, str],
    connector_models: Mapping[str, type[BaseModel]] | None,
    *,
    only_used: bool = False,
) -> tuple[Config | None, list[ConfigProblem]]:
    report = Report(str(path))
    data = read_yaml(path, report)
    if data is None:
        return None, report.problems
    unset: set[str] = set()
    data = substitute(data, (), environ, report, unset)
    _cross_check(data, report)
    config: Config | None = None
    try:
        config = Config.model_validate(data, context={"base_dir": path.absolute().parent})
    except ValidationError as exc:
        # An unset variable is already reported; its empty stand-in would be reported twice.
        add_validation_errors(exc, Config, (), report, skip=unset)
    if connector_models is not None:
        _check_raw_connectors(data.get("connectors"), connector_models, report, unset)
    problems = _in_file_order(report.problems, unset)
    held: dict[str, list[ConfigProblem]] = {}
    if only_used and config is not None:
        # a connector with an unset variable is held back whole: its settings' other
        # problems may come of the empty stand-in (a signature that needs the secret)
        waiting = {_connector_of(key) for key in unset} - {None}
        kept = []
        for problem in problems:
            name = _connector_of(problem.key)
            if name is not None and name in waiting:
                held.setdefault(name, []).append(problem)
            else:
                kept.append(problem)
        problems = kept
        for found in held.values():  # the unset variables first: the cause to name
            found.sort(key=lambda problem: problem.key not in unset)
    if config is None or problems:
        return None, problems
    config._source_path = path.absolute()
    config._lines = report.lines
    config._unusable = held
    config._unset = {name: [p.key for p in found if p.key in unset] for name, found in held.items()}
    return config, []


def _in_file_order(problems: list[ConfigProblem], unset: Container[str]) -> list[ConfigProblem]:
    """``problems`` by line, each unset variable before what its empty stand-in caused.

    A section's own check (``signature: standard needs a secret``) is reported on
    the section's line, above the variable's: it goes right after the variable,
    so the first problem named is the variable to set.
    """

    def place(problem: ConfigProblem) -> tuple[int, bool]:
        line = problem.line or 0
        below = [
            other.line or 0
            for other in problems
            if other.key in unset and other.key.startswith((problem.key + ".", problem.key + "["))
        ]
        return max([line, *below]), problem.key not in unset

    return sorted(problems, key=place)


def _connector_of(key: str) -> str | None:
    """The connector a key path lies in (``connectors.crm.client_secret`` -> ``crm``)."""
    section, _, rest = key.partition(".")
    name = re.split(r"[.\[]", rest, maxsplit=1)[0]
    return name if section == "connectors" and _NAME.fullmatch(name) else None


def _cross_check(data: Mapping[str, Any], report: Report) -> None:
    """Names usable in URLs and commands; every job names a configured connector."""
    for section in ("connectors", "jobs"):
        names = data.get(section)
        for name in names if isinstance(names, dict) else {}:
            if not _NAME.fullmatch(name):
                report.add(
                    (section, name),
                    f"{name!r} cannot be a name; use letters, digits, '-' and '_' "
                    "(names appear in commands and URLs)",
                )
    connectors = data.get("connectors")
    jobs = data.get("jobs")
    known = list(connectors) if isinstance(connectors, dict) else []
    for name, job in jobs.items() if isinstance(jobs, dict) else ():
        target = job.get("connector") if isinstance(job, dict) else None
        if isinstance(target, str) and target not in known:
            choices = f"configured: {', '.join(known)}" if known else "none configured"
            fix = did_you_mean(target, known) or f"add connectors.{target}"
            report.add(
                ("jobs", name, "connector"), f"no connector named {target!r} ({choices}); {fix}"
            )


def _check_raw_connectors(
    sections: Any, models: Mapping[str, type[BaseModel]], report: Report, skip: Container[str]
) -> None:
    for name, section in sections.items() if isinstance(sections, dict) else ():
        if isinstance(section, dict) and isinstance(section.get("type"), str):
            settings = {k: v for k, v in section.items() if k not in ("type", "mapping")}
            _check_connector(name, section["type"], settings, models, report, skip)


def _check_connector(
    name: str,
    kind: str,
    settings: dict[str, Any],
    models: Mapping[str, type[BaseModel]],
    report: Report,
    skip: Container[str] = (),
) -> None:
    model = models.get(kind)
    if model is None:
        known = ", ".join(sorted(models)) or "none installed"
        hint = did_you_mean(kind, models)
        report.add(
            ("connectors", name, "type"),
            f"unknown connector type {kind!r}; known types: {known}"
            + (f"; {hint}" if hint else ""),
        )
        return
    try:
        model.model_validate(settings)
    except ValidationError as exc:
        add_validation_errors(exc, model, ("connectors", name), report, skip)
