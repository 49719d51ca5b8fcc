"""Write endpoints of both families: create, update, invalid, delete, recover, changeOwner,
and the custom objects' batch invalidate at ``/cgi/crm/custom/data/invalid`` (no v2).

Rules served (fact sheet §4, §8): create answers ``dataId`` at the top level; update is
partial and may not touch ``owner`` (changeOwner does) nor an invalidated record;
``invalid`` takes one ``object_data_id``; ``delete`` removes only records already
invalidated (all or nothing); ``changeOwner`` takes ``Data[{objectDataId, ownerId}]``
with ``ownerId`` a list — or the string ``"[FSUID_x]"`` the doc page prints.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from connectors.fxiaoke.sandbox.auth import Caller
from connectors.fxiaoke.sandbox.errors import FxiaokeError, envelope
from connectors.fxiaoke.sandbox.records import employee_ids, to_number, validate
from connectors.fxiaoke.sandbox.routes import (
    CUSTOM_PREFIX,
    PRESET_PREFIX,
    add_object_route,
    id_list,
)
from connectors.fxiaoke.sandbox.schema import ObjectDef
from connectors.fxiaoke.sandbox.state import SYSTEM_USER, SandboxState, StoredRecord

__all__ = ["WRITE_ACTIONS", "router"]

Json = dict[str, Any]
WRITE_ACTIONS = frozenset({"create", "update", "invalid", "delete", "recover", "changeOwner"})
router = APIRouter()


def _object_data(caller: Caller) -> Json:
    object_data = caller.data.get("object_data")
    if not isinstance(object_data, dict):
        raise FxiaokeError.param("object_data 为必填项")
    return object_data


def _record(state: SandboxState, obj: ObjectDef, record_id: Any) -> StoredRecord:
    rec = state.get(obj.api_name, str(record_id)) if record_id else None
    if rec is None:
        raise FxiaokeError.param(f"数据不存在或已删除: {record_id}")
    return rec


def _flows(state: SandboxState, caller: Caller, rec: StoredRecord) -> None:
    """Count the flows a write would start, and run the optional field-update workflow."""
    if caller.body.get("triggerApprovalFlow") is not False:
        state.count("approval_flow_triggered")
    if caller.body.get("triggerWorkFlow") is not False:
        state.count("workflow_triggered")
        if state.options.workflow_on_write:
            state.touch(rec, SYSTEM_USER)


def create(request: Request, state: SandboxState, caller: Caller, obj: ObjectDef) -> Json:
    """Create one record (detail objects are accepted and ignored)."""
    raw = _object_data(caller)
    values = validate(state, obj, raw, create=True)
    owner = employee_ids(state, raw["owner"], "owner") if raw.get("owner") else None
    create_time = None
    if caller.body.get("hasSpecifyTime") is True and raw.get("create_time") is not None:
        create_time = int(to_number(raw["create_time"], "create_time"))
    created_by = None
    if caller.body.get("hasSpecifyCreatedBy") is True and raw.get("created_by"):
        created_by = employee_ids(state, raw["created_by"], "created_by")[0]
    rec = state.insert(
        obj.api_name,
        values,
        caller.employee_id,
        owner=owner,
        create_time=create_time,
        created_by=created_by,
    )
    state.count("records_created")
    _flows(state, caller, rec)
    if obj.custom and not state.options.custom_create_returns_id:
        return envelope()
    return envelope(dataId=rec.id)


def update(request: Request, state: SandboxState, caller: Caller, obj: ObjectDef) -> Json:
    """Partial update of one record."""
    raw = _object_data(caller)
    rec = _record(state, obj, raw.get("_id"))
    if "owner" in raw:
        raise FxiaokeError.param("负责人不能通过编辑修改, 请使用 changeOwner")
    if rec.life_status == "invalid":
        raise FxiaokeError.param("数据已作废, 不能编辑")
    if rec.lock_status == "1" and caller.data.get("skipDataStatusValidate") is not True:
        raise FxiaokeError.param("数据已锁定, 不能编辑")
    state.update(rec, validate(state, obj, raw, create=False), caller.employee_id)
    state.count("records_updated")
    _flows(state, caller, rec)
    return envelope()


def invalid(request: Request, state: SandboxState, caller: Caller, obj: ObjectDef) -> Json:
    """作废 one record (``object_data_id``)."""
    record_id = caller.data.get("object_data_id")
    if not isinstance(record_id, str) or not record_id:
        raise FxiaokeError.param("object_data_id 为必填项")
    state.invalidate(_record(state, obj, record_id), caller.employee_id)
    state.count("records_invalidated")
    return envelope()


def batch_invalid(request: Request, state: SandboxState, caller: Caller, obj: ObjectDef) -> Json:
    """作废 several custom records (``idList``)."""
    records = [_record(state, obj, i) for i in id_list(caller.data)]
    for rec in records:
        state.invalidate(rec, caller.employee_id)
    state.count("records_invalidated", len(records))
    return envelope()


def delete(request: Request, state: SandboxState, caller: Caller, obj: ObjectDef) -> Json:
    """Delete invalidated records for good; any live one fails the whole call."""
    records = [_record(state, obj, i) for i in id_list(caller.data)]
    live = [rec.id for rec in records if rec.life_status != "invalid"]
    if live:
        raise FxiaokeError.param(f"删除之前请先作废数据: {', '.join(live)}")
    for rec in records:
        state.delete(rec)
    state.count("records_deleted", len(records))
    return envelope()


def recover(request: Request, state: SandboxState, caller: Caller, obj: ObjectDef) -> Json:
    """Bring invalidated records back."""
    records = [_record(state, obj, i) for i in id_list(caller.data)]
    for rec in records:
        state.recover(rec, caller.employee_id)
    return envelope()


def _owner_ids(state: SandboxState, value: Any) -> list[str]:
    if isinstance(value, str):  # the doc page prints "[FSUID_xx1]"
        value = [v.strip().strip("\"'") for v in value.strip().strip("[]").split(",") if v.strip()]
    if not isinstance(value, list) or not value:
        raise FxiaokeError.param("ownerId 为必填项")
    return employee_ids(state, value, "ownerId")


def change_owner(request: Request, state: SandboxState, caller: Caller, obj: ObjectDef) -> Json:
    """Give records a new owner: ``Data: [{objectDataId, ownerId: [...]}]``."""
    items = caller.data.get("Data")
    if not isinstance(items, list) or not items:
        raise FxiaokeError.param("Data 为必填项")
    changes: list[tuple[StoredRecord, list[str]]] = []
    for item in items:
        if not isinstance(item, dict):
            raise FxiaokeError.param("Data 的元素必须是对象")
        rec = _record(state, obj, item.get("objectDataId"))
        changes.append((rec, _owner_ids(state, item.get("ownerId"))))
    for rec, owner in changes:
        rec.owner = owner
        state.touch(rec, caller.employee_id)
    return envelope()


_ACTIONS = {
    "create": create,
    "update": update,
    "invalid": invalid,
    "delete": delete,
    "recover": recover,
    "changeOwner": change_owner,
}
for _prefix, _custom in ((PRESET_PREFIX, False), (CUSTOM_PREFIX, True)):
    for _action, _handler in _ACTIONS.items():
        add_object_route(router, f"{_prefix}/{_action}", _handler, custom=_custom)
add_object_route(router, "/cgi/crm/custom/data/invalid", batch_invalid, custom=True)
