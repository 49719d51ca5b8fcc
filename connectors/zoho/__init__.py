"""Zoho CRM: the connector (to come) and :mod:`connectors.zoho.sandbox`, a local fake Zoho server."""
