"""Writing batches to one module, with Zoho's per-record results.

- **Creates** go through ``/upsert`` with ``duplicate_check_fields`` = the
  crmbridge id field, so a record is never made twice for one key. Tasks,
  Calls, Events and Notes have no upsert: when the crmbridge id field is
  unique Zoho itself refuses a second record with the same id
  (``DUPLICATE_DATA`` naming the first one). A create that may already have
  reached Zoho (an attempt whose answer was lost, or a request the engine
  marks ``resent``) first looks its id up with COQL (no search-index lag).
  A record an earlier attempt made is *adopted* (``CREATED`` with code
  ``ALREADY_CREATED``), never written again: it holds the create's values
  already, or a person's edit made since, which a replay must not undo.
- **Notes** take no custom field: each carries the marker ``[crmbridge:<id>]``
  at the end of ``Note_Content`` (:mod:`connectors.zoho.notes`), and before a
  note is sent again (a retry after an unanswered attempt, or a request the
  engine marks ``resent``) its parent's notes are listed and one with the
  marker is adopted instead of making a second.
- **Updates** ``PUT`` the records by id; **deletes** ``DELETE ?ids=`` (an id
  Zoho no longer has counts as deleted once a read confirms it is gone).
- Every batch is at most 100 records; ``trigger`` says which automations run.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connectors.zoho.client import ZohoClient, ZohoResponse, write_credits
from connectors.zoho.notes import NOTES, marked, notes_of, parent_key, strip_marker
from connectors.zoho.reads import IDS_PER_CALL, parse_time
from crmbridge.connector import WriteOutcome, WriteRequest, WriteResult
from crmbridge.errors import PermanentError, TransientError

__all__ = ["NO_UPSERT", "ModuleWriter", "result_of"]

log = logging.getLogger(__name__)

BATCH = 100
#: modules the Upsert API does not serve (Zoho's upsert page lists the others)
NO_UPSERT = frozenset({"Tasks", "Calls", "Events", "Notes"})
COQL_IN = 50  # values per COQL ``in`` (Zoho documents 50; a newer text says 100)
Json = dict[str, Any]


def _adopted(request: WriteRequest, record_id: str, modified: Any) -> WriteResult:
    """The result of a create whose record an earlier attempt made."""
    return WriteResult(request.key, WriteOutcome.CREATED, record_id, modified, "ALREADY_CREATED")


def result_of(
    request: WriteRequest, item: Mapping[str, Any] | None, ok: WriteOutcome
) -> WriteResult:
    """The :class:`WriteResult` of one Zoho per-record item (``None``: no item came back)."""
    if not isinstance(item, Mapping):
        return WriteResult(
            request.key,
            WriteOutcome.REJECTED,
            request.external_id,
            code="NO_RESULT",
            message="Zoho returned no result for this record",
        )
    details = item.get("details") if isinstance(item.get("details"), Mapping) else {}
    assert isinstance(details, Mapping)
    if item.get("status") == "success" or item.get("code") == "SUCCESS":
        outcome = ok
        if item.get("action") == "update" and ok is WriteOutcome.CREATED:
            outcome = WriteOutcome.UPDATED
        return WriteResult(
            request.key,
            outcome,
            str(details.get("id") or request.external_id or "") or None,
            parse_time(details.get("Modified_Time")),
            str(item.get("code") or "SUCCESS"),
        )
    api_name = details.get("api_name")
    return WriteResult(
        request.key,
        WriteOutcome.REJECTED,
        request.external_id,
        None,
        str(item.get("code") or "ERROR"),
        str(api_name) if api_name else None,
        str(item.get("message") or ""),
    )


def _items(answer: ZohoResponse, count: int) -> list[Any] | None:
    body = answer.body
    if isinstance(body, dict) and isinstance(body.get("data"), list):
        items = list(body["data"])[:count]
        return items + [None] * (count - len(items))
    return None


@dataclass(slots=True)
class ModuleWriter:
    """Writes to one Zoho module; ``id_field`` is the crmbridge id field, ``unique`` whether Zoho enforces it."""

    client: ZohoClient
    module: str
    id_field: str
    has_id_field: bool
    unique: bool
    trigger: Sequence[str]

    def _body(self, data: list[Json], **extra: Any) -> Json:
        return {"data": data, "trigger": list(self.trigger), **extra}

    async def _send(self, method: str, path: str, data: list[Json], **extra: Any) -> ZohoResponse:
        return await self.client.call(
            method,
            path,
            json=self._body(data, **extra),
            heavy=len(data) > 10,
            credits=write_credits(len(data)),
        )

    def _check(self, answer: ZohoResponse, count: int, what: str) -> list[Any]:
        items = _items(answer, count)
        if items is None:
            raise PermanentError(
                f"{what} {self.module}: {answer.message()}",
                connector=self.client.connector,
                entity=self.module,
            )
        return items

    def _payload(self, request: WriteRequest, data: Mapping[str, Any]) -> Json:
        payload = dict(data)
        if self.has_id_field and not payload.get(self.id_field):
            payload[self.id_field] = request.key
        return payload

    async def create(self, requests: Sequence[tuple[WriteRequest, Json]]) -> list[WriteResult]:
        """Create records (upsert on the crmbridge id where Zoho allows it)."""
        if self.module not in NO_UPSERT and self.has_id_field:
            return await self._upsert(requests)
        return await self._insert(requests, lookup=not self.unique)

    async def _upsert(self, requests: Sequence[tuple[WriteRequest, Json]]) -> list[WriteResult]:
        """Upsert once; if that may have reached Zoho unanswered, adopt what it made, then again."""
        pending = list(requests)
        done: dict[str, WriteResult] = {}

        async def attempt_once(attempt: int) -> None:
            nonlocal pending
            if attempt or any(r.resent for r, _ in pending):
                pending = await self._adopt(pending, done)
            if pending:
                data = [self._payload(r, d) for r, d in pending]
                answer = await self.client.call(
                    "POST",
                    f"/{self.module}/upsert",
                    json=self._body(data, duplicate_check_fields=[self.id_field]),
                    heavy=len(data) > 10,
                    credits=write_credits(len(data)),
                    attempts=1,
                )
                items = self._check(answer, len(data), "upsert into")
                for (r, _), item in zip(pending, items, strict=True):
                    done[r.key] = result_of(r, item, WriteOutcome.CREATED)

        # a write the budget refuses is never sent: nothing to look up, the run stops here
        await self._retrying(attempt_once, budget=lambda: write_credits(len(pending)))
        return [done[r.key] for r, _ in requests]

    async def _retrying(
        self,
        attempt_once: Callable[[int], Awaitable[None]],
        *,
        budget: Callable[[], int] | None = None,
    ) -> None:
        """Run ``attempt_once(attempt)`` until it returns, backing off after a transient error.

        ``budget`` gives the credits the next attempt may spend, checked before it.
        """
        s = self.client.settings
        for attempt in range(s.max_retries + 1):
            if budget is not None:
                self.client.check_budget(budget())
            try:
                await attempt_once(attempt)
                return
            except TransientError:
                if attempt == s.max_retries:
                    raise
                await self.client.sleep(min(s.max_backoff_s, s.backoff_s * 2**attempt))

    async def _insert(
        self, requests: Sequence[tuple[WriteRequest, Json]], *, lookup: bool
    ) -> list[WriteResult]:
        """Insert into a module without upsert, never making a second record for one key."""
        if self.module == NOTES and not self.has_id_field:
            return await self._create_notes(requests)
        if not self.has_id_field:
            # nothing to recognise a record by: send once
            data = [dict(d) for _, d in requests]
            answer = await self._send("POST", f"/{self.module}", data)
            items = self._check(answer, len(data), "insert into")
            return [
                result_of(r, i, WriteOutcome.CREATED)
                for (r, _), i in zip(requests, items, strict=True)
            ]
        pending = list(requests)
        done: dict[str, WriteResult] = {}

        async def attempt_once(attempt: int) -> None:
            nonlocal pending
            if lookup or attempt:
                pending = await self._adopt(pending, done)
            if pending:
                await self._insert_once(pending, done)

        await self._retrying(attempt_once)
        return [done[r.key] for r, _ in requests]

    async def _create_notes(
        self, requests: Sequence[tuple[WriteRequest, Json]]
    ) -> list[WriteResult]:
        """Insert marked notes; before sending one again, adopt the note that carries its marker."""
        pending = [(r, marked(d, r.key)) for r, d in requests]
        done: dict[str, WriteResult] = {}

        async def attempt_once(attempt: int) -> None:
            nonlocal pending
            unsure = [(r, d) for r, d in pending if attempt or r.resent]
            if unsure:
                found = await self._marked_notes(unsure)
                for r, _ in unsure:
                    if r.key in found:
                        note_id, modified = found[r.key]
                        done[r.key] = WriteResult(
                            r.key, WriteOutcome.CREATED, note_id, modified, "ALREADY_CREATED"
                        )
                pending = [(r, d) for r, d in pending if r.key not in done]
            if pending:
                await self._insert_once(pending, done, payloads=False)

        await self._retrying(attempt_once)
        return [done[r.key] for r, _ in requests]

    async def _marked_notes(
        self, requests: Sequence[tuple[WriteRequest, Json]]
    ) -> dict[str, tuple[str, Any]]:
        """``{key: (note id, Modified_Time)}`` of the notes already carrying these requests' markers."""
        wanted = {r.key for r, _ in requests}
        parents = dict.fromkeys(p for _, d in requests if (p := parent_key(d)) is not None)
        found: dict[str, tuple[str, Any]] = {}
        for parent in parents:
            for note in await notes_of(self.client, parent, ("Note_Content", "Modified_Time")):
                content = note.get("Note_Content")
                _, key = strip_marker(content)
                if key is None and isinstance(content, str) and len(content) >= 500:
                    # list answers may cut long text: read the whole note
                    key = await self._marker_of(str(note.get("id")))
                if key in wanted and key not in found:
                    found[key] = (str(note["id"]), parse_time(note.get("Modified_Time")))
        return found

    async def _marker_of(self, note_id: str) -> str | None:
        answer = await self.client.call("GET", f"/{NOTES}/{note_id}")
        if answer.status >= 400 or answer.empty:
            return None
        rows = answer.body.get("data") or [{}]
        return strip_marker(rows[0].get("Note_Content"))[1]

    async def _insert_once(
        self,
        pending: Sequence[tuple[WriteRequest, Json]],
        done: dict[str, WriteResult],
        *,
        payloads: bool = True,
    ) -> None:
        data = [self._payload(r, d) if payloads else dict(d) for r, d in pending]
        answer = await self.client.call(
            "POST",
            f"/{self.module}",
            json=self._body(data),
            heavy=len(data) > 10,
            credits=write_credits(len(data)),
            attempts=1,
        )
        items = self._check(answer, len(data), "insert into")
        for (request, _), item in zip(pending, items, strict=True):
            twin = _duplicate_of(item, self.id_field)
            if twin is not None:  # made by an earlier attempt: adopted, not written again
                done[request.key] = _adopted(request, twin, None)
            else:
                done[request.key] = result_of(request, item, WriteOutcome.CREATED)

    async def _adopt(
        self, pending: Sequence[tuple[WriteRequest, Json]], done: dict[str, WriteResult]
    ) -> list[tuple[WriteRequest, Json]]:
        """Adopt the records an earlier attempt already made; return the rest to create."""
        keys = [r.key for r, _ in pending]
        found: dict[str, tuple[str, Any]] = {}
        for start in range(0, len(keys), COQL_IN):
            chunk = keys[start : start + COQL_IN]
            values = ", ".join("'" + k.replace("'", "\\'") + "'" for k in chunk)
            query = (
                f"select id, {self.id_field}, Modified_Time from {self.module} "
                f"where {self.id_field} in ({values}) limit 2000"
            )
            answer = await self.client.call(
                "POST", "/coql", json={"select_query": query}, heavy=True
            )
            if answer.status >= 400:
                raise self.client.permanent(answer, f"looking up {self.module} by {self.id_field}")
            for row in [] if answer.empty else answer.body.get("data", []):
                if isinstance(row, dict) and row.get(self.id_field):
                    found[str(row[self.id_field])] = (
                        str(row["id"]),
                        parse_time(row.get("Modified_Time")),
                    )
        for r, _ in pending:
            if r.key in found:
                done[r.key] = _adopted(r, *found[r.key])
        return [(r, d) for r, d in pending if r.key not in found]

    async def update(self, requests: Sequence[tuple[WriteRequest, Json]]) -> list[WriteResult]:
        """Update records by their Zoho ids."""
        data = [{**d, "id": r.external_id} for r, d in requests]
        answer = await self._send("PUT", f"/{self.module}", data)
        items = self._check(answer, len(data), "update of")
        return [
            result_of(r, i, WriteOutcome.UPDATED) for (r, _), i in zip(requests, items, strict=True)
        ]

    async def delete(self, requests: Sequence[WriteRequest]) -> list[WriteResult]:
        """Delete records by id; an id already gone counts as deleted."""
        ids = [str(r.external_id) for r in requests]
        params = {"ids": ",".join(ids), "wf_trigger": str("workflow" in self.trigger).lower()}
        answer = await self.client.call("DELETE", f"/{self.module}", params=params)
        items = self._check(answer, len(ids), "delete from")
        results = [
            result_of(r, i, WriteOutcome.DELETED) for r, i in zip(requests, items, strict=True)
        ]
        unsure = [
            r.external_id
            for r in results
            if r.outcome is WriteOutcome.REJECTED and r.code == "INVALID_DATA" and r.external_id
        ]
        if not unsure:
            return results
        alive = await self._alive(unsure)
        return [
            WriteResult(r.key, WriteOutcome.DELETED, r.external_id, code="ALREADY_DELETED")
            if r.external_id in unsure and r.external_id not in alive
            else r
            for r in results
        ]

    async def _alive(self, ids: Sequence[str]) -> set[str]:
        alive: set[str] = set()
        for start in range(0, len(ids), IDS_PER_CALL):
            chunk = ids[start : start + IDS_PER_CALL]
            answer = await self.client.call(
                "GET", f"/{self.module}", params={"ids": ",".join(chunk), "fields": "Modified_Time"}
            )
            if answer.status < 400 and not answer.empty:
                alive |= {str(r.get("id")) for r in answer.body.get("data", [])}
        return alive


def _gone(result: WriteResult) -> WriteResult:
    """An update of an id Zoho does not have: ``NOT_FOUND``, so the engine re-creates on change."""
    if result.code == "INVALID_DATA" and result.field == "id":
        return WriteResult(
            result.key,
            result.outcome,
            result.external_id,
            None,
            "NOT_FOUND",
            "id",
            f"INVALID_DATA: {result.message}",
        )
    return result


def _duplicate_of(item: Any, id_field: str) -> str | None:
    """The id of the record that already holds this crmbridge id, from a DUPLICATE_DATA item."""
    if not isinstance(item, dict) or item.get("code") != "DUPLICATE_DATA":
        return None
    details = item.get("details") or {}
    if details.get("api_name") != id_field:
        return None
    twin = (details.get("duplicate_record") or {}).get("id") or details.get("id")
    return str(twin) if twin else None
