"""Fxiaoke (纷享销客 / ShareCRM) connector: OpenAPI v2 objects, both auth conventions.

The connector's pieces, one concept a module: :mod:`.settings` (config model,
cloud hosts), :mod:`.codes` (errorCodes and what each means), :mod:`.auth`
(tokens in the current and legacy conventions), :mod:`.limiter` (calls per
endpoint per window), :mod:`.client` (HTTP, envelopes, retries),
:mod:`.reads`, :mod:`.scan` (deletions by ``_id`` scan), :mod:`.writes`,
:mod:`.metadata` (describe, mapping check) and :mod:`.connector`.

Each name below is imported when first asked for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connectors.fxiaoke.codes import DailyQuotaExhausted, FxiaokeError
    from connectors.fxiaoke.connector import FxiaokeConnector
    from connectors.fxiaoke.settings import FxiaokeSettings

__all__ = ["DailyQuotaExhausted", "FxiaokeConnector", "FxiaokeError", "FxiaokeSettings"]

_HOMES = {
    "DailyQuotaExhausted": "connectors.fxiaoke.codes",
    "FxiaokeConnector": "connectors.fxiaoke.connector",
    "FxiaokeError": "connectors.fxiaoke.codes",
    "FxiaokeSettings": "connectors.fxiaoke.settings",
}


def __getattr__(name: str) -> Any:
    """The names above, each imported when first asked for (the sandbox command loads
    without the connector)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
