"""Problems in a config file: key paths, lines, and pydantic's errors as messages for people."""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from typing_extensions import override

from crmbridge.config.secrets import SECRET_KEY
from crmbridge.errors import ConfigError

__all__ = [
    "ConfigProblem",
    "Report",
    "add_validation_errors",
    "did_you_mean",
    "first_of",
    "key_path",
]

_KEY = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong with a config file: where (key path, line, file) and what to do.

    ``str()`` gives ``jobs.crm-sync.schedule.every: '5 parsecs' is not a duration (line 14)``.
    """

    key: str
    message: str
    line: int | None = None
    file: str | None = None

    @override
    def __str__(self) -> str:
        text = f"{self.key}: {self.message}" if self.key else self.message
        return f"{text} (line {self.line})" if self.line is not None else text

    def to_error(self) -> ConfigError:
        """This problem as the :class:`ConfigError` to raise."""
        return ConfigError(self.message, path=self.file, key=self.key or None, line=self.line)


def first_of(problems: Sequence[ConfigProblem]) -> ConfigError:
    """The first of ``problems`` as the error to raise, saying how many more there are."""
    error = problems[0].to_error()
    if len(problems) > 1:
        more = len(problems) - 1
        error.message = error.message + (
            f"; {more} more problem{'s' if more > 1 else ''}: "
            "`crmbridge config check` lists them all"
        )
    return error


@dataclass
class Report:
    """The problems found so far in one file, and the line of every key path in it."""

    file: str | None
    lines: dict[str, int] = field(default_factory=dict)
    problems: list[ConfigProblem] = field(default_factory=list)

    def add(self, parts: Sequence[str | int], message: str, line: int | None = None) -> None:
        """Report ``message`` at key path ``parts``, on its line unless ``line`` is given."""
        line = line if line is not None else _line(self.lines, parts)
        self.problems.append(ConfigProblem(key_path(parts), message, line, self.file))


def add_validation_errors(
    exc: ValidationError,
    model: type[BaseModel],
    prefix: tuple[str | int, ...],
    report: Report,
    skip: Container[str] = (),
) -> None:
    """pydantic's errors as problems with key paths, lines and messages for people."""
    for error in exc.errors(include_url=False):
        loc = tuple(part for part in error["loc"] if part != "[key]")
        parts = (*prefix, *loc)
        if key_path(parts) not in skip:
            report.add(parts, _message(error, loc, model))


def key_path(parts: Iterable[str | int]) -> str:
    """``("jobs", "a", "entities", 1)`` -> ``jobs.a.entities[1]``; odd keys as ``["a.b"]``."""
    text = ""
    for part in parts:
        if isinstance(part, int) and not isinstance(part, bool):
            text += f"[{part}]"
        elif not _KEY.fullmatch(str(part)):
            text += f"[{str(part)!r}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """``did you mean 'x'?`` for the choice closest to ``word``, if any is close."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"did you mean {close[0]!r}?" if close else None


def _line(lines: Mapping[str, int], parts: Sequence[str | int]) -> int | None:
    """The line of ``parts``, or of its nearest enclosing key (a missing key has none)."""
    for end in range(len(parts), -1, -1):
        line = lines.get(key_path(parts[:end]))
        if line is not None:
            return line
    return None


def _message(error: Any, loc: tuple[str | int, ...], model: type[BaseModel]) -> str:
    kind: str = error["type"]
    text: str = error["msg"]
    last = str(loc[-1]) if loc else ""
    value = error.get("input")
    shown = "the value" if SECRET_KEY.search(last) else _short_repr(value)
    if kind == "extra_forbidden":
        known = _known_keys(model, loc[:-1])
        hint = did_you_mean(last, known) or (
            f"known keys: {', '.join(known)}" if known else "remove it"
        )
        return f"unknown key {last!r}; {hint}"
    if kind == "missing":
        return "is required; add it"
    if kind in ("value_error", "assertion_error"):
        return text.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind == "literal_error":
        return f"{shown} is not allowed; use {error['ctx']['expected']}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping of keys to values, got {_yaml_kind(value)}"
    return f"{shown} is not valid: {text[:1].lower()}{text[1:]}"


def _known_keys(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The field names of the model found at ``loc`` below ``model``, for suggestions."""
    current: Any = model
    for part in loc:
        current = _unwrap_optional(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return []
            current = field.annotation
        elif typing.get_origin(current) is dict:
            current = typing.get_args(current)[1]
        else:
            return []
    current = _unwrap_optional(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        others = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(others) == 1:
            return others[0]
    return annotation


def _short_repr(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _yaml_kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return f"the value {_short_repr(value)}"
