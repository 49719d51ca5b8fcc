"""Finds installed connectors through the ``crmbridge.connectors`` entry-point group.

Built-in connectors register exactly as a third-party package would. A
connector that fails to import is reported with its error, never fatal: the
others stay usable.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from pydantic import BaseModel

from crmbridge.connector import Capabilities, ConnectorSettings

__all__ = ["ENTRY_POINT_GROUP", "ConnectorType", "discover", "settings_models"]

ENTRY_POINT_GROUP = "crmbridge.connectors"


@dataclass(frozen=True, slots=True)
class ConnectorType:
    """One installed connector type, loaded or not.

    ``error`` says why a connector could not be loaded; then ``cls`` is ``None``.
    """

    name: str
    target: str
    distribution: str | None
    cls: Any = None
    error: str | None = None

    @property
    def capabilities(self) -> Capabilities | None:
        """The loaded class's capabilities, or ``None`` when it failed to load."""
        caps = getattr(self.cls, "capabilities", None)
        return caps if isinstance(caps, Capabilities) else None

    @property
    def settings_model(self) -> type[ConnectorSettings] | None:
        """The loaded class's config model, or ``None`` when it failed to load."""
        model = getattr(self.cls, "settings_model", None)
        if isinstance(model, type) and issubclass(model, ConnectorSettings):
            return model
        return None


def _load(entry: EntryPoint) -> ConnectorType:
    dist = entry.dist.name if entry.dist is not None else None
    try:
        cls = entry.load()
    except Exception as exc:  # a broken third-party package must not take the rest down
        return ConnectorType(entry.name, entry.value, dist, error=f"{type(exc).__name__}: {exc}")
    missing = [
        attr for attr in ("capabilities", "settings_model", "type_name") if not hasattr(cls, attr)
    ]
    if missing:
        reason = f"{entry.value} is not a crmbridge connector (missing {', '.join(missing)})"
        return ConnectorType(entry.name, entry.value, dist, error=reason)
    return ConnectorType(entry.name, entry.value, dist, cls=cls)


def discover() -> dict[str, ConnectorType]:
    """Every connector type installed, by its ``type:`` name, loaded or with its load error."""
    found: dict[str, ConnectorType] = {}
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        found.setdefault(entry.name, _load(entry))
    return found


def settings_models(types: dict[str, ConnectorType]) -> dict[str, type[BaseModel]]:
    """The config model of every connector type that loaded, for config validation."""
    return {name: model for name, ct in types.items() if (model := ct.settings_model) is not None}
