"""Notifications: ``/actions/watch`` channels and the callbacks POSTed to ``notify_url``.

After every write that touches a watched module (API writes and control-API
"remote user" edits alike) the sandbox POSTs Zoho's callback JSON —
``server_time, query_params, module, resource_uri, ids, affected_fields,
[affected_values], operation, channel_id, token`` — to each live channel whose
``events`` match (``Contacts.all``, ``Contacts.create|edit|delete``). Delivery is
fire-and-forget in a background task, one callback per write call per channel,
never retried (Zoho documents no delivery guarantee). Notes cannot be watched.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from connectors.zoho.sandbox.auth import api_domain, sandbox_state
from connectors.zoho.sandbox.errors import ZohoError, required_param
from connectors.zoho.sandbox.records import parse_datetime
from connectors.zoho.sandbox.schema import MODULES
from connectors.zoho.sandbox.state import Change, Channel, SandboxState

__all__ = ["Notifier", "publish", "router"]

router = APIRouter()
Json = dict[str, Any]
_OPS = {"insert": "create", "update": "edit", "delete": "delete"}
MAX_EXPIRY = timedelta(days=7)
DEFAULT_EXPIRY = timedelta(hours=1)


class Notifier:
    """Sends callbacks in background tasks with one shared ``httpx.AsyncClient``."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.client = httpx.AsyncClient(
            transport=state.options.notify_transport, timeout=state.options.notify_timeout_s
        )
        self.tasks: set[asyncio.Task[None]] = set()

    def send(self, url: str, payload: Json) -> None:
        """Schedule one POST; failures are counted, never raised."""
        task = asyncio.get_running_loop().create_task(self._post(url, payload))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _post(self, url: str, payload: Json) -> None:
        try:
            response = await self.client.post(url, json=payload)
            ok = response.status_code < 400
        except httpx.HTTPError:
            ok = False
        if ok:
            self.state.notifications_sent += 1
        else:
            self.state.notifications_failed += 1

    async def drain(self) -> None:
        """Wait for callbacks in flight (tests and shutdown)."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    async def aclose(self) -> None:
        """Finish callbacks in flight, then close the client."""
        await self.drain()
        await self.client.aclose()


def _matches(channel: Channel, module: str, operation: str) -> bool:
    return f"{module}.all" in channel.events or f"{module}.{_OPS[operation]}" in channel.events


def publish(state: SandboxState, change: Change, base_url: str) -> None:
    """Send ``change`` to every live channel watching its module and operation."""
    if not MODULES[change.module].notifications or not state.channels:
        return
    notifier = state.notifier
    if not isinstance(notifier, Notifier):  # in-process (no lifespan): start one lazily
        notifier = state.notifier = Notifier(state)
    now = state.options.clock()
    for channel in list(state.channels.values()):
        if channel.expiry <= now or not _matches(channel, change.module, change.operation):
            continue
        payload: Json = {
            "server_time": int(now.timestamp() * 1000),
            "query_params": dict(parse_qsl(urlsplit(channel.notify_url).query)),
            "module": change.module,
            "resource_uri": f"{base_url}/crm/v2/{change.module}",
            "ids": list(change.ids),
            "affected_fields": [{i: f} for i, f in change.affected.items() if f],
            "operation": change.operation,
            "channel_id": channel.channel_id,
            "token": channel.token,
        }
        if channel.return_affected_field_values and change.operation != "insert":
            payload["affected_values"] = [
                {"record_id": i, "values": v} for i, v in change.values.items()
            ]
        notifier.send(channel.notify_url, payload)


def _event_item(state: SandboxState, channel: Channel, module: str, base: str) -> Json:
    return {
        "channel_expiry": state.fmt(channel.expiry),
        "resource_uri": f"{base}/crm/v2/{module}",
        "resource_id": MODULES[module].id,
        "resource_name": module,
        "channel_id": channel.channel_id,
    }


def _modules_of(channel: Channel) -> list[str]:
    return list(dict.fromkeys(e.split(".", 1)[0] for e in channel.events))


def _parse_watch(state: SandboxState, item: Any, existing: Channel | None) -> Channel:
    if not isinstance(item, dict):
        raise ZohoError(400, "INVALID_DATA", "invalid data", {"api_name": "watch"})
    channel_id = str(item.get("channel_id") or "")
    if not channel_id:
        raise ZohoError(
            400, "MANDATORY_NOT_FOUND", "required field not found", {"api_name": "channel_id"}
        )
    notify_url = item.get("notify_url") or (existing.notify_url if existing else None)
    if not notify_url:
        raise ZohoError(
            400, "MANDATORY_NOT_FOUND", "required field not found", {"api_name": "notify_url"}
        )
    events = item.get("events")
    if not isinstance(events, list) or not events or len(events) > 50:
        raise ZohoError(400, "INVALID_DATA", "invalid data", {"api_name": "events"})
    for event in events:
        module, _, op = str(event).partition(".")
        if (
            module not in MODULES
            or not MODULES[module].notifications
            or op not in ("all", "create", "edit", "delete")
        ):
            raise ZohoError(
                400, "INVALID_DATA", "invalid data", {"api_name": "events", "value": event}
            )
    token = item.get("token", existing.token if existing else None)
    if token is not None and len(str(token)) > 50:
        raise ZohoError(
            400, "INVALID_DATA", "invalid data", {"api_name": "token", "maximum_length": 50}
        )
    now = state.options.clock()
    expiry = parse_datetime(str(item["channel_expiry"])) if item.get("channel_expiry") else None
    if expiry is None or expiry <= now or expiry > now + MAX_EXPIRY:
        expiry = now + DEFAULT_EXPIRY
    return Channel(
        channel_id,
        [str(e) for e in events],
        str(notify_url),
        None if token is None else str(token),
        expiry,
        bool(item.get("return_affected_field_values", False)),
        bool(item.get("notify_on_related_action", True)),
        item.get("notification_condition"),
    )


async def _watch_items(request: Request) -> list[Any]:
    try:
        body = await request.json()
    except ValueError:
        body = None
    items = body.get("watch") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise ZohoError(
            400, "MANDATORY_NOT_FOUND", "required field not found", {"api_name": "watch"}
        )
    if len(items) > 50:
        raise ZohoError(400, "LIMIT_EXCEEDED", "limit exceeded", {"limit": 50, "api_name": "watch"})
    return items


async def _subscribe(request: Request, *, patch: bool) -> Response:
    state, base = sandbox_state(request), api_domain(request)
    out = []
    for item in await _watch_items(request):
        existing = (
            state.channels.get(str(item.get("channel_id"))) if isinstance(item, dict) else None
        )
        if patch and existing is not None and isinstance(item, dict):
            events = list(existing.events)
            if item.get("_delete_events"):
                events = [e for e in events if e not in item.get("events", [])]
            else:
                events += [e for e in item.get("events", []) if e not in events]
            item = {**item, "events": events}
        channel = _parse_watch(state, item, existing if patch else None)
        before = state.channels.get(channel.channel_id)
        if before is not None:  # a renewal: same channel id, enabled or updated again
            channel = dataclasses.replace(channel, renewals=before.renewals + 1)
        state.channels[channel.channel_id] = channel
        out.append(
            {
                "code": "SUCCESS",
                "details": {
                    "events": [_event_item(state, channel, m, base) for m in _modules_of(channel)]
                },
                "message": "Successfully subscribed for actions-watch of the given module",
                "status": "success",
            }
        )
    return JSONResponse({"watch": out}, status_code=201 if request.method == "POST" else 200)


@router.post("/crm/{version}/actions/watch")
async def enable(request: Request, version: str) -> Response:
    """Enable channels (``{"watch": [...]}``); an existing channel id is replaced."""
    return await _subscribe(request, patch=False)


@router.put("/crm/{version}/actions/watch")
async def replace(request: Request, version: str) -> Response:
    """Replace channels."""
    return await _subscribe(request, patch=False)


@router.patch("/crm/{version}/actions/watch")
async def patch(request: Request, version: str) -> Response:
    """Add events to channels, or drop them with ``"_delete_events": true``."""
    return await _subscribe(request, patch=True)


@router.get("/crm/{version}/actions/watch")
async def details(request: Request, version: str) -> Response:
    """List live channels (204 when there are none)."""
    state, base = sandbox_state(request), api_domain(request)
    now = state.options.clock()
    watch = []
    for c in state.channels.values():
        if c.expiry <= now:
            continue
        for module in _modules_of(c):
            watch.append(
                {
                    "notify_on_related_action": c.notify_on_related_action,
                    "channel_expiry": state.fmt(c.expiry),
                    "return_affected_field_values": c.return_affected_field_values,
                    "resource_uri": f"{base}/crm/v2/{module}",
                    "resource_id": MODULES[module].id,
                    "notify_url": c.notify_url,
                    "resource_name": module,
                    "fields": None,
                    "notification_condition": c.notification_condition,
                    "channel_id": c.channel_id,
                    "events": [e for e in c.events if e.startswith(f"{module}.")],
                    "token": c.token,
                }
            )
    if not watch:
        return Response(status_code=204)
    info = {"per_page": 200, "count": len(watch), "page": 1, "more_records": False}
    return JSONResponse({"watch": watch, "info": info})


@router.delete("/crm/{version}/actions/watch")
async def disable(request: Request, version: str) -> Response:
    """Disable channels: ``DELETE /actions/watch?channel_ids=1,2``."""
    state, base = sandbox_state(request), api_domain(request)
    raw = request.query_params.get("channel_ids")
    if not raw:
        raise required_param("channel_ids")
    out = []
    for channel_id in (c.strip() for c in raw.split(",") if c.strip()):
        channel = state.channels.pop(channel_id, None)
        if channel is None:
            out.append(
                {
                    "code": "INVALID_DATA",
                    "details": {"channel_id": channel_id},
                    "message": "invalid data",
                    "status": "error",
                }
            )
            continue
        for module in _modules_of(channel):
            out.append(
                {
                    "code": "SUCCESS",
                    "details": {
                        "resource_uri": f"{base}/crm/v2/{module}",
                        "resource_id": MODULES[module].id,
                        "channel_id": channel_id,
                    },
                    "message": "Successfully un-subscribed from actions-watch",
                    "status": "success",
                }
            )
    ok = any(o["status"] == "success" for o in out)
    bad = any(o["status"] == "error" for o in out)
    return JSONResponse({"watch": out}, status_code=207 if ok and bad else 200 if ok else 400)
