"""How business endpoints are wired: authenticate, find the object, answer the envelope.

Preset objects live under ``/cgi/crm/v2/data/...``, ``…__c`` objects under
``/cgi/crm/custom/v2/data/...`` (fact sheet §4); an object sent to the other family's
path is a 32000, so a connector that routes wrongly finds out here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request, Response

from connectors.fxiaoke.sandbox.auth import Caller, authenticate
from connectors.fxiaoke.sandbox.errors import FxiaokeError
from connectors.fxiaoke.sandbox.schema import ObjectDef
from connectors.fxiaoke.sandbox.state import SandboxState
from connectors.fxiaoke.sandbox.wire import reply, sandbox_state

__all__ = [
    "CUSTOM_PREFIX",
    "PRESET_PREFIX",
    "Handler",
    "add_object_route",
    "id_list",
    "resolve_object",
]

Json = dict[str, Any]
PRESET_PREFIX = "/cgi/crm/v2/data"
CUSTOM_PREFIX = "/cgi/crm/custom/v2/data"
Handler = Callable[[Request, SandboxState, Caller, ObjectDef], Json]


def resolve_object(state: SandboxState, api_name: Any, *, custom_path: bool) -> ObjectDef:
    """The object ``api_name`` names, checked against the path family it came in on."""
    if not api_name:
        raise FxiaokeError.param("dataObjectApiName 为必填项")
    obj = state.objects.get(str(api_name))
    if obj is None:
        raise FxiaokeError.param(f"对象 {api_name} 不存在")
    if obj.custom != custom_path:
        family = CUSTOM_PREFIX if obj.custom else PRESET_PREFIX
        raise FxiaokeError.param(f"对象 {api_name} 请使用 {family}/... 接口")
    return obj


def id_list(data: Json) -> list[str]:
    """``data.idList`` as strings (32000 if it is not a list)."""
    ids = data.get("idList")
    if not isinstance(ids, list):
        raise FxiaokeError.param("idList 为必填项")
    return [str(i) for i in ids]


def _api_name(data: Json) -> Any:
    object_data = data.get("object_data")
    if isinstance(object_data, dict) and object_data.get("dataObjectApiName"):
        return object_data["dataObjectApiName"]
    return data.get("dataObjectApiName")


def add_object_route(
    router: APIRouter, path: str, handler: Handler, *, custom: bool
) -> Callable[[Request], Awaitable[Response]]:
    """Serve ``handler`` at ``POST path`` for objects of one family."""

    async def endpoint(request: Request) -> Response:
        state = sandbox_state(request)
        caller = await authenticate(request)
        obj = resolve_object(state, _api_name(caller.data), custom_path=custom)
        return reply(request, handler(request, state, caller, obj))

    endpoint.__name__ = f"{path.strip('/').replace('/', '_')}"
    router.add_api_route(path, endpoint, methods=["POST"])
    return endpoint
