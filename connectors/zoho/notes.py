"""Zoho Notes: how their deletions are found and how a create is never made twice.

Notes are the one synced module Zoho gives neither a deletion feed
(``/{Module}/deleted`` does not list them) nor a custom field to hold the
crmbridge id, so two things the other modules get from Zoho are done here.

**Deletions by diff.** The Notes part of the cursor remembers which notes
were read, grouped by parent (``{"Contacts/<id>": [note ids]}``). At most
every ``notes_deletions_every_s`` a check lists the notes that still exist
and reports the remembered ones that do not as deletions, in whichever way
costs fewer calls:

- ``per_parent``: ``GET /{Module}/{id}/Notes`` for each remembered parent
  (any user who can see the parent may call it), one call per parent;
- ``sweep``: ``GET /Notes?fields=Parent_Id`` over every note (admin users
  only), ``ceil(N/200)`` calls for N notes.

**Creates by marker.** A note crmbridge creates carries the marker
``[crmbridge:<id>]`` on the last line of ``Note_Content``; the marker is
stripped from every note read, so nobody sees it in the hub. Before a create
is sent again (a retry after an unanswered attempt, or a batch the engine
replays with ``WriteRequest.resent``), the parents' notes are listed and a
note carrying the request's marker is adopted instead of making a second one.
"""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

from connectors.zoho.client import ZohoClient
from connectors.zoho.reads import NotSupported, read_module

__all__ = [
    "NOTES",
    "PAGE",
    "choose",
    "deleted_notes",
    "forget",
    "marked",
    "marker",
    "notes_of",
    "parent_key",
    "remember",
    "strip_marker",
]

NOTES = "Notes"
PAGE = 200
_MARKER = re.compile(r"\s*\[crmbridge:([A-Za-z0-9_.:-]{1,64})\]\s*\Z")
Json = dict[str, Any]


def marker(key: str) -> str:
    """The text that marks a note as the one crmbridge created for ``key``."""
    return f"[crmbridge:{key}]"


def marked(data: Mapping[str, Any], key: str) -> Json:
    """``data`` with the marker of ``key`` as the last line of ``Note_Content``."""
    payload = dict(data)
    content, _ = strip_marker(payload.get("Note_Content"))
    payload["Note_Content"] = f"{content}\n\n{marker(key)}" if content else marker(key)
    return payload


def strip_marker(text: Any) -> tuple[Any, str | None]:
    """``(text without a trailing marker, the marked key)``; ``None`` when only the marker was there."""
    if not isinstance(text, str):
        return text, None
    found = _MARKER.search(text)
    if found is None:
        return text, None
    rest = text[: found.start()]
    return (rest or None), found.group(1)


def parent_key(note: Mapping[str, Any]) -> str | None:
    """``"<Module>/<id>"`` of a note's parent, from the v3+ or the v2 ``Parent_Id`` form."""
    parent = note.get("Parent_Id")
    module: Any = None
    if isinstance(parent, Mapping):
        record_id = parent.get("id")
        inner = parent.get("module")
        module = inner.get("api_name") if isinstance(inner, Mapping) else None
    else:
        record_id = parent
    module = module or note.get("$se_module") or note.get("se_module")
    if not module or not record_id:
        return None
    return f"{module}/{record_id}"


async def notes_of(
    client: ZohoClient, parent: str, fields: Sequence[str] = ("Modified_Time",)
) -> list[Json]:
    """Every note of one parent (``"<Module>/<id>"``), through its Notes related list.

    A parent Zoho no longer has (204, or ``INVALID_DATA`` on its id) has no notes.
    """
    module, _, record_id = parent.partition("/")
    rows: list[Json] = []
    page = 1
    token: str | None = None
    while True:
        params = {"fields": ",".join(fields), "per_page": str(PAGE)}
        params.update({"page_token": token} if token else {"page": str(page)})
        answer = await client.call("GET", f"/{module}/{record_id}/Notes", params=params)
        if answer.status >= 400:
            if answer.code in ("INVALID_DATA", "DISCRETE_PAGINATION_LIMIT_EXCEEDED"):
                return rows
            raise client.permanent(answer, f"reading the notes of {parent}", entity=NOTES)
        if answer.empty:
            return rows
        found = [r for r in answer.body.get("data", []) if isinstance(r, dict)]
        rows += found
        info = answer.body.get("info") or {}
        if not info.get("more_records") or not found:
            return rows
        token = info.get("next_page_token") or None
        page += 1


async def _sweep(client: ZohoClient) -> set[str]:
    live: set[str] = set()
    modes: dict[str, str] = {}
    async for rows in read_module(
        client, NOTES, ["Parent_Id"], None, mode="records", per_page=PAGE, modes=modes
    ):
        live |= {str(r["id"]) for r in rows if r.get("id")}
    return live


def choose(known: Mapping[str, Sequence[str]]) -> str:
    """``sweep`` or ``per_parent``: whichever lists the ``known`` notes in fewer calls."""
    total = sum(len(ids) for ids in known.values())
    per_parent = sum(max(1, math.ceil(len(ids) / PAGE)) for ids in known.values())
    return "sweep" if math.ceil(total / PAGE) < per_parent else "per_parent"


async def deleted_notes(
    client: ZohoClient, known: Mapping[str, Sequence[str]], *, mode: str | None = None
) -> AsyncIterator[tuple[str, list[str]]]:
    """``(mode, ids)`` batches of the ``known`` notes Zoho no longer has.

    ``mode`` forces ``sweep`` or ``per_parent``; by default the cheaper one is
    taken, and a sweep refused to a non-admin user falls back to per parent.
    """
    how = mode or choose(known)
    if how == "sweep":
        try:
            live = await _sweep(client)
        except NotSupported:
            how = "per_parent"
        else:
            gone = [i for ids in known.values() for i in ids if i not in live]
            yield how, gone
            return
    for parent, ids in known.items():
        live = {str(r.get("id")) for r in await notes_of(client, parent)}
        yield how, [i for i in ids if i not in live]


def remember(known: dict[str, list[str]], rows: Iterable[Mapping[str, Any]]) -> None:
    """Add notes just read to ``known`` (by parent), so a later check can miss them."""
    for row in rows:
        parent = parent_key(row)
        note_id = row.get("id")
        if parent is None or not note_id:
            continue
        ids = known.setdefault(parent, [])
        if str(note_id) not in ids:
            ids.append(str(note_id))


def forget(known: dict[str, list[str]], gone: Iterable[str]) -> None:
    """Drop deleted notes (and parents left with none) from ``known``."""
    dead = set(gone)
    for parent in list(known):
        known[parent] = [i for i in known[parent] if i not in dead]
        if not known[parent]:
            del known[parent]
