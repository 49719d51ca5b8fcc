"""A JSON object carried as the bytes it encodes to, decoded only when it is read.

The mapping worker hands the run a new record's content and its link's
shadow as JSON bytes (they pickle and unpickle for next to nothing); the run
wraps them in :class:`Encoded` and the store writes them to its JSON columns
as they are, so a record that is only created is never decoded nor encoded
again in the run's process.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import orjson

__all__ = ["Encoded"]


class Encoded(Mapping[str, Any]):
    """A read-only JSON object: ``raw`` is its encoding (compact, UTF-8).

    Reading it as a mapping decodes ``raw`` once.
    """

    __slots__ = ("_value", "raw")

    def __init__(self, raw: bytes, value: dict[str, Any] | None = None) -> None:
        self.raw = raw
        self._value = value

    def _decoded(self) -> dict[str, Any]:
        if self._value is None:
            self._value = orjson.loads(self.raw)
        return self._value

    def __getitem__(self, key: str) -> Any:
        return self._decoded()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._decoded())

    def __len__(self) -> int:
        return len(self._decoded())

    def __repr__(self) -> str:
        return f"Encoded({self.raw!r})"
