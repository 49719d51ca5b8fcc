"""Reading the config file: which file, its YAML with the line of every key, ``${VAR}``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from crmbridge.config.problems import Report, key_path

__all__ = [
    "CONFIG_ENV_VAR",
    "DEFAULT_CONFIG_PATH",
    "default_config_path",
    "read_yaml",
    "substitute",
]

DEFAULT_CONFIG_PATH = "crmbridge.yaml"
"""The config file used when neither ``-c/--config`` nor ``CRMBRIDGE_CONFIG`` is given."""
CONFIG_ENV_VAR = "CRMBRIDGE_CONFIG"
"""The environment variable naming the config file."""

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ENV_REF = re.compile(r"\$\$\{|\$\{([^}]*)\}")


def default_config_path(environ: Mapping[str, str]) -> Path:
    """The config file to use without ``-c``: ``$CRMBRIDGE_CONFIG``, else ``crmbridge.yaml``."""
    return Path(environ.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG_PATH)


class _Unusable(Exception):
    """The file cannot be read as a config at all: one problem, no key path."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def read_yaml(path: Path, report: Report) -> dict[str, Any] | None:
    """The file's top-level mapping, with ``report.lines`` filled; ``None`` if unusable."""
    try:
        node, data = _parse_yaml(path)
    except _Unusable as exc:
        report.add((), exc.message, exc.line)
        return None
    report.lines[""] = 1
    _index(node, (), report)
    return data


def _parse_yaml(path: Path) -> tuple[yaml.MappingNode, dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise _Unusable(
            f"no config file at {path}; create it (config.example.yaml shows every key), "
            f"or name another with -c/--config or {CONFIG_ENV_VAR}"
        ) from None
    except IsADirectoryError:
        raise _Unusable(f"{path} is a directory; name the config file itself") from None
    except UnicodeDecodeError as exc:
        raise _Unusable(
            f"not UTF-8 text (bad byte at offset {exc.start}); save the file as UTF-8"
        ) from None
    except OSError as exc:
        raise _Unusable(f"cannot read the config file: {exc.strerror}") from None

    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise _Unusable("the file is empty; config.example.yaml shows what to write")
        if not isinstance(node, yaml.MappingNode):
            raise _Unusable(
                "the top level must be a mapping of sections (store, defaults, connectors, "
                "jobs, server, log, runs)",
                node.start_mark.line + 1,
            )
        return node, loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        what = exc.problem or exc.context or "cannot be parsed"
        if what.startswith("but ") and exc.context:
            what = f"{exc.context}, {what}"
        raise _Unusable(f"not valid YAML: {what}; {_yaml_hint(what, text, line)}", line) from None
    except yaml.YAMLError as exc:
        raise _Unusable(f"not valid YAML: {exc}") from None
    finally:
        loader.dispose()


def _yaml_hint(problem: str, text: str, line: int | None) -> str:
    source = text.splitlines()[line - 1] if line and line <= len(text.splitlines()) else ""
    if "\\t" in problem:
        return "indent with spaces, not tabs"
    if "constructor for the tag" in problem:
        return "crmbridge reads plain YAML; remove the !! tag"
    if "${" in source:
        return 'quote values that use ${...}, e.g. "${VAR}"'
    return "check the indentation, and quote values containing ': ', ' #' or braces"


def _index(node: yaml.Node, parts: tuple[str | int, ...], report: Report) -> None:
    """Record the line of every key path under ``node``; report keys given twice."""
    children: list[tuple[str | int, yaml.Node, yaml.Node]] = []
    if isinstance(node, yaml.MappingNode):
        children = [(k.value, k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)]
    elif isinstance(node, yaml.SequenceNode):
        children = [(i, item, item) for i, item in enumerate(node.value)]
    seen: dict[str | int, int] = {}
    for part, key_node, value_node in children:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key_line = key_node.start_mark.line + 1
        if part in seen:
            report.add(
                (*parts, part), f"given twice (first on line {seen[part]}); keep one", key_line
            )
        seen[part] = key_line
        # Point a scalar at its value; a section at its key, where the reader looks.
        scalar = isinstance(value_node, yaml.ScalarNode)
        report.lines[key_path((*parts, part))] = (
            value_node.start_mark.line + 1 if scalar else key_line
        )
        _index(value_node, (*parts, part), report)


def substitute(
    value: Any,
    parts: tuple[str | int, ...],
    environ: Mapping[str, str],
    report: Report,
    unset: set[str],
) -> Any:
    """``value`` with ``${VAR}`` references in every string filled from ``environ``."""
    if isinstance(value, dict):
        # Keys are names; YAML may have read `1:` as a number.
        return {
            str(k): substitute(v, (*parts, str(k)), environ, report, unset)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [substitute(v, (*parts, i), environ, report, unset) for i, v in enumerate(value)]
    if not isinstance(value, str) or "$" not in value:
        return value

    def fill(match: re.Match[str]) -> str:
        if match[0] == "$${":
            return "${"
        name, default_given, default = match[1].partition(":-")
        if not _ENV_NAME.fullmatch(name):
            report.add(
                parts,
                f"{match[0]!r} is not a variable reference; write ${{NAME}} or "
                "${NAME:-default}, or $${ for a literal ${",
            )
            return match[0]
        got = environ.get(name)
        if default_given:
            return got or default
        if got is None:
            unset.add(key_path(parts))
            report.add(
                parts,
                f"${{{name}}} is not set; set {name} in the environment "
                "or write the value in the file",
            )
            return ""
        return got

    return _ENV_REF.sub(fill, value)
