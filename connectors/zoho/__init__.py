"""Zoho CRM: :class:`ZohoConnector` and :mod:`connectors.zoho.sandbox`, a local fake Zoho server.

The connector's pieces, one concept a module: :mod:`.settings` (config model,
data centres, edition limits), :mod:`.auth` (OAuth refresh-token grant,
grant-code exchange), :mod:`.client` (HTTP, retries, concurrency, credits),
:mod:`.reads`, :mod:`.writes`, :mod:`.metadata` (field lists, mapping check,
notification channels) and :mod:`.connector`.

Each name below is imported when first asked for, so the commands this package
adds to ``crmbridge`` (:mod:`.cli`) load without the connector.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crmbridge.lazy import lazy_exports

if TYPE_CHECKING:
    from connectors.zoho.auth import exchange_grant_code
    from connectors.zoho.connector import ZohoConnector
    from connectors.zoho.metadata import enable_notifications
    from connectors.zoho.settings import ZohoSettings

__all__ = ["ZohoConnector", "ZohoSettings", "enable_notifications", "exchange_grant_code"]

__getattr__ = lazy_exports(
    __name__,
    {
        "ZohoConnector": "connectors.zoho.connector",
        "ZohoSettings": "connectors.zoho.settings",
        "enable_notifications": "connectors.zoho.metadata",
        "exchange_grant_code": "connectors.zoho.auth",
    },
)
