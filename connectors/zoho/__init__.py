"""Zoho CRM: :class:`ZohoConnector` and :mod:`connectors.zoho.sandbox`, a local fake Zoho server.

The connector's pieces, one concept a module: :mod:`.settings` (config model,
data centres, edition limits), :mod:`.auth` (OAuth refresh-token grant,
grant-code exchange), :mod:`.client` (HTTP, retries, concurrency, credits),
:mod:`.reads`, :mod:`.writes`, :mod:`.metadata` (field lists, mapping check,
notification channels) and :mod:`.connector`.
"""

from connectors.zoho.auth import exchange_grant_code
from connectors.zoho.connector import ZohoConnector
from connectors.zoho.metadata import enable_notifications
from connectors.zoho.settings import ZohoSettings

__all__ = ["ZohoConnector", "ZohoSettings", "enable_notifications", "exchange_grant_code"]
