"""A requirement change's status moved by a remote goes through the workflow, as in the hub.

A spreadsheet or a CRM holds a change request's status as one plain field: a
person can type any status there. Pulled into the hub, a new status is a step
of the change's workflow (identified -> analysed -> approved or rejected ->
implemented): a step the workflow allows is kept in the change's history, with
who decided it when the remote says so, when, and where it was made; one it
does not allow rejects the record, naming the moves that are allowed, and the
hub keeps the status it had. A remote whose history keeps the hub's trail and
ends at the new status (another crmbridge hub, a webhook sender) carries the
step itself, and the model checks it as it is; a history column a person left
as it was is the old trail, and the step is added to the hub's. The trail only
grows: a history that drops or rewrites its steps (a cell emptied or edited)
is not taken, and the push sends the trail back. A status the remote has not
changed since the last sync is no move at all, however far the hub went on.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from crmbridge.errors import InvalidTransition, RecordRejected
from crmbridge.model import ChangeStatus, RequirementChange, Transition
from crmbridge.store import Record

__all__ = ["WORKFLOW_FIELDS", "remote_workflow_values", "step_through_workflow"]

_DECISION = ("decided_by", "decided_at")
WORKFLOW_FIELDS = ("status", "history", *_DECISION)
"""The fields a workflow step writes: a remote holding them is sent the step."""

_HISTORY: TypeAdapter[list[Transition]] = TypeAdapter(list[Transition])
_AT: TypeAdapter[datetime] = TypeAdapter(datetime)


def step_through_workflow(
    entity: str,
    current: Record,
    merged: dict[str, Any],
    *,
    where: str,
    at: datetime,
    last_said: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``merged`` (the hub record's flat values after a pull) with a status it changes
    kept as a step of its history; raises :class:`RecordRejected` for a step the
    workflow does not allow. ``where`` names the connector the change came from;
    ``last_said``, what it said of the record at the last sync (its link's shadow),
    when ``merged`` holds the remote's values whether it changed them or not."""
    if entity != RequirementChange.entity:
        return merged
    before = current.data
    old, new = before.get("status"), merged.get("status")
    if old is None or new is None:
        return merged
    moved_here = _status(old) != _status(new)
    if moved_here and last_said is not None and _status(last_said.get("status")) == _status(new):
        # the remote still says what it said: the hub moved on since, and keeps its trail
        return {**merged, **{name: before.get(name) for name in WORKFLOW_FIELDS}}
    trail = _extension(before.get("history"), merged.get("history"))
    if not moved_here:
        # a history that drops or rewrites steps of the hub's trail is not taken (the push
        # sends the trail back); one that only adds steps is checked by the model
        return merged if trail is not None else {**merged, "history": before.get("history")}
    if trail is not None and _ends_at(trail, new):
        return merged  # the remote made the step itself, as another hub or a sender does
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
            ChangeStatus(new),
            by=named,
            at=at.replace(microsecond=0),  # as files and CRMs keep times: no false change
            note=f"status changed in {where}",
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


def remote_workflow_values(flat: Mapping[str, Any]) -> dict[str, Any]:
    """The workflow fields ``flat`` (a remote record's values) holds, in stored form.

    What the remote itself says, not the step the hub makes of it: kept as the
    link's shadow, a history the remote lacks is sent to it by the push. A
    value that does not parse is kept as given (the push mends it).
    """
    out: dict[str, Any] = {}
    for name in WORKFLOW_FIELDS:
        if name not in flat:
            continue
        value = flat[name]
        try:
            if name == "history":
                value = _HISTORY.dump_python(_HISTORY.validate_python(value or []), mode="json")
            elif name == "status" and value is not None:
                value = ChangeStatus(value).value
            elif name == "decided_at" and value is not None:
                value = _AT.dump_python(_AT.validate_python(value), mode="json")
        except (ValidationError, ValueError):
            pass
        out[name] = value
    return out


def _status(value: Any) -> str | None:
    """A status as stored (``None`` for none), or as given when it is not one."""
    if value is None:
        return None
    try:
        return ChangeStatus(value).value
    except ValueError:
        return str(value)


def _extension(trail: Any, history: Any) -> list[Transition] | None:
    """``history`` (as a remote gave it) as steps, when it keeps every step of the hub's
    ``trail`` and only adds to them; else ``None``."""
    if history == trail:
        return [] if not trail else _HISTORY.validate_python(trail)
    try:
        steps = _HISTORY.validate_python(history or [])
        kept = _HISTORY.validate_python(trail or [])
    except ValidationError:
        return None
    return steps if steps[: len(kept)] == kept else None


def _ends_at(steps: list[Transition], status: Any) -> bool:
    """Whether the last of ``steps`` moves to ``status``."""
    return bool(steps) and steps[-1].to_status.value == _status(status)


def _unchanged(merged: Mapping[str, Any], before: Mapping[str, Any], name: str) -> bool:
    return merged.get(name) == before.get(name)
