"""Inbound deliveries: verify the signature, find the event's entity and records.

Pure functions; the connector stores nothing itself (the hub's inbox does).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from connectors.webhook.settings import WebhookSettings
from crmbridge.connector import Deletion, RemoteRecord
from crmbridge.errors import AuthError, RecordRejected
from crmbridge.signatures import SignatureError, verify_hmac, verify_standard

__all__ = ["DELETE_ACTIONS", "Event", "Route", "delivery_id", "parse_event", "verify"]

DELETE_ACTIONS = frozenset({"deleted", "delete", "removed", "destroyed"})
_ID = re.compile(r"[\x21-\x7e]{1,255}")


@dataclass(frozen=True, slots=True)
class Route:
    """Where events of one remote object go: the entity and the field holding the record id."""

    entity: str
    remote_id: tuple[str, ...]


@dataclass(slots=True)
class Event:
    """One parsed event: its entity, records and deletions."""

    entity: str
    records: list[RemoteRecord] = field(default_factory=list)
    deletions: list[Deletion] = field(default_factory=list)


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def verify(settings: WebhookSettings, body: bytes, headers: Mapping[str, str], now: float) -> str:
    """Check the delivery's signature and return its id; :class:`AuthError` if it fails."""
    lowered = _lower(headers)
    try:
        if settings.signature == "standard":
            found = verify_standard(
                settings.secrets(), lowered, body, now=now, tolerance_s=settings.tolerance_s
            )
        else:
            if settings.signature == "hmac":
                verify_hmac(
                    settings.secrets(),
                    lowered.get(settings.header.lower()),
                    body,
                    header=settings.header,
                    algorithm=settings.algorithm,
                    encoding=settings.encoding,
                    prefix=settings.prefix,
                )
            found = ""
    except SignatureError as exc:
        raise AuthError(f"the delivery's signature does not verify: {exc}") from None
    return found


def delivery_id(
    settings: WebhookSettings, signed_id: str, payload: Any, headers: Mapping[str, str], body: bytes
) -> str:
    """The delivery's dedupe id: the signed id, a configured header or body path, or a body hash."""
    candidate: Any = signed_id or None
    if candidate is None and settings.id_header:
        candidate = _lower(headers).get(settings.id_header.lower())
    if candidate is None and settings.id_path:
        candidate = lookup(payload, settings.id_path)
    if candidate is None or isinstance(candidate, dict | list | bool):
        return "sha256_" + hashlib.sha256(body).hexdigest()
    text = str(candidate)
    if not _ID.fullmatch(text):
        raise RecordRejected(
            "the delivery id must be 1 to 255 printable ASCII characters", code="MALFORMED"
        )
    return text


def lookup(payload: Any, path: str) -> Any:
    """The value at dotted ``path`` in nested objects, or ``None``."""
    current = payload
    for part in path.split("."):
        if not isinstance(current, dict):
            return None
        current = current.get(part)
    return current


def load_json(body: bytes) -> Any:
    """The body as JSON; :class:`RecordRejected` (``MALFORMED``) if it is not."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise RecordRejected("the body is not valid JSON", code="MALFORMED") from None


def parse_event(
    settings: WebhookSettings,
    routes: Mapping[str, Route],
    payload: Any,
    received_at: datetime,
) -> Event:
    """The entity, records and deletions of one event; :class:`RecordRejected` if it does not fit."""
    if not isinstance(payload, dict):
        raise RecordRejected("the event must be a JSON object", code="NOT_AN_OBJECT")
    kind = lookup(payload, settings.event_type_path)
    remote, action = None, ""
    if isinstance(kind, str) and kind:
        remote, _, action = kind.partition(".")
    elif kind is not None:
        raise RecordRejected(f"{settings.event_type_path} must be a string", code="BAD_TYPE")
    route = _route(settings, routes, remote)
    raw = lookup(payload, settings.records_path)
    items = raw if isinstance(raw, list) else [raw]
    if raw is None or not items or not all(isinstance(i, dict) for i in items):
        raise RecordRejected(
            f"{settings.records_path} must hold a record object or a non-empty list of them",
            code="NO_RECORDS",
        )
    stamp = _timestamp(payload, settings.timestamp_path) or received_at
    event = Event(route.entity)
    deleting = action.lower() in DELETE_ACTIONS
    for item in items:
        external = next((item[k] for k in route.remote_id if item.get(k) not in (None, "")), None)
        if external is None or isinstance(external, dict | list | bool):
            raise RecordRejected(
                f"a {remote or route.entity} record has no id in {', '.join(route.remote_id)}",
                code="NO_ID",
                entity=route.entity,
            )
        if deleting or item.get(settings.deleted_flag) is True:
            event.deletions.append(Deletion(str(external), stamp))
        else:
            event.records.append(RemoteRecord(str(external), item, stamp))
    return event


def _route(settings: WebhookSettings, routes: Mapping[str, Route], remote: str | None) -> Route:
    if remote is not None and remote in routes:
        return routes[remote]
    if remote is None and settings.entity is not None:
        for route in routes.values():
            if route.entity == settings.entity:
                return route
    known = ", ".join(f"{name}.<action>" for name in routes)
    given = "no type" if remote is None else f"type {remote!r}"
    raise RecordRejected(
        f"the event has {given}; this connector's mapping takes {known}", code="UNKNOWN_TYPE"
    )


def _timestamp(payload: Mapping[str, Any], path: str | None) -> datetime | None:
    value = lookup(payload, path) if path else None
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else None
