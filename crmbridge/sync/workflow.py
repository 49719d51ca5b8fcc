"""A requirement change's status moved by a remote goes through the workflow, as in the hub.

A spreadsheet or a CRM holds a change request's status as one plain field: a
person can type any status there. Pulled into the hub, a new status is a step
of the change's workflow (identified -> analysed -> approved or rejected ->
implemented): a step the workflow allows is kept in the change's history, with
who decided it when the remote says so, when, and where it was made; one it
does not allow rejects the record, naming the moves that are allowed, and the
hub keeps the status it had. A remote that carries the history itself (another
crmbridge hub, a webhook sender) is checked by the model as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from crmbridge.errors import InvalidTransition, RecordRejected
from crmbridge.model import ChangeStatus, RequirementChange
from crmbridge.store import Record

__all__ = ["step_through_workflow"]

_DECISION = ("decided_by", "decided_at")


def step_through_workflow(
    entity: str, current: Record, merged: dict[str, Any], *, where: str, at: datetime
) -> dict[str, Any]:
    """``merged`` (the hub record's flat values after a pull) with a status it changes
    kept as a step of its history; raises :class:`RecordRejected` for a step the
    workflow does not allow. ``where`` names the connector the change came from."""
    if entity != RequirementChange.entity:
        return merged
    before = current.data
    old, new = before.get("status"), merged.get("status")
    if old is None or new is None or old == new or merged.get("history") != before.get("history"):
        return merged
    decided_by = merged.get("decided_by")
    named = decided_by if decided_by != before.get("decided_by") else None
    try:
        change = RequirementChange.model_validate(
            {
                **before,
                "id": current.id,
                "created_at": current.created_at,
                "updated_at": current.updated_at,
            }
        )
        moved = change.transition(
            ChangeStatus(new), by=named, at=at, note=f"status changed in {where}"
        )
    except InvalidTransition as exc:
        raise RecordRejected(
            f"{exc.message}; the hub keeps {old}",
            code="INVALID_TRANSITION",
            entity=entity,
            field="status",
        ) from None
    except (ValidationError, ValueError):
        return merged  # a bad status: validating the values rejects the record, saying why
    content = moved.content()
    out = {**merged, "history": content["history"]}
    for name in _DECISION:
        if _unchanged(merged, before, name):  # what the remote says of the decision wins
            out[name] = content[name]
    return out


def _unchanged(merged: Mapping[str, Any], before: Mapping[str, Any], name: str) -> bool:
    return merged.get(name) == before.get(name)
