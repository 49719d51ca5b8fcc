"""Field metadata, the mapping check against it, users, and notification channels."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from connectors.zoho.client import ZohoClient
from connectors.zoho.reads import zoho_time
from connectors.zoho.settings import ZohoSettings
from crmbridge.errors import ConfigError
from crmbridge.mapping import CompiledMapping, RemoteField, RemoteFields, require_fits_remote

__all__ = [
    "check_mapping_against",
    "enable_notifications",
    "field_info",
    "load_users",
    "remote_fields",
]

#: Zoho's Notification API serves every module this connector writes except Notes
_NO_NOTIFICATIONS = frozenset({"Notes"})
Json = dict[str, Any]


def field_info(module: str, items: Iterable[Json]) -> tuple[RemoteFields, set[str]]:
    """``/settings/fields`` items as :class:`RemoteFields`, and the names of unique fields."""
    fields: dict[str, RemoteField] = {}
    unique: set[str] = set()
    for item in items:
        name = item.get("api_name")
        if not isinstance(name, str):
            continue
        picks = item.get("pick_list_values")
        picklist = None
        if item.get("data_type") in ("picklist", "multiselectpicklist") and isinstance(picks, list):
            picklist = tuple(
                str(p.get("actual_value") or p.get("display_value"))
                for p in picks
                if isinstance(p, dict)
            )
        fields[name] = RemoteField(
            name,
            read_only=bool(item.get("read_only")),
            picklist=picklist,
            data_type=item.get("data_type"),
            custom=bool(item.get("custom_field")),
        )
        if item.get("unique"):
            unique.add(name)
    return RemoteFields(module, fields), unique


async def remote_fields(
    client: ZohoClient, modules: Sequence[str]
) -> tuple[list[RemoteFields], dict[str, set[str]]]:
    """Each module's fields from ``/settings/fields?module=``, and its unique fields."""
    described: list[RemoteFields] = []
    unique: dict[str, set[str]] = {}
    for module in modules:
        answer = await client.call("GET", "/settings/fields", params={"module": module})
        if answer.status >= 400:
            raise ConfigError(
                f"Zoho has no module {module} ({answer.message()}); set its API name under "
                "the connector's modules: setting",
                connector=client.connector,
                entity=module,
            )
        items = [] if answer.empty else answer.body.get("fields", [])
        fields, uniq = field_info(module, items)
        described.append(fields)
        unique[module] = uniq
    return described, unique


def check_mapping_against(
    mapping: CompiledMapping,
    described: Sequence[RemoteFields],
    unique: dict[str, set[str]],
    *,
    id_field: str,
    upsert_modules: Iterable[str],
    connector: str | None,
) -> None:
    """Raise :class:`ConfigError` for the first mapping problem against Zoho's own field lists.

    Beyond :func:`check_against_remote`: every module that upserts needs the
    crmbridge id field, and Zoho takes it in ``duplicate_check_fields`` only
    when it is unique ("Do not allow duplicate values").
    """
    require_fits_remote(mapping, described, connector=connector)
    by_name = {r.remote: r for r in described}
    for module in upsert_modules:
        fields = by_name.get(module)
        if fields is None:
            continue
        if id_field not in fields.fields:
            raise ConfigError(
                f"Zoho module {module} has no field {id_field!r}: create a single-line custom "
                "field with that API name and 'Do not allow duplicate values' ticked, or set "
                "crmbridge_id_field",
                connector=connector,
                entity=module,
                field=id_field,
            )
        if id_field not in unique.get(module, set()):
            raise ConfigError(
                f"Zoho field {module}.{id_field} must not allow duplicate values (upsert matches "
                "on it); tick 'Do not allow duplicate values' in its field properties",
                connector=connector,
                entity=module,
                field=id_field,
            )


async def load_users(client: ZohoClient) -> dict[str, Json]:
    """Every user by id (``{name, id, email}``), to fill COQL's bare ``Owner`` ids."""
    users: dict[str, Json] = {}
    page = 1
    while True:
        answer = await client.call(
            "GET", "/users", params={"type": "AllUsers", "page": str(page), "per_page": "200"}
        )
        if answer.status >= 400 or answer.empty:
            return users
        for user in answer.body.get("users", []):
            if isinstance(user, dict) and user.get("id"):
                name = user.get("full_name") or user.get("name")
                users[str(user["id"])] = {
                    "name": name,
                    "id": str(user["id"]),
                    "email": user.get("email"),
                }
        if not (answer.body.get("info") or {}).get("more_records"):
            return users
        page += 1


async def enable_notifications(
    settings: ZohoSettings,
    modules: Sequence[str],
    notify_url: str,
    *,
    channel_id: str | None = None,
    token: str | None = None,
    expiry: datetime | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Json:
    """Subscribe ``notify_url`` to create/edit/delete events of ``modules``; for ``crmbridge zoho watch``.

    Channels never renew themselves: call again (same ``channel_id``) before
    ``expires``; the default expiry is Zoho's maximum, a week less an hour.
    ``token`` (at most 50 characters) comes back in every callback for
    verification. Returns ``{"channel_id", "token", "expires", "events"}``.
    Notes cannot be watched (Zoho's Notification API does not serve them).
    """
    bad = [m for m in modules if m in _NO_NOTIFICATIONS]
    if bad:
        raise ConfigError(f"Zoho sends no notifications for {', '.join(bad)}; poll them instead")
    if token is not None and len(token) > 50:
        raise ConfigError("the notification token must be at most 50 characters")
    when = expiry or datetime.now(UTC) + timedelta(days=7, hours=-1)
    channel = channel_id or str(int(datetime.now(UTC).timestamp() * 1000))
    watch: Json = {
        "channel_id": channel,
        "events": [f"{m}.all" for m in modules],
        "notify_url": notify_url,
        "channel_expiry": zoho_time(when),
        "notify_on_related_action": False,
    }
    if token:
        watch["token"] = token
    client = ZohoClient(settings, connector="zoho", transport=transport)
    await client.open()
    try:
        answer = await client.call("POST", "/actions/watch", json={"watch": [watch]})
    finally:
        await client.close()
    items = answer.body.get("watch") if isinstance(answer.body, dict) else None
    item = items[0] if isinstance(items, list) and items else None
    if answer.status >= 400 or not isinstance(item, dict) or item.get("status") != "success":
        raise ConfigError(
            f"Zoho refused the notification channel: {item or answer.message()}", key="notify_url"
        )
    return {
        "channel_id": channel,
        "token": token,
        "expires": zoho_time(when),
        "events": (item.get("details") or {}).get("events", []),
    }
