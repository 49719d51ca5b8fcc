"""Reading a module's changes: Get Records with ``page_token``, or COQL, and the deletion feed.

Both readers walk records by ``Modified_Time`` ascending from an inclusive
lower bound, so a page's largest ``Modified_Time`` is a safe cursor: a run
that stops after any page resumes there and the engine drops what it has seen.

- **Get Records**: ``fields`` always sent (at most 50 per call: a wider field
  list is read in chunks, the rest fetched by ``ids`` and joined on ``id``),
  ``If-Modified-Since`` for the bound, ``page_token`` past the 2,000-record
  wall; a chain that reaches 100,000 records (or whose token expired) starts
  again from the last ``Modified_Time`` seen. 204 and 304 are empty.
- **COQL**: ``where Modified_Time >= T order by Modified_Time asc, id asc
  limit 2000``, the next query starting at the last ``Modified_Time`` seen and
  skipping the rows of that second already read. Lookups come back as
  ``{"id"}``; ``Owner`` is filled in from ``/users``.

``auto`` starts with Get Records (one call answers an idle module) and, when
more than a page is waiting, switches to COQL, which reads ten times as many
records per call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

from connectors.zoho.client import ZohoClient, ZohoResponse
from crmbridge.errors import ConfigError, PermanentError

__all__ = [
    "COQL_LIMIT",
    "NotSupported",
    "coql_eligible",
    "fetch_by_ids",
    "parse_time",
    "read_deleted",
    "read_module",
    "zoho_time",
]

COQL_LIMIT = 2000
COQL_REACH = 100_000
FIELDS_PER_CALL = 50
IDS_PER_CALL = 100
#: fields COQL cannot select as Get Records returns them (multi-value, subform-like)
_NOT_COQL = frozenset({"Tag", "Participants"})
Json = dict[str, Any]


class NotSupported(PermanentError):
    """The API user may not list this module (GET /Notes is for admins only)."""


def parse_time(value: Any) -> datetime | None:
    """A Zoho date-time (``2019-05-02T15:06:43+05:30``) as an aware datetime, else ``None``."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def zoho_time(value: datetime) -> str:
    """``value`` as Zoho takes date-times: ISO 8601 in UTC with ``+00:00``, no fraction."""
    return value.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def coql_eligible(module: str, fields: Sequence[str]) -> bool:
    """Whether COQL can read these fields of ``module`` as Get Records would."""
    return module != "Notes" and len(fields) < FIELDS_PER_CALL and not _NOT_COQL & set(fields)


def _chunks(items: Sequence[str], size: int) -> list[list[str]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def _field_error(answer: ZohoResponse, module: str, client: ZohoClient) -> Exception:
    details = answer.details
    if answer.code in ("INVALID_DATA", "LIMIT_EXCEEDED") and details.get("param_name") == "fields":
        name = details.get("api_name")
        return ConfigError(
            f"Zoho module {module} has no field {name!r} that the mapping reads; create it "
            "in Zoho (Setup > Customization > Modules and Fields) or remove it from the mapping",
            connector=client.connector,
            entity=module,
            field=str(name) if name else None,
        )
    if answer.code == "INVALID_MODULE" or answer.status == 404:
        return ConfigError(
            f"Zoho has no module {module} ({answer.message()}); set its API name under "
            "the connector's modules: setting",
            connector=client.connector,
            entity=module,
        )
    if answer.code == "NOT_SUPPORTED" or (answer.status == 403 and module == "Notes"):
        return NotSupported(
            f"{module}: {answer.message()}", connector=client.connector, entity=module
        )
    return client.permanent(answer, f"reading {module}", entity=module)


async def _join(
    client: ZohoClient, module: str, rows: list[Json], extra: list[list[str]]
) -> list[Json]:
    """Fill the fields past the first 50 into ``rows`` from calls by ``ids``."""
    if not extra or not rows:
        return rows
    by_id = {str(r["id"]): r for r in rows}
    for chunk in extra:
        for ids in _chunks(list(by_id), IDS_PER_CALL):
            answer = await client.call(
                "GET", f"/{module}", params={"ids": ",".join(ids), "fields": ",".join(chunk)}
            )
            if answer.status >= 400:
                raise _field_error(answer, module, client)
            for item in (answer.body or {}).get("data", []) if not answer.empty else []:
                target = by_id.get(str(item.get("id")))
                if target is not None:
                    target.update({k: v for k, v in item.items() if k != "id"})
    return rows


async def _records_pages(
    client: ZohoClient, module: str, fields: Sequence[str], since: datetime | None, per_page: int
) -> AsyncIterator[tuple[list[Json], bool]]:
    """Get Records pages oldest first: ``(rows, more_waiting)``."""
    first, *extra = _chunks(list(fields), FIELDS_PER_CALL)
    base = {
        "fields": ",".join(first),
        "per_page": str(per_page),
        "sort_by": "Modified_Time",
        "sort_order": "asc",
    }
    bound = seen = since
    token: str | None = None
    while True:
        headers = {"If-Modified-Since": zoho_time(bound)} if bound is not None else None
        params = {**base, "page_token": token} if token else base
        answer = await client.call("GET", f"/{module}", params=params, headers=headers)
        if answer.status >= 400:
            if token and answer.code in (
                "PAGINATION_LIMIT_EXCEEDED",
                "EXPIRED_VALUE",
                "TOKEN_BOUND_DATA_MISMATCH",
            ):
                token, bound = None, seen or bound  # a new chain from the last instant read
                continue
            raise _field_error(answer, module, client)
        if answer.empty:
            return
        rows = [r for r in answer.body.get("data", []) if isinstance(r, dict)]
        info = answer.body.get("info") or {}
        more = bool(info.get("more_records"))
        rows = await _join(client, module, rows, extra)
        last = parse_time(rows[-1].get("Modified_Time")) if rows else None
        seen = last or seen
        yield rows, more
        if not more or not rows:
            return
        token = info.get("next_page_token")
        if not token:  # no token (v2-style answer): go on from the last instant read
            if last is None or last == bound:
                return
            bound = last


def _coql_where(since: datetime | None) -> str:
    if since is None:
        return "id is not null"
    return f"Modified_Time >= '{zoho_time(since)}'"


async def _coql_pages(
    client: ZohoClient, module: str, fields: Sequence[str], since: datetime | None
) -> AsyncIterator[tuple[list[Json], bool]]:
    """COQL pages oldest first, keyset on ``Modified_Time`` (ties skipped by offset)."""
    columns = ", ".join(dict.fromkeys(["id", *fields]))
    bound, skip = since, 0
    while True:
        query = (
            f"select {columns} from {module} where {_coql_where(bound)} "
            f"order by Modified_Time asc, id asc limit {skip}, {COQL_LIMIT}"
        )
        answer = await client.call(
            "POST", "/coql", json={"select_query": query}, heavy=True, credits=3
        )
        if answer.status >= 400:
            raise client.permanent(answer, f"COQL on {module}", entity=module)
        if answer.empty:
            return
        rows = [r for r in answer.body.get("data", []) if isinstance(r, dict)]
        more = bool((answer.body.get("info") or {}).get("more_records"))
        yield rows, more
        if not more or not rows:
            return
        last_text = rows[-1].get("Modified_Time")
        last = parse_time(last_text)
        ties = sum(1 for r in rows if r.get("Modified_Time") == last_text)
        skip = skip + ties if last == bound else ties
        bound = last
        if skip + COQL_LIMIT > COQL_REACH:
            raise PermanentError(
                f"more than {COQL_REACH} {module} records share one Modified_Time second; "
                "read them with read_mode: records",
                connector=client.connector,
                entity=module,
            )


async def read_module(
    client: ZohoClient,
    module: str,
    fields: Sequence[str],
    since: datetime | None,
    *,
    mode: str,
    per_page: int,
    modes: dict[str, str],
) -> AsyncIterator[list[Json]]:
    """Pages of ``module``'s records modified at or after ``since`` (``None``: all), oldest first.

    ``mode`` is ``records``, ``coql`` or ``auto``; which reader served the
    module is written to ``modes[module]`` for the run report.
    """
    wanted = list(dict.fromkeys(["Modified_Time", *fields]))
    can_coql = coql_eligible(module, wanted)
    if mode == "coql" and can_coql:
        modes[module] = "coql"
        async for rows, _ in _coql_pages(client, module, wanted, since):
            yield rows
        return
    modes[module] = "records"
    last = since
    async for rows, more in _records_pages(client, module, wanted, since, per_page):
        yield rows
        last = parse_time(rows[-1].get("Modified_Time")) if rows else last
        if more and mode == "auto" and can_coql:
            # more than a page waits: COQL reads 2,000 a call instead of 200
            modes[module] = "records+coql"
            async for more_rows, _ in _coql_pages(client, module, wanted, last):
                yield more_rows
            return


async def read_deleted(
    client: ZohoClient, module: str, since: datetime | None
) -> AsyncIterator[list[Json]]:
    """Pages of ``/{module}/deleted?type=all`` entries deleted at or after ``since``."""
    page = 1
    headers = {"If-Modified-Since": zoho_time(since)} if since is not None else None
    while True:
        params = {"type": "all", "per_page": "200", "page": str(page)}
        answer = await client.call(
            "GET", f"/{module}/deleted", params=params, headers=headers, credits=2
        )
        if answer.status >= 400:
            if answer.code == "DISCRETE_PAGINATION_LIMIT_EXCEEDED":
                return
            raise client.permanent(answer, f"reading deleted {module}", entity=module)
        if answer.empty:
            return
        rows = [r for r in answer.body.get("data", []) if isinstance(r, dict)]
        yield rows
        if not (answer.body.get("info") or {}).get("more_records") or not rows:
            return
        page += 1


async def fetch_by_ids(
    client: ZohoClient, module: str, fields: Sequence[str], ids: Sequence[str]
) -> list[Json]:
    """The records of ``module`` among ``ids`` (unknown ids are left out)."""
    wanted = list(dict.fromkeys(["Modified_Time", *fields]))
    first, *extra = _chunks(wanted, FIELDS_PER_CALL)
    found: list[Json] = []
    for chunk in _chunks(list(ids), IDS_PER_CALL):
        answer = await client.call(
            "GET", f"/{module}", params={"ids": ",".join(chunk), "fields": ",".join(first)}
        )
        if answer.status >= 400:
            if answer.code == "INVALID_DATA" and answer.details.get("param_name") == "ids":
                continue
            raise _field_error(answer, module, client)
        if not answer.empty:
            rows = [r for r in answer.body.get("data", []) if isinstance(r, dict)]
            found += await _join(client, module, rows, extra)
    return found
