"""Write endpoints: insert, update, upsert and delete, with Zoho's per-record results.

Every write answers ``{"data": [item, ...]}`` in request order; the HTTP status
summarises: all good -> 201 (insert) / 200 (others), mixed -> 207, all failed -> 400
(412 when every failure is ``ALREADY_MODIFIED``). More than 100 records is a 400
``LIMIT_EXCEEDED`` for the whole call. ``trigger`` is accepted and remembered.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from connectors.zoho.sandbox.auth import api_domain, sandbox_state
from connectors.zoho.sandbox.errors import ZohoError, error_item, required_param
from connectors.zoho.sandbox.notifications import publish
from connectors.zoho.sandbox.reads import api_version
from connectors.zoho.sandbox.records import (
    RecordError,
    parse_datetime,
    render,
    success_details,
    validate,
)
from connectors.zoho.sandbox.schema import ModuleDef
from connectors.zoho.sandbox.state import Change, SandboxState, StoredRecord, User

__all__ = ["apply_update", "router"]

router = APIRouter()
Json = dict[str, Any]
MAX_BATCH = 100
_FAULT_MESSAGES = {
    "RECORD_LOCKED": "Sorry, you cannot perform this operation as the record is locked.",
    "INVALID_DATA": "invalid data",
    "NOT_APPROVED": "record not approved",
    "DUPLICATE_DATA": "duplicate data",
}


async def _batch(request: Request, *, single_id: str | None = None) -> tuple[list[Any], Json]:
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("data"), list) or not body["data"]:
        raise ZohoError(
            400, "INVALID_DATA", "body is not a valid JSON with a data array", {}, wrapped=True
        )
    data: list[Any] = body["data"]
    if len(data) > MAX_BATCH:
        raise ZohoError(
            400,
            "LIMIT_EXCEEDED",
            "count of records in your request exceeds the limit",
            {"maximum_length": MAX_BATCH, "api_name": "data"},
            wrapped=True,
        )
    if single_id is not None:
        data = [{**data[0], "id": single_id}] if isinstance(data[0], dict) else data[:1]
    state = sandbox_state(request)
    trigger = body.get("trigger")
    state.last_trigger = [str(t) for t in trigger] if isinstance(trigger, list) else None
    state.count("credits", -(-len(data) // 10))
    return data, body


def _answer(results: list[Json], ok_status: int) -> Response:
    errors = [r for r in results if r.get("status") == "error"]
    if not errors:
        status = ok_status
    elif len(errors) < len(results):
        status = 207
    elif all(r["code"] == "ALREADY_MODIFIED" for r in errors):
        status = 412
    else:
        status = 400
    return JSONResponse({"data": results}, status_code=status)


def _fault(state: SandboxState, op: str, index: int) -> None:
    code = state.faults.reject_record(op)
    if code is None:
        return
    details: Json = {"api_name": "id", "json_path": f"$.data[{index}].id"}
    if code == "RECORD_LOCKED":
        details["action"] = "record_locking"
    raise RecordError(error_item(code, _FAULT_MESSAGES.get(code, "invalid data"), details))


def _success(state: SandboxState, rec: StoredRecord, message: str, **extra: Any) -> Json:
    # Zoho's samples: insert/update details carry $approval_state, upsert and Notes do not
    details = success_details(state, rec, approval=rec.module != "Notes" and "action" not in extra)
    return {**extra, "code": "SUCCESS", "details": details, "message": message, "status": "success"}


def _unmodified_since(request: Request) -> datetime | None:
    raw = request.headers.get("if-unmodified-since")
    return parse_datetime(raw) if raw else None


def _check_unmodified(state: SandboxState, rec: StoredRecord, since: datetime | None) -> None:
    if since is not None and rec.modified > since:
        details = success_details(state, rec, approval=False)
        raise RecordError(
            error_item(
                "ALREADY_MODIFIED",
                "record updated time has already passed if-unmodified-since time",
                details,
            ),
            412,
        )


def apply_update(
    state: SandboxState, mod: ModuleDef, rec: StoredRecord, item: Json, index: int, user: User
) -> tuple[list[str], Json]:
    """Validate and apply ``item`` to ``rec``; return changed fields and their new values."""
    values, se_module = validate(state, mod, item, index, existing=rec)
    changed = state.update(rec, values, user, se_module=se_module)
    rendered = render(state, rec, 8, [c for c in changed if mod.field(c)]) if changed else {}
    rendered.pop("id", None)
    return changed, rendered


class _Changes:
    def __init__(self, module: str, operation: Literal["insert", "update", "delete"]) -> None:
        self.module, self.operation = module, operation
        self.ids: list[str] = []
        self.affected: dict[str, list[str]] = {}
        self.values: dict[str, Json] = {}

    def add(
        self, rec_id: str, affected: list[str] | None = None, values: Json | None = None
    ) -> None:
        self.ids.append(rec_id)
        if affected is not None:
            self.affected[rec_id] = affected
        if values is not None:
            self.values[rec_id] = values

    def publish(self, request: Request) -> None:
        if self.ids:
            change = Change(self.module, self.operation, self.ids, self.affected, self.values)
            publish(sandbox_state(request), change, api_domain(request))


@router.post("/crm/{version}/{module}")
async def insert_records(request: Request, version: str, module: str) -> Response:
    """``POST /{Module}``: insert up to 100 records."""
    state, _ = sandbox_state(request), api_version(version)
    mod = state.module(module, wrapped=True)
    data, _body = await _batch(request)
    results: list[Json] = []
    changes = _Changes(mod.api_name, "insert")
    for i, item in enumerate(data):
        try:
            _fault(state, "insert", i)
            values, se_module = validate(state, mod, item, i)
            rec = state.insert(mod.api_name, values, state.admin, se_module=se_module)
            results.append(_success(state, rec, "record added"))
            changes.add(rec.id, [], render(state, rec, 8))
        except RecordError as exc:
            results.append(exc.item)
    changes.publish(request)
    state.count("records_written", len(changes.ids))
    return _answer(results, 201)


async def _update(request: Request, version: str, module: str, single_id: str | None) -> Response:
    state, _ = sandbox_state(request), api_version(version)
    mod = state.module(module, wrapped=True)
    data, _body = await _batch(request, single_id=single_id)
    since = _unmodified_since(request)
    results: list[Json] = []
    changes = _Changes(mod.api_name, "update")
    for i, item in enumerate(data):
        try:
            rec_id = item.get("id") if isinstance(item, dict) else None
            if not rec_id:
                raise RecordError(
                    error_item(
                        "MANDATORY_NOT_FOUND",
                        "required field not found",
                        {"api_name": "id", "json_path": f"$.data[{i}].id"},
                    )
                )
            rec = state.get(mod.api_name, str(rec_id))
            if rec is None:
                raise RecordError(
                    error_item(
                        "INVALID_DATA",
                        "the related id given seems to be invalid",
                        {"api_name": "id", "json_path": f"$.data[{i}].id"},
                    )
                )
            _check_unmodified(state, rec, since)
            _fault(state, "update", i)
            changed, values = apply_update(state, mod, rec, item, i, state.admin)
            results.append(_success(state, rec, "record updated"))
            if changed:
                changes.add(rec.id, changed, values)
        except RecordError as exc:
            results.append(exc.item)
    changes.publish(request)
    return _answer(results, 200)


@router.put("/crm/{version}/{module}")
async def update_records(request: Request, version: str, module: str) -> Response:
    """``PUT /{Module}``: update up to 100 records, each carrying its ``id``."""
    return await _update(request, version, module, None)


@router.put("/crm/{version}/{module}/{record_id}")
async def update_record(request: Request, version: str, module: str, record_id: str) -> Response:
    """``PUT /{Module}/{id}``: update one record."""
    return await _update(request, version, module, record_id)


def _match_order(mod: ModuleDef, listed: list[str] | None) -> list[str]:
    unique = [u for u in mod.unique_fields]
    if listed:
        return [*listed, *(u for u in unique if u not in listed)]
    system = [mod.duplicate_check] if mod.duplicate_check else []
    return [*system, *unique]


@router.post("/crm/{version}/{module}/upsert")
async def upsert_records(request: Request, version: str, module: str) -> Response:
    """``POST /{Module}/upsert``: insert or update by ``duplicate_check_fields``."""
    state, _ = sandbox_state(request), api_version(version)
    mod = state.module(module, wrapped=True)
    if not mod.upsert:
        raise ZohoError(
            400,
            "NOT_SUPPORTED",
            "the module is not supported for upsert",
            {"resource_path_index": 0},
            wrapped=True,
        )
    data, body = await _batch(request)
    listed = body.get("duplicate_check_fields")
    allowed = {mod.duplicate_check, *mod.unique_fields} - {None}
    if listed is not None and (not isinstance(listed, list) or not set(listed) <= allowed):
        raise ZohoError(
            400,
            "INVALID_DATA",
            "invalid data",
            {"api_name": "duplicate_check_fields", "json_path": "$.duplicate_check_fields"},
            wrapped=True,
        )
    order = _match_order(mod, listed)
    results: list[Json] = []
    inserted, updated = _Changes(mod.api_name, "insert"), _Changes(mod.api_name, "update")
    since = _unmodified_since(request)
    for i, item in enumerate(data):
        try:
            match_id, match_field = None, None
            for name in order:
                if isinstance(item, dict) and (
                    match_id := state.find_unique(mod.api_name, name, item.get(name))
                ):
                    match_field = name
                    break
            rec = state.get(mod.api_name, match_id) if match_id else None
            if rec is not None:
                _check_unmodified(state, rec, since)
                _fault(state, "upsert", i)
                changed, values = apply_update(state, mod, rec, item, i, state.admin)
                results.append(
                    _success(
                        state, rec, "record updated", duplicate_field=match_field, action="update"
                    )
                )
                if changed:
                    updated.add(rec.id, changed, values)
            else:
                _fault(state, "insert", i)
                values, se_module = validate(state, mod, item, i)
                rec = state.insert(mod.api_name, values, state.admin, se_module=se_module)
                results.append(
                    _success(state, rec, "record added", duplicate_field=None, action="insert")
                )
                inserted.add(rec.id, [], render(state, rec, 8))
        except RecordError as exc:
            results.append(exc.item)
    inserted.publish(request)
    updated.publish(request)
    return _answer(results, 200)


def _delete_ids(request: Request, ids: list[str], module: str) -> Response:
    state = sandbox_state(request)
    mod = state.module(module, wrapped=True)
    if len(ids) > MAX_BATCH:
        raise ZohoError(
            400,
            "LIMIT_EXCEEDED",
            "count of records in your request exceeds the limit",
            {"maximum_length": MAX_BATCH, "api_name": "ids"},
            wrapped=True,
        )
    state.count("credits")
    results: list[Json] = []
    changes = _Changes(mod.api_name, "delete")
    for i, rec_id in enumerate(ids):
        rec = state.get(mod.api_name, rec_id)
        code = state.faults.reject_record("delete") if rec is not None else None
        if rec is None or code is not None:
            message = (
                "record not deleted"
                if code in (None, "INVALID_DATA")
                else _FAULT_MESSAGES.get(code or "", "record not deleted")
            )
            results.append(error_item(code or "INVALID_DATA", message, {"id": rec_id}))
            continue
        delete_record(state, rec, state.admin)
        results.append(
            {
                "code": "SUCCESS",
                "details": {"id": rec_id},
                "message": "record deleted",
                "status": "success",
            }
        )
        changes.add(
            rec_id,
            ["Modified_By", "Record_Status__s"],
            {"Modified_By": state.admin.ref(), "Record_Status__s": 0},
        )
        _ = i
    changes.publish(request)
    return _answer(results, 200)


def delete_record(state: SandboxState, rec: StoredRecord, user: User) -> None:
    """Delete ``rec`` and, as Zoho does, the notes attached to it."""
    state.delete(rec, user)
    for note in list(state.records["Notes"].values()):
        if (
            note.se_module == rec.module
            and (note.values.get("Parent_Id") or {}).get("id") == rec.id
        ):
            state.delete(note, user)


@router.delete("/crm/{version}/{module}")
async def delete_records(request: Request, version: str, module: str) -> Response:
    """``DELETE /{Module}?ids=1,2,3``: delete up to 100 records."""
    api_version(version)
    raw = request.query_params.get("ids")
    if not raw:
        raise required_param("ids", "One of the expected parameter is missing")
    return _delete_ids(request, [i.strip() for i in raw.split(",") if i.strip()], module)


@router.delete("/crm/{version}/{module}/{record_id}")
async def delete_one(request: Request, version: str, module: str, record_id: str) -> Response:
    """``DELETE /{Module}/{id}``."""
    api_version(version)
    return _delete_ids(request, [record_id], module)


@router.post("/crm/{version}/{module}/{record_id}/Notes")
async def create_notes_of_record(
    request: Request, version: str, module: str, record_id: str
) -> Response:
    """``POST /{Module}/{id}/Notes``: notes whose parent comes from the URL."""
    state, _ = sandbox_state(request), api_version(version)
    state.module(module, wrapped=True)
    mod = state.module("Notes", wrapped=True)
    data, _body = await _batch(request)
    results: list[Json] = []
    for i, item in enumerate(data):
        try:
            if not isinstance(item, dict):
                raise RecordError(
                    error_item("INVALID_DATA", "invalid data", {"json_path": f"$.data[{i}]"})
                )
            item = {**item, "Parent_Id": {"module": {"api_name": module}, "id": record_id}}
            values, se_module = validate(state, mod, item, i)
            rec = state.insert("Notes", values, state.admin, se_module=se_module)
            results.append(_success(state, rec, "record added"))
        except RecordError as exc:
            results.append(exc.item)
    return _answer(results, 201)
