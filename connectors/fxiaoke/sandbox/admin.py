"""Sandbox-only control API under ``/__sandbox`` (no auth; never part of Fxiaoke's API).

=======  ==================================  ===========================================
method   path                                does
=======  ==================================  ===========================================
GET      /__sandbox/state                    counters, calls per endpoint, faults fired,
                                             records per object (live / invalid), tokens,
                                             quota used, clock
GET      /__sandbox/requests                 the last 500 calls: path, thirdTraceId,
                                             traceId, errorCode, convention
GET      /__sandbox/records/{apiName}        every record as the API renders it (legacy
                                             ids; ``?convention=current`` for ``1000``)
POST     /__sandbox/records/{apiName}        edits by another CRM user (李娜, ``1001``):
                                             ``{"data": [{...}]}``; items with ``_id``
                                             update, others create -> ``{"ids": [...]}``
DELETE   /__sandbox/records/{apiName}?ids=   that user invalidates them (作废);
                                             ``&hard=true`` deletes them for good
POST     /__sandbox/seed                     ``{"contacts": N, "accounts": N,
                                             "activities": N, "custom": N}``
POST     /__sandbox/faults                   ``{"spec": "busy:0.1,..."}`` replaces faults
POST     /__sandbox/tokens/expire            every live token dies (-> 20016)
POST     /__sandbox/time/advance             ``{"seconds": N}`` moves the clock forward
POST     /__sandbox/counters/reset           zero counters, rate windows and quota
POST     /__sandbox/reset                    back to the state the options describe
=======  ==================================  ===========================================
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from connectors.fxiaoke.sandbox.errors import FxiaokeError
from connectors.fxiaoke.sandbox.faults import FaultInjector, FaultSpecError, parse_faults
from connectors.fxiaoke.sandbox.records import render, validate
from connectors.fxiaoke.sandbox.seed import seed
from connectors.fxiaoke.sandbox.state import Convention, SandboxState
from connectors.fxiaoke.sandbox.wire import read_body, sandbox_state

__all__ = ["router", "seed_from_options"]

Json = dict[str, Any]
router = APIRouter(prefix="/__sandbox")


def seed_from_options(state: SandboxState) -> None:
    """Seed what the options ask for (at start and after a reset)."""
    opts = state.options
    seed(
        state,
        accounts=opts.seed_accounts,
        contacts=opts.seed_contacts,
        activities=opts.seed_activities,
        custom=opts.seed_custom,
        seed=opts.seed,
    )


def _error(exc: FxiaokeError) -> Response:
    return JSONResponse(exc.body, status_code=400)


def _object(state: SandboxState, api_name: str) -> str:
    if api_name not in state.objects:
        raise FxiaokeError.param(f"对象 {api_name} 不存在")
    return api_name


@router.get("/state")
async def state_view(request: Request) -> Response:
    """A snapshot of everything countable."""
    state = sandbox_state(request)
    records = {
        name: {
            "live": sum(r.life_status != "invalid" for r in rows.values()),
            "invalid": sum(r.life_status == "invalid" for r in rows.values()),
        }
        for name, rows in state.records.items()
    }
    return JSONResponse(
        {
            "counters": state.counters,
            "endpoints": state.endpoint_counters,
            "in_flight": state.in_flight,
            "faults": {
                "spec": str(state.faults.spec),
                "fired": state.faults.fired,
                "calls": state.faults.calls,
            },
            "records": records,
            "tokens": {"live": len(state.tokens)},
            "quota": {"day": state.quota_day, "used": state.quota_used},
            "now_ms": state.now_ms(),
        }
    )


@router.get("/requests")
async def requests_view(request: Request) -> Response:
    """The journal of recent calls, oldest first."""
    return JSONResponse({"requests": list(sandbox_state(request).journal)})


@router.get("/records/{api_name}")
async def list_records(request: Request, api_name: str) -> Response:
    """Every record of an object, invalidated ones included, ``_id`` ascending."""
    state = sandbox_state(request)
    try:
        name = _object(state, api_name)
    except FxiaokeError as exc:
        return _error(exc)
    convention: Convention = (
        "current" if request.query_params.get("convention") == "current" else "legacy"
    )
    rows = sorted(state.records[name].values(), key=lambda r: r.id)
    return JSONResponse({"dataList": [render(state, r, convention) for r in rows]})


@router.post("/records/{api_name}")
async def remote_edit(request: Request, api_name: str) -> Response:
    """Create or update records as another CRM user would in Fxiaoke's UI."""
    state = sandbox_state(request)
    user = state.remote_user.employee_id
    try:
        obj = state.objects[_object(state, api_name)]
        body = await read_body(request)
        items = body.get("data")
        if not isinstance(items, list):
            raise FxiaokeError.param('expected {"data": [...]}')
        ids: list[str] = []
        for item in items:
            rec = state.get(obj.api_name, str(item.get("_id"))) if item.get("_id") else None
            if rec is not None:
                state.update(rec, validate(state, obj, item, create=False), user)
            else:
                rec = state.insert(obj.api_name, validate(state, obj, item, create=True), user)
            ids.append(rec.id)
    except FxiaokeError as exc:
        return _error(exc)
    state.count("remote_edits", len(ids))
    return JSONResponse({"ids": ids})


@router.delete("/records/{api_name}")
async def remote_delete(request: Request, api_name: str) -> Response:
    """Invalidate (or, with ``hard=true``, delete) records as another user would."""
    state = sandbox_state(request)
    try:
        name = _object(state, api_name)
    except FxiaokeError as exc:
        return _error(exc)
    hard = request.query_params.get("hard", "").lower() in ("1", "true", "yes")
    done: list[str] = []
    for record_id in filter(None, request.query_params.get("ids", "").split(",")):
        rec = state.get(name, record_id)
        if rec is None:
            continue
        if hard:
            state.delete(rec)
        else:
            state.invalidate(rec, state.remote_user.employee_id)
        done.append(record_id)
    return JSONResponse({"deleted" if hard else "invalidated": done})


@router.post("/seed")
async def seed_more(request: Request) -> Response:
    """Add generated records."""
    state = sandbox_state(request)
    body = await read_body(request)
    made = seed(
        state,
        accounts=int(body.get("accounts", 0)),
        contacts=int(body.get("contacts", 0)),
        activities=int(body.get("activities", 0)),
        custom=int(body.get("custom", 0)),
        seed=state.rng.randint(0, 2**31),
    )
    return JSONResponse({"created": made})


@router.post("/faults")
async def set_faults(request: Request) -> Response:
    """Replace the fault spec at runtime (the RNG goes on, the call count restarts)."""
    state = sandbox_state(request)
    body = await read_body(request)
    try:
        spec = parse_faults(str(body.get("spec", "")))
    except FaultSpecError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    state.faults = FaultInjector(spec, state.faults.rng)
    return JSONResponse({"spec": str(spec), "items": len(spec.faults)})


@router.post("/tokens/expire")
async def expire_tokens(request: Request) -> Response:
    """Every live token dies now."""
    return JSONResponse({"expired": sandbox_state(request).expire_tokens()})


@router.post("/time/advance")
async def advance_time(request: Request) -> Response:
    """Move the sandbox clock forward (token lifetimes, rate windows, the quota day)."""
    state = sandbox_state(request)
    body = await read_body(request)
    state.clock_offset += timedelta(seconds=float(body.get("seconds", 0)))
    return JSONResponse({"now_ms": state.now_ms()})


@router.post("/counters/reset")
async def reset_counters(request: Request) -> Response:
    """Zero the counters, the rate windows and the quota."""
    state = sandbox_state(request)
    state.counters.clear()
    state.endpoint_counters.clear()
    state.rate_windows.clear()
    state.second_window.clear()
    state.token_window.clear()
    state.quota_used = 0
    return JSONResponse({"ok": True})


@router.post("/reset")
async def reset_all(request: Request) -> Response:
    """Forget everything and seed again as the options say."""
    state = sandbox_state(request)
    state.reset()
    state.faults = FaultInjector(state.options.fault_spec(), state.faults.rng)
    seed_from_options(state)
    return JSONResponse({"ok": True})
