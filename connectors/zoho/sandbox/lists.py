"""The two list-valued standard fields: ``Tag`` (every module but Notes) and ``Participants`` (Events).

Written as Zoho takes them — ``Tag: [{"name": "VIP"}]``, ``Participants: [{"type":
"contact", "participant": "<id>"}]`` — and read back as Zoho returns them: tags with
their ids, participants with the name and e-mail of who they are.
"""

from __future__ import annotations

import re
from typing import Any

from connectors.zoho.sandbox.state import SandboxState

__all__ = ["LIST_FIELDS", "ListError", "check_list", "render_list"]

Json = dict[str, Any]
LIST_FIELDS = frozenset({"Tag", "Participants"})
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ListError(ValueError):
    """The value cannot be stored; ``details`` go into Zoho's INVALID_DATA item."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.details = details


def check_list(state: SandboxState, api_name: str, value: Any) -> list[Any] | None:
    """The value to store for ``Tag`` or ``Participants``, or raise :class:`ListError`."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ListError("invalid data", expected_data_type="jsonarray")
    return _tags(value) if api_name == "Tag" else _participants(state, value)


def _tags(items: list[Json]) -> list[str]:
    names: dict[str, str] = {}
    for item in items:
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ListError("invalid data", expected_data_type="jsonarray")
        names.setdefault(name.strip().casefold(), name.strip())
    return list(names.values())


def _participants(state: SandboxState, items: list[Json]) -> list[Json]:
    stored: list[Json] = []
    for item in items:
        kind, who = item.get("type"), str(item.get("participant") or "")
        known = (
            (kind == "contact" and state.get("Contacts", who) is not None)
            or (kind == "user" and who in state.users)
            or (kind == "email" and _EMAIL.match(who) is not None)
        )
        if not known:  # the sandbox has no Leads: a lead participant is unknown too
            raise ListError("the id given seems to be invalid")
        stored.append({"type": kind, "participant": who})
    return stored


def render_list(state: SandboxState, api_name: str, stored: Any) -> list[Json]:
    """``stored`` as Get Records returns the field (``[]`` when empty)."""
    if not stored:
        return []
    if api_name == "Tag":
        return [{"name": name, "id": state.tag_id(name)} for name in stored]
    return [_participant_out(state, p) for p in stored]


def _participant_out(state: SandboxState, stored: Json) -> Json:
    kind, who = stored["type"], stored["participant"]
    name, email = None, who if kind == "email" else None
    if kind == "contact" and (rec := state.get("Contacts", who)) is not None:
        name, email = state.display_name(rec), rec.values.get("Email")
    elif kind == "user" and who in state.users:
        name, email = state.users[who].name, state.users[who].email
    return {
        "Email": email,
        "name": name,
        "invited": False,
        "type": kind,
        "participant": who,
        "status": "not_known",
    }
