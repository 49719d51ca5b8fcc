"""Names a package exports without importing them until first asked for.

A connector package lists its classes at its top for ``from connectors.zoho
import ZohoConnector``, yet the commands it adds to ``crmbridge`` must load
without the connector and its HTTP client: the package sets its module
``__getattr__`` to :func:`lazy_exports`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` giving each name in ``homes`` from the
    module ``homes[name]``, imported on first use."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(home), name)

    return __getattr__
