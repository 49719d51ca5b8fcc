"""Read endpoints: Get Records (list and one), the record's Notes, Search, Deleted, Count.

Paging follows Zoho: ``page``/``per_page`` (≤200) only within the first 2,000
records (then ``DISCRETE_PAGINATION_LIMIT_EXCEEDED``); ``info.next_page_token`` (given
from page 1 on) continues up to ``page_token_limit`` records. A page token is bound to
the other parameters and expires. The sandbox pages by keyset (the sort key of the
last record served), so a record edited mid-run moves forward and is read again
rather than shifting others out of the window.
"""

from __future__ import annotations

import bisect
import secrets
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from connectors.zoho.sandbox.auth import sandbox_state
from connectors.zoho.sandbox.errors import (
    ZohoError,
    ambiguity,
    invalid_url,
    limit_exceeded,
    required_param,
)
from connectors.zoho.sandbox.records import parse_datetime, render
from connectors.zoho.sandbox.schema import ModuleDef
from connectors.zoho.sandbox.search import matcher
from connectors.zoho.sandbox.state import PageCursor, SandboxState, StoredRecord, sort_key

__all__ = ["api_version", "if_modified_since", "router"]

router = APIRouter()
Json = dict[str, Any]
DISCRETE_LIMIT = 2000
SEARCH_LIMIT = 2000
SORTABLE = ("id", "Created_Time", "Modified_Time")


def api_version(version: str) -> int:
    """``v8`` -> 8, ``v2.1`` -> 2; anything else is 404 INVALID_URL_PATTERN."""
    major = version.removeprefix("v").split(".", 1)[0]
    if not version.startswith("v") or not major.isdigit() or int(major) < 2:
        raise invalid_url()
    return int(major)


def if_modified_since(request: Request) -> datetime | None:
    """The ``If-Modified-Since`` header as an aware datetime (ISO 8601 or HTTP-date)."""
    raw = request.headers.get("if-modified-since")
    if not raw:
        return None
    parsed = parse_datetime(raw)
    if parsed is None:
        try:
            parsed = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            parsed = None
    if parsed is None:
        raise ZohoError(400, "INVALID_DATA", "invalid data", {"header_name": "If-Modified-Since"})
    return parsed


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ZohoError(400, "INVALID_DATA", "invalid data", {"param_name": name})
    return int(raw)


def parse_fields(request: Request, mod: ModuleDef, *, required: bool) -> list[str] | None:
    """The ``fields`` param: required from v3 on, ≤50 names, each a field of ``mod``."""
    raw = request.query_params.get("fields")
    if raw is None or not raw.strip():
        if required:
            raise required_param("fields")
        return None
    names = [n.strip() for n in raw.split(",") if n.strip()]
    if len(names) > 50:
        raise limit_exceeded("fields", 50)
    for name in names:
        if name != "id" and mod.field(name) is None:
            raise ZohoError(
                400, "INVALID_DATA", "invalid data", {"api_name": name, "param_name": "fields"}
            )
    return names


def _list_response(data: list[Json], info: Json) -> Response:
    return JSONResponse({"data": data, "info": info})


def _page_token(
    state: SandboxState, binding: tuple[Any, ...], last: StoredRecord, sort_by: str, served: int
) -> tuple[str, datetime]:
    token = secrets.token_hex(24)
    expires = state.now() + timedelta(seconds=state.options.page_token_lifetime_s)
    state.page_tokens[token] = PageCursor(binding, sort_key(last, sort_by), served, expires)
    return token, expires


def _after(
    rows: list[StoredRecord], last_key: tuple[Any, ...], sort_by: str, descending: bool
) -> int:
    if not descending:
        return bisect.bisect_right(rows, last_key, key=lambda r: sort_key(r, sort_by))
    return next((i for i, r in enumerate(rows) if sort_key(r, sort_by) < last_key), len(rows))


@router.get("/crm/{version}/{module}")
async def get_records(request: Request, version: str, module: str) -> Response:
    """``GET /crm/v{N}/{Module}``: list records."""
    state, v = sandbox_state(request), api_version(version)
    mod = state.module(module)
    if mod.api_name == "Notes" and not state.options.admin_user:
        raise ZohoError(403, "NOT_SUPPORTED", "This API is supported only for admin users")
    q = request.query_params
    fields = parse_fields(request, mod, required=v >= 3)
    per_page = min(_int_param(request, "per_page", 200), 200)
    sort_by, sort_order = q.get("sort_by", "id"), q.get("sort_order", "desc")
    if sort_by not in SORTABLE:
        raise ZohoError(400, "INVALID_DATA", "invalid data", {"param_name": "sort_by"})
    if sort_order not in ("asc", "desc"):
        raise ZohoError(400, "INVALID_DATA", "invalid data", {"param_name": "sort_order"})
    if "cvid" in q and "sort_by" in q:
        raise ambiguity("cvid", "sort_by")
    if "page" in q and "page_token" in q:
        raise ambiguity("page", "page_token")
    since = if_modified_since(request)
    ids = {i.strip() for i in q["ids"].split(",")} if q.get("ids") else None
    descending = sort_order == "desc"
    binding = (
        mod.api_name,
        v,
        tuple(fields or ()),
        per_page,
        sort_by,
        sort_order,
        since,
        frozenset(ids or ()),
    )
    rows = state.sorted_records(mod.api_name, sort_by, descending)
    if since is not None or ids is not None:
        rows = [
            r
            for r in rows
            if (since is None or r.modified >= since) and (ids is None or r.id in ids)
        ]
        if since is not None and not rows:
            return Response(status_code=304)
    token = q.get("page_token")
    page = 1
    if token is not None:
        cursor = state.page_tokens.get(token)
        if cursor is None or cursor.binding != binding:
            raise ZohoError(
                400,
                "TOKEN_BOUND_DATA_MISMATCH",
                "The page_token given seems to be invalid or input param is added or altered or deleted",
                {"param_name": "page_token"},
            )
        if cursor.expires_at <= state.options.clock():
            raise ZohoError(
                400,
                "EXPIRED_VALUE",
                "Page token expired",
                {"api_name": "page_token", "json_path": "$.query.page_token"},
            )
        limit = state.options.page_token_limit
        if cursor.served >= limit:
            raise ZohoError(
                400,
                "PAGINATION_LIMIT_EXCEEDED",
                f"You can only get upto {limit} records using page_token param",
                {"param_name": "page_token"},
            )
        start, served = _after(rows, cursor.last_key, sort_by, descending), cursor.served
        chunk = rows[start : start + min(per_page, limit - served)]
    else:
        page = _int_param(request, "page", 1)
        if page * per_page > DISCRETE_LIMIT and page > 1:
            raise ZohoError(
                400,
                "DISCRETE_PAGINATION_LIMIT_EXCEEDED",
                f"You can only get the first {DISCRETE_LIMIT} records without using page_token param",
                {"limit": DISCRETE_LIMIT},
            )
        start = served = (page - 1) * per_page
        chunk = rows[start : start + per_page]
    if not chunk:
        return Response(status_code=204)
    more = start + len(chunk) < len(rows)
    state.count("records_read", len(chunk))
    data = [render(state, r, v, fields) for r in chunk]
    info: Json = {"per_page": per_page, "count": len(chunk), "page": page, "more_records": more}
    if v >= 3:
        next_token, expiry = (None, None)
        if more:
            next_token, expires = _page_token(
                state, binding, chunk[-1], sort_by, served + len(chunk)
            )
            expiry = state.fmt(expires)
        info.update(
            {
                "call": False,
                "email": False,
                "sort_by": sort_by,
                "sort_order": sort_order,
                "next_page_token": next_token,
                "previous_page_token": None,
                "page_token_expiry": expiry,
            }
        )
    return _list_response(data, info)


@router.get("/crm/{version}/{module}/search")
async def search_records(request: Request, version: str, module: str) -> Response:
    """``GET /{Module}/search`` with exactly one of criteria / email / phone / word."""
    state, v = sandbox_state(request), api_version(version)
    mod = state.module(module)
    q = request.query_params
    given = [k for k in ("criteria", "email", "phone", "word") if q.get(k)]
    if not given:
        raise required_param("criteria", "One of the expected parameter is missing")
    if len(given) > 1:
        raise ambiguity(*given)
    match = matcher(mod, given[0], q[given[0]])
    fields = parse_fields(request, mod, required=False)
    per_page = min(_int_param(request, "per_page", 200), 200)
    page = _int_param(request, "page", 1)
    if page * per_page > SEARCH_LIMIT and page > 1:
        raise ZohoError(
            400, "LIMIT_REACHED", "search results exceeds the limit", {"limit": SEARCH_LIMIT}
        )
    indexed_before = state.now() - timedelta(seconds=state.options.search_lag_s)
    rows = [
        r
        for r in state.sorted_records(mod.api_name, "id", False)
        if r.created <= indexed_before and match(state, r)
    ]
    chunk = rows[(page - 1) * per_page : page * per_page]
    if not chunk:
        return Response(status_code=204)
    info = {
        "per_page": per_page,
        "count": len(chunk),
        "page": page,
        "more_records": page * per_page < len(rows),
    }
    return _list_response([render(state, r, v, fields) for r in chunk], info)


@router.get("/crm/{version}/{module}/deleted")
async def deleted_records(request: Request, version: str, module: str) -> Response:
    """``GET /{Module}/deleted?type=all|recycle|permanent`` (Notes are not supported)."""
    state, _ = sandbox_state(request), api_version(version)
    mod = state.module(module)
    if not mod.deleted_api:
        raise ZohoError(
            400,
            "INVALID_MODULE",
            "the module name given seems to be invalid",
            {"resource_path_index": 0},
        )
    kind = request.query_params.get("type", "all")
    if kind not in ("all", "recycle", "permanent"):
        raise ZohoError(
            400,
            "PATTERN_NOT_MATCHED",
            "Please check whether the input values are correct",
            {"param_name": "type"},
            wrapped=True,
        )
    since = if_modified_since(request)
    per_page = min(_int_param(request, "per_page", 200), 200)
    page = _int_param(request, "page", 1)
    rows = [
        e
        for e in reversed(state.deleted[mod.api_name])
        if (kind == "all" or e.type == kind) and (since is None or e.deleted_time >= since)
    ]
    if since is not None and not rows:
        return Response(status_code=304)
    chunk = rows[(page - 1) * per_page : page * per_page]
    if not chunk:
        return Response(status_code=204)
    data = [
        {
            "deleted_by": e.deleted_by.ref(email=False) if e.deleted_by else None,
            "id": e.id,
            "display_name": e.display_name,
            "type": e.type,
            "created_by": e.created_by.ref(email=False) if e.created_by else None,
            "deleted_time": state.fmt(e.deleted_time),
        }
        for e in chunk
    ]
    info = {
        "per_page": per_page,
        "count": len(chunk),
        "page": page,
        "more_records": page * per_page < len(rows),
    }
    return _list_response(data, info)


@router.get("/crm/{version}/{module}/actions/count")
async def record_count(request: Request, version: str, module: str) -> Response:
    """``GET /{Module}/actions/count`` -> ``{"count": N}``."""
    state, _ = sandbox_state(request), api_version(version)
    return JSONResponse({"count": len(state.records[state.module(module).api_name])})


@router.get("/crm/{version}/{module}/{record_id}/Notes")
async def notes_of_record(request: Request, version: str, module: str, record_id: str) -> Response:
    """``GET /{Module}/{id}/Notes``: the notes attached to one record, ``page``/``per_page`` (200)."""
    state, v = sandbox_state(request), api_version(version)
    state.module(module)
    notes_mod = state.module("Notes")
    fields = parse_fields(request, notes_mod, required=False)
    rows = [
        n
        for n in state.sorted_records("Notes", "id", False)
        if (n.values.get("Parent_Id") or {}).get("id") == record_id and n.se_module == module
    ]
    per_page = min(max(_int_param(request, "per_page", 200), 1), 200)
    page = max(_int_param(request, "page", 1), 1)
    chunk = rows[(page - 1) * per_page : page * per_page]
    if not chunk:
        return Response(status_code=204)
    more = len(rows) > page * per_page
    info = {"per_page": per_page, "count": len(chunk), "page": page, "more_records": more}
    return _list_response([render(state, n, v, fields) for n in chunk], info)


@router.get("/crm/{version}/{module}/{record_id}")
async def get_record(request: Request, version: str, module: str, record_id: str) -> Response:
    """``GET /{Module}/{id}``: one record with all fields (204 if there is none)."""
    state, v = sandbox_state(request), api_version(version)
    mod = state.module(module)
    fields = parse_fields(request, mod, required=False)
    rec = state.get(mod.api_name, record_id)
    if rec is None:
        return Response(status_code=204)
    return JSONResponse({"data": [render(state, rec, v, fields)]})
