"""Problems found in mapping files, and YAML reading that keeps the line of every key."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from crmbridge.errors import ConfigError

__all__ = ["Loc", "MappingProblem", "Problems", "choices", "key_path", "read_yaml"]

Part = str | int


def key_path(parts: Iterable[Part]) -> str:
    """``("entities", "stakeholders", "fields", 3)`` -> ``entities.stakeholders.fields[3]``."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def choices(allowed: Iterable[str], given: str | None = None) -> str:
    """``"choose one of a, b, c"`` with a close match first (``did you mean b?``) when there is one."""
    names = sorted(allowed)
    hint = ""
    if given is not None:
        close = difflib.get_close_matches(given, names, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
    return f"{hint}choose one of {', '.join(names)}"


@dataclass(frozen=True, slots=True)
class MappingProblem:
    """One thing wrong with a mapping: the file, the key path, the line, and what to do.

    ``str()`` gives ``mappings/my.yaml: entities.stakeholders.fields[3].transform:
    unknown transform 'phon'; did you mean phone? choose one of ... (line 42)``.
    """

    file: str
    key: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        text = (
            f"{self.file}: {self.key}: {self.message}"
            if self.key
            else f"{self.file}: {self.message}"
        )
        return f"{text} (line {self.line})" if self.line is not None else text

    def to_error(self) -> ConfigError:
        """This problem as the :class:`ConfigError` to raise."""
        return ConfigError(self.message, path=self.file, key=self.key or None, line=self.line)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, for ``--json`` output."""
        return {"file": self.file, "key": self.key, "line": self.line, "message": self.message}


@dataclass(frozen=True, slots=True)
class Loc:
    """Where a value sits: its file, key path and line; :meth:`at` descends into a child key."""

    file: str
    parts: tuple[Part, ...]
    lines: dict[tuple[Part, ...], int]

    @property
    def line(self) -> int | None:
        """The line of this key, else of its nearest parent that has one."""
        parts = self.parts
        while parts:
            if parts in self.lines:
                return self.lines[parts]
            parts = parts[:-1]
        return None

    @property
    def key(self) -> str:
        """The dotted key path."""
        return key_path(self.parts)

    def at(self, *parts: Part) -> Loc:
        """The location of a child key."""
        return Loc(self.file, self.parts + parts, self.lines)

    def problem(self, message: str) -> MappingProblem:
        """A problem at this location."""
        return MappingProblem(self.file, self.key, message, self.line)


class Problems(list[MappingProblem]):
    """Problems collected while reading and checking a mapping."""

    def add(self, loc: Loc, message: str) -> None:
        """Record ``message`` at ``loc``."""
        self.append(loc.problem(message))


def read_yaml(path: Path) -> tuple[Any, dict[tuple[Part, ...], int]]:
    """Parse ``path``; return its data and the (1-based) line of every key path in it.

    Raises :class:`ConfigError` for a missing file or bad YAML, with the line.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the mapping file: {exc.strerror}", path=str(path)) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"not valid YAML: {reason}", path=str(path), line=line) from None
    lines: dict[tuple[Part, ...], int] = {}
    if node is None:
        return None, lines
    loader = yaml.SafeLoader("")
    try:
        data = _build(node, (), lines, loader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", path=str(path)) from None
    finally:
        loader.dispose()
    return data, lines


def _build(
    node: yaml.Node, parts: tuple[Part, ...], lines: dict[tuple[Part, ...], int], loader: Any
) -> Any:
    lines.setdefault(parts, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            key = key if isinstance(key, str | int) else str(key)
            lines[(*parts, key)] = key_node.start_mark.line + 1
            result[key] = _build(value_node, (*parts, key), lines, loader)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*parts, i), lines, loader) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)
