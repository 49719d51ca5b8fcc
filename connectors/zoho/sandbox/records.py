"""Records in and out: rendering stored records in Zoho's JSON and validating written ones.

Rendering depends on the API version: from v3 on, a note's ``Parent_Id`` is
``{module{api_name,id}, name, id}``; in v2 it is ``{name, id}`` plus ``$se_module``.
Validation returns Zoho's per-record error objects (``INVALID_DATA``,
``MANDATORY_NOT_FOUND``, ``DUPLICATE_DATA``, ``EXPECTED_FIELD_MISSING``).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from connectors.zoho.sandbox.errors import error_item
from connectors.zoho.sandbox.lists import LIST_FIELDS, ListError, check_list, render_list
from connectors.zoho.sandbox.schema import MODULES, FieldDef, ModuleDef
from connectors.zoho.sandbox.state import SandboxState, StoredRecord

__all__ = ["RecordError", "parse_datetime", "render", "success_details", "validate"]

Json = dict[str, Any]
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_WHAT_MODULES = ("Accounts", "Change_Requests", "Contacts")


class RecordError(Exception):
    """A per-record rejection; ``item`` is the Zoho error object for that record."""

    def __init__(self, item: Json, status: int = 400) -> None:
        super().__init__(item["code"])
        self.item = item
        self.status = status


def invalid(api_name: str, index: int, message: str = "invalid data", **extra: Any) -> RecordError:
    """INVALID_DATA for field ``api_name`` of ``data[index]``."""
    details = {**extra, "api_name": api_name, "json_path": f"$.data[{index}].{api_name}"}
    return RecordError(error_item("INVALID_DATA", message, details))


def parse_datetime(value: str) -> datetime | None:
    """An ISO-8601 datetime with offset (``Z`` accepted); None if it is not one."""
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        return None
    return dt if dt.tzinfo is not None else None


def _lookup_out(
    state: SandboxState, f: FieldDef, ref: Json, rec: StoredRecord, version: int
) -> Json:
    target_module = rec.se_module if f.lookup == "*" else f.lookup
    target = state.get(target_module, ref["id"]) if target_module else None
    name = state.display_name(target) if target else ref.get("name")
    if f.api_name == "Parent_Id" and version >= 3 and target_module:
        mod = MODULES[target_module]
        return {"module": {"api_name": mod.api_name, "id": mod.id}, "name": name, "id": ref["id"]}
    return {"name": name, "id": ref["id"]}


def _value_out(
    state: SandboxState, rec: StoredRecord, f: FieldDef, version: int, coql: bool
) -> Any:
    name = f.api_name
    if name == "Owner":
        return {"id": rec.owner.id} if coql else rec.owner.ref()
    if name in ("Created_By", "Modified_By"):
        user = rec.created_by if name == "Created_By" else rec.modified_by
        return {"id": user.id} if coql else user.ref()
    if name == "Created_Time":
        return state.fmt(rec.created)
    if name == "Modified_Time":
        return state.fmt(rec.modified)
    if name == "Full_Name":
        return state.display_name(rec)
    if name == "Call_Duration_in_seconds":
        minutes, _, seconds = str(rec.values.get("Call_Duration") or "").partition(":")
        return int(minutes) * 60 + int(seconds) if minutes.isdigit() and seconds.isdigit() else None
    value = rec.values.get(name)
    if name in LIST_FIELDS:
        return render_list(state, name, value)
    if f.data_type == "lookup" and isinstance(value, dict):
        return {"id": value["id"]} if coql else _lookup_out(state, f, value, rec, version)
    return value


def render(
    state: SandboxState,
    rec: StoredRecord,
    version: int,
    fields: list[str] | None = None,
    *,
    coql: bool = False,
) -> Json:
    """``rec`` as Zoho returns it: all fields, or ``id`` plus ``fields``."""
    mod = MODULES[rec.module]
    out: Json = {}
    wanted = [f for f in mod.fields if fields is None or f.api_name in fields]
    for f in wanted:
        out[f.api_name] = _value_out(state, rec, f, version, coql)
    has_se = any(f.lookup == "*" for f in wanted) and not (rec.module == "Notes" and version >= 3)
    if has_se and not coql:
        out["$se_module"] = rec.se_module
    if fields is None and not coql:
        out.update({"$approval_state": "approved", "$editable": True})
    out["id"] = rec.id
    return out


def success_details(state: SandboxState, rec: StoredRecord, *, approval: bool = True) -> Json:
    """``details`` of a successful insert/update/upsert item."""
    details: Json = {
        "Modified_Time": state.fmt(rec.modified),
        "Modified_By": rec.modified_by.ref(email=False),
        "Created_Time": state.fmt(rec.created),
        "id": rec.id,
        "Created_By": rec.created_by.ref(email=False),
    }
    if approval:
        details["$approval_state"] = "approved"
    return details


def _check_value(state: SandboxState, f: FieldDef, value: Any, index: int) -> Any:
    """The value to store for ``f`` or raise INVALID_DATA."""
    if value is None:
        return None
    dt = f.data_type
    if dt in ("text", "textarea", "email", "phone", "website", "picklist"):
        if not isinstance(value, str):
            raise invalid(f.api_name, index, expected_data_type=dt)
        if f.length is not None and len(value) > f.length:
            raise invalid(f.api_name, index, maximum_length=f.length)
        if dt == "email" and value and not _EMAIL.match(value):
            raise invalid(f.api_name, index, expected_data_type="email")
        return value
    if dt == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid(f.api_name, index, expected_data_type=dt)
        return value
    if dt in ("double", "currency"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise invalid(f.api_name, index, expected_data_type=dt)
        return value
    if dt == "boolean":
        if not isinstance(value, bool):
            raise invalid(f.api_name, index, expected_data_type=dt)
        return value
    if dt == "date":
        try:
            date.fromisoformat(value)
        except (TypeError, ValueError):
            raise invalid(f.api_name, index, expected_data_type=dt) from None
        return value
    if dt == "datetime":
        parsed = parse_datetime(value) if isinstance(value, str) else None
        if parsed is None:
            raise invalid(f.api_name, index, expected_data_type=dt)
        return state.fmt(parsed)
    if dt == "ownerlookup":
        if not isinstance(value, dict) or str(value.get("id")) not in state.users:
            raise invalid(f.api_name, index, "the id given seems to be invalid")
        return {"id": str(value["id"])}
    return value  # lookups are checked by validate (they need $se_module)


def _check_lookup(
    state: SandboxState, f: FieldDef, value: Any, index: int, se_module: str | None
) -> Json | None:
    if value is None:
        return None
    if isinstance(value, str | int):  # v2 flat form, e.g. "Parent_Id": "<id>"
        value = {"id": str(value)}
    if not isinstance(value, dict) or not value.get("id"):
        raise invalid(f.api_name, index, expected_data_type="lookup")
    target = se_module if f.lookup == "*" else f.lookup
    if target is None:
        raise RecordError(
            error_item(
                "MANDATORY_NOT_FOUND",
                "required field not found",
                {"api_name": "$se_module", "json_path": f"$.data[{index}].$se_module"},
            )
        )
    if target not in MODULES or state.get(target, str(value["id"])) is None:
        raise invalid(f.api_name, index, "the id given seems to be invalid")
    return {"id": str(value["id"])}


def _parent_module(item: Json) -> str | None:
    """The module a What_Id / Parent_Id points into, from any of Zoho's spellings."""
    parent = item.get("Parent_Id")
    if isinstance(parent, dict) and isinstance(parent.get("module"), dict):
        name = parent["module"].get("api_name")
        return str(name) if name else None
    se = item.get("$se_module") or item.get("se_module")
    return str(se) if se else None


def validate(
    state: SandboxState,
    mod: ModuleDef,
    item: Any,
    index: int,
    *,
    existing: StoredRecord | None = None,
) -> tuple[Json, str | None]:
    """Check ``data[index]`` for an insert (``existing`` None) or an update of ``existing``.

    Returns the values to store and the ``$se_module`` of a What_Id/Parent_Id.
    Read-only fields are dropped silently; unknown fields are INVALID_DATA.
    """
    if not isinstance(item, dict):
        raise RecordError(
            error_item("INVALID_DATA", "invalid data", {"json_path": f"$.data[{index}]"})
        )
    se_module = _parent_module(item)
    if se_module is None and existing is not None:
        se_module = existing.se_module
    values: Json = {}
    for key, value in item.items():
        if key == "id" or key.startswith("$") or key == "se_module":
            continue
        f = mod.field(key)
        if f is None:
            raise invalid(key, index, "the field api name given seems to be invalid")
        if f.read_only or key in ("Created_By", "Modified_By"):
            continue
        if f.data_type == "lookup":
            values[key] = _check_lookup(state, f, value, index, se_module)
        elif key in LIST_FIELDS:
            try:
                values[key] = check_list(state, key, value)
            except ListError as exc:
                raise invalid(key, index, str(exc), **exc.details) from None
        else:
            values[key] = _check_value(state, f, value, index)
    merged = {**(existing.values if existing else {}), **values}
    if mod.api_name == "Notes":
        if not merged.get("Note_Title") and not merged.get("Note_Content"):
            raise RecordError(
                error_item(
                    "EXPECTED_FIELD_MISSING",
                    "should contain either content or title",
                    {
                        "expected_fields": [
                            {"api_name": n, "json_path": f"$.data[{index}].{n}"}
                            for n in ("Note_Content", "Note_Title")
                        ]
                    },
                )
            )
        if not merged.get("Parent_Id"):
            raise _mandatory("Parent_Id", index)
    for f in mod.fields:
        if f.mandatory and merged.get(f.api_name) in (None, ""):
            raise _mandatory(f.api_name, index)
    completed_call = mod.api_name == "Calls" and merged.get("Call_Type") in ("Outbound", "Inbound")
    if completed_call and not merged.get("Call_Start_Time"):
        raise _mandatory("Call_Start_Time", index)
    for name in mod.unique_fields:
        clash = state.find_unique(mod.api_name, name, values.get(name))
        if clash is not None and (existing is None or clash != existing.id):
            raise duplicate(state, mod, name, clash, index)
    return values, se_module if any(
        f.lookup == "*" and f.api_name in merged for f in mod.fields
    ) else None


def _mandatory(api_name: str, index: int) -> RecordError:
    return RecordError(
        error_item(
            "MANDATORY_NOT_FOUND",
            "required field not found",
            {"api_name": api_name, "json_path": f"$.data[{index}].{api_name}"},
        )
    )


def duplicate(
    state: SandboxState, mod: ModuleDef, api_name: str, other_id: str, index: int
) -> RecordError:
    """DUPLICATE_DATA pointing at the record that already holds the value."""
    other = state.get(mod.api_name, other_id)
    owner = other.owner if other else state.admin
    details = {
        "api_name": api_name,
        "duplicate_record": {
            "Owner": {"name": owner.name, "id": owner.id, "zuid": "808233918"},
            "module": {"api_name": mod.api_name, "id": mod.id},
            "id": other_id,
        },
        "json_path": f"$.data[{index}].{api_name}",
        "id": other_id,
        "more_records": False,
    }
    return RecordError(error_item("DUPLICATE_DATA", "duplicate data", details))
