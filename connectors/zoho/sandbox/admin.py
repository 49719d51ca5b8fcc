"""Sandbox-only control API under ``/__sandbox`` (no auth; never part of Zoho's API).

=======  ================================  =============================================
method   path                              does
=======  ================================  =============================================
GET      /__sandbox/state                  counters, per-endpoint calls, faults fired,
                                           record/deleted counts, channels, tokens
GET      /__sandbox/records/{Module}       every live record as Zoho renders it (v8)
POST     /__sandbox/records/{Module}       "remote user" edits: ``{"data": [...]}``; items
                                           with ``id`` update, others insert; validated
                                           like the API, notify channels, bump
                                           Modified_Time; answers Zoho-style results
DELETE   /__sandbox/records/{Module}?ids=  remote deletes (recycle bin, deleted log)
POST     /__sandbox/purge/{Module}         empty the recycle bin -> ``permanent`` entries
POST     /__sandbox/faults                 ``{"spec": "5xx:0.1,..."}`` replaces the faults
POST     /__sandbox/tokens/expire          kill every live access token
POST     /__sandbox/grant-codes            mint a one-time grant code -> ``{"code"}``
POST     /__sandbox/seed                   ``{"records": N}`` adds seeded records
POST     /__sandbox/counters/reset         zero the counters
=======  ================================  =============================================
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from connectors.zoho.sandbox.auth import api_domain, sandbox_state
from connectors.zoho.sandbox.errors import ZohoError
from connectors.zoho.sandbox.faults import FaultInjector, FaultSpecError, parse_faults
from connectors.zoho.sandbox.notifications import publish
from connectors.zoho.sandbox.records import RecordError, render, success_details, validate
from connectors.zoho.sandbox.seed import seed
from connectors.zoho.sandbox.state import Change
from connectors.zoho.sandbox.writes import apply_update, delete_record

__all__ = ["router"]

router = APIRouter(prefix="/__sandbox")
Json = dict[str, Any]


async def _json(request: Request) -> Any:
    try:
        return json.loads(await request.body() or b"{}")
    except ValueError:
        raise ZohoError(400, "INVALID_DATA", "body is not valid JSON") from None


@router.get("/state")
async def state_view(request: Request) -> Response:
    """A snapshot of everything countable."""
    state = sandbox_state(request)
    now = state.options.clock()
    return JSONResponse(
        {
            "counters": state.counters,
            "endpoints": state.endpoint_counters,
            "in_flight": state.in_flight,
            "faults": {
                "spec": str(state.faults.spec),
                "fired": state.faults.fired,
                "requests": state.faults.requests,
                "records": state.faults.records,
            },
            "records": {m: len(r) for m, r in state.records.items()},
            "deleted": {m: len(d) for m, d in state.deleted.items()},
            "channels": [
                {
                    "channel_id": c.channel_id,
                    "events": c.events,
                    "notify_url": c.notify_url,
                    "expired": c.expiry <= now,
                    "expiry": state.fmt(c.expiry),
                    "renewals": c.renewals,
                }
                for c in state.channels.values()
            ],
            "tokens": {"access": len(state.access_tokens), "refresh": len(state.refresh_tokens)},
            "notifications": {
                "sent": state.notifications_sent,
                "failed": state.notifications_failed,
            },
            "last_trigger": state.last_trigger,
            "version": state.version,
        }
    )


@router.get("/records/{module}")
async def list_records(request: Request, module: str) -> Response:
    """All live records of ``module``, id ascending."""
    state = sandbox_state(request)
    mod = state.module(module)
    rows = state.sorted_records(mod.api_name, "id", False)
    return JSONResponse({"data": [render(state, r, 8) for r in rows]})


@router.post("/records/{module}")
async def remote_edit(request: Request, module: str) -> Response:
    """Insert or update records as another CRM user would in Zoho's UI."""
    state = sandbox_state(request)
    mod = state.module(module, wrapped=True)
    body = await _json(request)
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise ZohoError(400, "INVALID_DATA", 'expected {"data": [...]}', wrapped=True)
    user = state.remote_user
    results: list[Json] = []
    inserted = Change(mod.api_name, "insert", [], {}, {})
    updated = Change(mod.api_name, "update", [], {}, {})
    for i, item in enumerate(data):
        try:
            rec = (
                state.get(mod.api_name, str(item.get("id")))
                if isinstance(item, dict) and item.get("id")
                else None
            )
            if rec is not None:
                changed, values = apply_update(state, mod, rec, item, i, user)
                results.append(
                    {
                        "code": "SUCCESS",
                        "details": success_details(state, rec),
                        "message": "record updated",
                        "status": "success",
                    }
                )
                if changed:
                    updated.ids.append(rec.id)
                    updated.affected[rec.id] = changed
                    updated.values[rec.id] = values
            else:
                values, se_module = validate(state, mod, item, i)
                rec = state.insert(mod.api_name, values, user, se_module=se_module)
                results.append(
                    {
                        "code": "SUCCESS",
                        "details": success_details(state, rec),
                        "message": "record added",
                        "status": "success",
                    }
                )
                inserted.ids.append(rec.id)
        except RecordError as exc:
            results.append(exc.item)
    for change in (inserted, updated):
        if change.ids:
            publish(state, change, api_domain(request))
    return JSONResponse({"data": results})


@router.delete("/records/{module}")
async def remote_delete(request: Request, module: str) -> Response:
    """Delete records as another user would (they land in the recycle bin)."""
    state = sandbox_state(request)
    mod = state.module(module, wrapped=True)
    ids = [i for i in request.query_params.get("ids", "").split(",") if i]
    done = []
    for rec_id in ids:
        rec = state.get(mod.api_name, rec_id)
        if rec is not None:
            delete_record(state, rec, state.remote_user)
            done.append(rec_id)
    if done:
        affected = {i: ["Modified_By", "Record_Status__s"] for i in done}
        values = {i: {"Modified_By": state.remote_user.ref(), "Record_Status__s": 0} for i in done}
        publish(state, Change(mod.api_name, "delete", done, affected, values), api_domain(request))
    return JSONResponse({"deleted": done})


@router.post("/purge/{module}")
async def purge(request: Request, module: str) -> Response:
    """Empty the recycle bin of ``module`` (optionally ``?ids=``)."""
    state = sandbox_state(request)
    raw = request.query_params.get("ids")
    n = state.purge(state.module(module).api_name, raw.split(",") if raw else None)
    return JSONResponse({"purged": n})


@router.post("/faults")
async def set_faults(request: Request) -> Response:
    """Replace the fault spec at runtime (the RNG keeps going, counts restart)."""
    state = sandbox_state(request)
    body = await _json(request)
    try:
        spec = parse_faults(str(body.get("spec", "")) if isinstance(body, dict) else "")
    except FaultSpecError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    state.faults = FaultInjector(spec, state.faults.rng)
    return JSONResponse({"spec": str(spec), "items": len(spec.faults)})


@router.post("/tokens/expire")
async def expire_tokens(request: Request) -> Response:
    """Every live access token dies now (refresh tokens keep working)."""
    return JSONResponse({"expired": sandbox_state(request).expire_access_tokens()})


@router.post("/grant-codes")
async def grant_code(request: Request) -> Response:
    """A new one-time grant code for the authorization_code grant."""
    code = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
    sandbox_state(request).grant_codes.add(code)
    return JSONResponse({"code": code})


@router.post("/seed")
async def seed_more(request: Request) -> Response:
    """Add ``{"records": N}`` seeded contacts and their related records."""
    state = sandbox_state(request)
    body = await _json(request)
    n = int(body.get("records", 0)) if isinstance(body, dict) else 0
    return JSONResponse({"created": seed(state, n, state.rng.randint(0, 2**31))})


@router.post("/counters/reset")
async def reset_counters(request: Request) -> Response:
    """Zero the call counters."""
    state = sandbox_state(request)
    state.counters.clear()
    state.endpoint_counters.clear()
    return JSONResponse({"ok": True})
