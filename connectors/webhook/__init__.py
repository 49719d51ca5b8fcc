"""Webhooks: any peer that sends or receives them (connector type ``webhook``).

Inbound deliveries reach ``POST /webhooks/<connector>`` of ``crmbridge serve``
(verified: Standard Webhooks, an HMAC header, or explicitly none), are stored
in the hub's inbox and applied by the next run of the connector's jobs with
the same merge rules as a poll. Outbound, hub changes are POSTed to ``url``
as signed Standard Webhooks messages, retried with backoff, and kept in a
dead-letter file when they cannot be delivered (``crmbridge webhooks``).
"""

from __future__ import annotations

from connectors.webhook.connector import WebhookConnector
from connectors.webhook.settings import RetrySettings, WebhookSettings

__all__ = ["RetrySettings", "WebhookConnector", "WebhookSettings"]
