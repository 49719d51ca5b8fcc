"""Writing to one Fxiaoke object: create, update, change owner, invalidate and delete.

Fxiaoke writes one record a call and has no idempotency key, so:

- **Creates** carry the crmbridge id in ``crmbridge_id_field``. One that may
  already have reached Fxiaoke (the engine marks it ``resent``, or an
  earlier attempt went unanswered) is first looked up by that field and, if
  found, *adopted* (``CREATED`` with code ``ALREADY_CREATED``) instead of
  made again. With ``dedupe_creates: auto`` every create is looked up first
  unless Fxiaoke itself keeps the field unique, in which case a refused
  create is looked up and adopted instead. A batch's lookups cost one query
  per 100 records. A create that went unanswered (or was answered without
  an id) is looked up once; if no record holds its id yet it is not sent
  again in this run (a lagging query would make a twin): ``write`` raises a
  :class:`TransientError` and the engine replays the batch ``resent`` later.
- **Updates** send ``_id`` and the changed fields; ``owner`` cannot be
  changed that way and goes through ``changeOwner`` (a list of employee ids).
  A refused update whose record no longer exists is ``NOT_FOUND``, so the
  engine re-creates it on its next change.
- **Deletes** invalidate (作废, the recycle bin) and then, with
  ``hard_delete``, delete the invalidated records in one call per 100.
- ``triggerWorkFlow`` / ``triggerApprovalFlow`` are sent on every create
  and update, false unless the settings say otherwise.

A business errorCode rejects its record only (code ``ERROR_<errorCode>``,
the server's traceId in the message); the rest of the batch goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connectors.fxiaoke.client import FxiaokeClient, data_path
from connectors.fxiaoke.codes import DailyQuotaExhausted, FxiaokeError, NotSent
from connectors.fxiaoke.reads import ID, LMT, lookup, millis, time_of
from connectors.fxiaoke.scan import gone_row
from connectors.fxiaoke.settings import FxiaokeSettings
from crmbridge.connector import WriteOutcome, WriteRequest, WriteResult
from crmbridge.errors import TransientError

__all__ = ["BATCH", "ObjectWriter", "rejected"]

log = logging.getLogger(__name__)

BATCH = 100
OWNER = "owner"
Json = dict[str, Any]


def rejected(request: WriteRequest, exc: FxiaokeError, code: str | None = None) -> WriteResult:
    """The rejected result of a request Fxiaoke refused with ``exc``."""
    return WriteResult(
        request.key,
        WriteOutcome.REJECTED,
        request.external_id,
        code=code or f"ERROR_{exc.code}",
        message=exc.message,
    )


def _owners(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [str(v) for v in items if v not in (None, "")]


async def _all(tasks: Sequence[Awaitable[None]]) -> None:
    """Run ``tasks`` to the end, then raise the first failure (a quota stop before the rest)."""
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    if failures:
        failures.sort(key=lambda e: not isinstance(e, DailyQuotaExhausted))
        raise failures[0]


@dataclass(slots=True)
class ObjectWriter:
    """Writes to one object; ``unique`` says whether Fxiaoke keeps ``crmbridge_id_field`` unique."""

    client: FxiaokeClient
    api_name: str
    unique: bool = False

    @property
    def settings(self) -> FxiaokeSettings:
        """The connector's settings."""
        return self.client.settings

    @property
    def id_field(self) -> str:
        """The field holding the crmbridge id."""
        return self.settings.crmbridge_id_field

    def _options(self) -> Json:
        s = self.settings
        return {
            "triggerWorkFlow": s.trigger_workflow,
            "triggerApprovalFlow": s.trigger_approval_flow,
        }

    def _object_data(self, data: Mapping[str, Any]) -> Json:
        return {"dataObjectApiName": self.api_name, **data}

    async def _backoff(self, attempt: int) -> None:
        s = self.settings
        await self.client.sleep(min(s.max_backoff_s, s.backoff_s * 2**attempt))

    # -- creates ----------------------------------------------------------------------

    async def find(self, keys: Sequence[str]) -> dict[str, tuple[str, Any]]:
        """``{key: (record id, modified_at)}`` of live records holding these crmbridge ids."""
        rows = await lookup(self.client, self.api_name, self.id_field, keys, ["life_status"])
        found: dict[str, tuple[str, Any]] = {}
        for row in rows:
            key = row.get(self.id_field)
            if key and row.get(ID) and not gone_row(row) and str(key) not in found:
                found[str(key)] = (str(row[ID]), time_of(millis(row, LMT)))
        return found

    async def create(self, items: Sequence[tuple[WriteRequest, Json]]) -> list[WriteResult]:
        """Create records, adopting any an earlier attempt already made."""
        done: dict[str, WriteResult] = {}
        mode = self.settings.dedupe_creates
        first = mode == "always" or (mode == "auto" and not self.unique)
        unsure = [r.key for r, _ in items if first or r.resent]
        found = await self.find(unsure) if unsure else {}
        for request, _ in items:
            if request.key in found:
                done[request.key] = _adopted(request, *found[request.key])
        pending = [(r, d) for r, d in items if r.key not in done]
        await _all([self._create_one(r, d, done) for r, d in pending])
        return [done[r.key] for r, _ in items]

    async def _create_one(
        self, request: WriteRequest, data: Json, done: dict[str, WriteResult]
    ) -> None:
        payload = self._object_data({**data, self.id_field: request.key})
        if OWNER in payload:
            payload[OWNER] = _owners(payload[OWNER])
        last = self.settings.max_retries
        for attempt in range(last + 1):
            try:
                answer = await self.client.call(
                    data_path(self.api_name, "create"),
                    {"object_data": payload},
                    extra=self._options(),
                    attempts=1,
                )
            except FxiaokeError as exc:
                if self.unique:  # refused as a duplicate of the one an earlier attempt made?
                    found = await self.find([request.key])
                    if request.key in found:
                        done[request.key] = _adopted(request, *found[request.key])
                        return
                done[request.key] = rejected(request, exc)
                return
            except NotSent:
                if attempt == last:
                    raise
                await self._backoff(attempt)
                continue  # it did no work: sending it again cannot make a twin
            except DailyQuotaExhausted:
                raise
            except TransientError as exc:
                await self._backoff(attempt)
                done[request.key] = await self._made_or_replay(request, exc)
                return
            new_id = _created_id(answer.body)
            if new_id is not None:
                done[request.key] = WriteResult(
                    request.key, WriteOutcome.CREATED, new_id, None, "SUCCESS"
                )
                return
            # the custom-object page shows no dataId: find the record by our id
            done[request.key] = await self._made_or_replay(request, None)
            return

    async def _made_or_replay(
        self, request: WriteRequest, unanswered: TransientError | None
    ) -> WriteResult:
        """The record a create may have made, found by the crmbridge id, else a replay later.

        It is never sent again in this run: a query that lags behind the
        create would make a twin. The :class:`TransientError` leaves the batch
        in the engine's outbox, replayed ``resent`` (looked up first) next run.
        """
        found = await self.find([request.key])
        if request.key in found:
            return _adopted(request, *found[request.key])
        what = (
            f"went unanswered ({unanswered})"
            if unanswered is not None
            else "was answered without the new record's id"
        )
        raise TransientError(
            f"Fxiaoke {self.api_name} create of {request.key} {what} and no record holds "
            f"{self.id_field}={request.key} yet; the batch is sent again, looked up first, by "
            "a later run",
            retry_after=self.settings.max_backoff_s,
            connector=self.client.connector,
            entity=self.api_name,
        )

    # -- updates ----------------------------------------------------------------------

    async def update(self, items: Sequence[tuple[WriteRequest, Json]]) -> list[WriteResult]:
        """Update records by id; an ``owner`` change goes through changeOwner."""
        done: dict[str, WriteResult] = {}
        await _all([self._update_one(r, d, done) for r, d in items])
        return [done[r.key] for r, _ in items]

    async def _update_one(
        self, request: WriteRequest, data: Json, done: dict[str, WriteResult]
    ) -> None:
        fields = dict(data)
        owner = fields.pop(OWNER, None)
        record_id = str(request.external_id)
        try:
            if fields or owner is None:
                body = self._object_data({**fields, ID: record_id})
                await self.client.call(
                    data_path(self.api_name, "update"), {"object_data": body}, extra=self._options()
                )
            if owner is not None:
                await self.change_owner(record_id, _owners(owner))
        except FxiaokeError as exc:
            alive = await self.alive([record_id])
            done[request.key] = rejected(request, exc, None if record_id in alive else "NOT_FOUND")
            return
        done[request.key] = WriteResult(
            request.key, WriteOutcome.UPDATED, record_id, None, "SUCCESS"
        )

    async def change_owner(self, record_id: str, owners: list[str]) -> None:
        """Give a record new owners (the API takes a list of employee ids, even for one)."""
        data = {
            "dataObjectApiName": self.api_name,
            "Data": [{"objectDataId": record_id, "ownerId": owners}],
        }
        await self.client.call(data_path(self.api_name, "changeOwner"), data)

    async def alive(self, ids: Sequence[str]) -> set[str]:
        """Those of ``ids`` that are live records of this object."""
        rows = await lookup(self.client, self.api_name, ID, ids, ["life_status"])
        return {str(r[ID]) for r in rows if not gone_row(r)}

    # -- deletes ----------------------------------------------------------------------

    async def delete(self, requests: Sequence[WriteRequest]) -> list[WriteResult]:
        """Invalidate each record, then delete the invalidated ones (``hard_delete``)."""
        done: dict[str, WriteResult] = {}
        await _all([self._invalidate(r, done) for r in requests])
        invalidated = [str(r.external_id) for r in requests if done[r.key].code == "SUCCESS"]
        if self.settings.hard_delete:
            for start in range(0, len(invalidated), BATCH):
                chunk = invalidated[start : start + BATCH]
                try:
                    await self.client.call(
                        data_path(self.api_name, "delete"),
                        {"dataObjectApiName": self.api_name, "idList": chunk},
                    )
                except FxiaokeError as exc:
                    log.warning(
                        "%s: %d records invalidated but not deleted (%s); they stay in the "
                        "recycle bin",
                        self.api_name,
                        len(chunk),
                        exc.message,
                    )
        return [done[r.key] for r in requests]

    async def _invalidate(self, request: WriteRequest, done: dict[str, WriteResult]) -> None:
        record_id = str(request.external_id)
        try:
            await self.client.call(
                data_path(self.api_name, "invalid"),
                {"dataObjectApiName": self.api_name, "object_data_id": record_id},
            )
        except FxiaokeError as exc:
            if record_id in await self.alive([record_id]):
                done[request.key] = rejected(request, exc)
            else:
                done[request.key] = WriteResult(
                    request.key, WriteOutcome.DELETED, record_id, code="ALREADY_DELETED"
                )
            return
        done[request.key] = WriteResult(
            request.key, WriteOutcome.DELETED, record_id, code="SUCCESS"
        )


def _adopted(request: WriteRequest, record_id: str, modified: Any) -> WriteResult:
    """The result of a create whose record an earlier attempt made: kept, never written again."""
    return WriteResult(request.key, WriteOutcome.CREATED, record_id, modified, "ALREADY_CREATED")


def _created_id(body: Mapping[str, Any]) -> str | None:
    """The new record's id: ``dataId`` at the top level (preset objects), else inside ``data``."""
    for holder in (body, body.get("data")):
        if isinstance(holder, Mapping):
            for key in ("dataId", ID, "objectDataId"):
                value = holder.get(key)
                if isinstance(value, str) and value:
                    return value
    return None
