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

from typing import TYPE_CHECKING

from crmbridge.lazy import lazy_exports

if TYPE_CHECKING:
    from connectors.fxiaoke.codes import DailyQuotaExhausted, FxiaokeError
    from connectors.fxiaoke.connector import FxiaokeConnector
    from connectors.fxiaoke.settings import FxiaokeSettings

__all__ = ["DailyQuotaExhausted", "FxiaokeConnector", "FxiaokeError", "FxiaokeSettings"]

__getattr__ = lazy_exports(
    __name__,
    {
        "DailyQuotaExhausted": "connectors.fxiaoke.codes",
        "FxiaokeConnector": "connectors.fxiaoke.connector",
        "FxiaokeError": "connectors.fxiaoke.codes",
        "FxiaokeSettings": "connectors.fxiaoke.settings",
    },
)
