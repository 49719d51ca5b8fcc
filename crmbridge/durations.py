"""Durations as people write them in config files: ``30s``, ``5m``, ``1h30m``, ``2d``.

A duration is whole units, largest first, each unit at most once (``d``, ``h``,
``m``, ``s``; spaces between parts are allowed), or a plain whole number of
seconds (``90`` or ``"90"``). :func:`format_duration` writes the canonical
form back, so ``parse_duration(format_duration(d)) == d`` for every whole-second
duration.
"""

from __future__ import annotations

import re
from datetime import timedelta

__all__ = ["format_duration", "parse_duration"]

_UNITS = (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))
_PATTERN = re.compile(
    r"^\s*(?:(?P<d>\d+)\s*d)?\s*(?:(?P<h>\d+)\s*h)?\s*(?:(?P<m>\d+)\s*m)?\s*(?:(?P<s>\d+)\s*s)?\s*$"
)


def parse_duration(value: str | int | timedelta) -> timedelta:
    """Read a duration such as ``"1h30m"`` or ``90`` (seconds).

    Raises :class:`ValueError` with the message ``'<value>' is not a duration``
    for anything else (``"5 parsecs"``, ``-3``, ``"1.5h"``, ``True``).
    """
    if isinstance(value, timedelta):
        return value
    # bool is an int subclass; `every: yes` is a mistake, not one second.
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"{value!r} is not a duration")
        return timedelta(seconds=value)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a duration")
    text = value.strip()
    if text.isdigit():
        return timedelta(seconds=int(text))
    match = _PATTERN.match(text)
    if not text or match is None or not any(match.groupdict().values()):
        raise ValueError(f"{value!r} is not a duration")
    seconds = sum(int(match[unit] or 0) * size for unit, size in _UNITS)
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """Write a duration in its shortest canonical form (``"1h30m"``, ``"0s"``).

    Fractions of a second are dropped: config durations are whole seconds.
    """
    remaining = int(value.total_seconds())
    if remaining < 0:
        raise ValueError(f"{value!r} is negative; durations are never negative")
    parts: list[str] = []
    for unit, size in _UNITS:
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
