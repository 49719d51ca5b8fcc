"""Reading object data: changes by ``last_modified_time``, ``_id`` walks, lookups by field.

**Changes** are read oldest first by ``last_modified_time`` (epoch ms), 100
a call, keyset-style with ``offset`` always 0: each query starts at the last
page's newest instant (``GTE``), and the few rows of that instant already
read come again and are dropped here. ``offset`` must be a multiple of
``limit`` and stay under 10,000, so it is never used: no backlog is too deep,
and a record edited while the walk runs moves past the bound and is read
later, never skipped (plain offset paging would shift every later row back
by one and lose one). When a whole page shares one millisecond (a bulk
import), the rest of that instant is read as the manual's deep-paging FAQ
says: ordered by ``_id``, ``_id GT <last>``.

**``_id`` walks** (the FAQ's recipe) list a whole object for the deletion
scan. **Lookups** find rows whose field is ``IN`` up to 100 values (records
by ``_id``, creates by the crmbridge id field).

Whether ``orders`` takes a second key is not documented, so one key is sent
and ties are handled as above; a walk stops on a short page, never on
``total`` (0 unless asked for).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

from connectors.fxiaoke.client import FxiaokeClient, data_path
from crmbridge.errors import PermanentError

__all__ = [
    "ID",
    "LMT",
    "condition",
    "lookup",
    "millis",
    "query",
    "read_changed",
    "time_of",
    "walk_ids",
]

ID = "_id"
LMT = "last_modified_time"
IN_VALUES = 100
Json = dict[str, Any]


def condition(field: str, operator: str, *values: Any) -> Json:
    """One filter; ``field_values`` is always a list of strings, as the manual types it."""
    return {"field_name": field, "operator": operator, "field_values": [str(v) for v in values]}


def millis(row: Json, field: str = LMT) -> int | None:
    """A row's epoch-ms field as an int (numbers may come as text), else ``None``."""
    raw = row.get(field)
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    if isinstance(raw, str) and raw.isdigit():
        return int(raw)
    return None


def time_of(ms: int | None) -> datetime | None:
    """Epoch milliseconds as an aware UTC datetime."""
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)


def _rows(data: Any) -> list[Json]:
    """The rows of a query's ``data``; an answer of no known shape stops the run.

    Taking an unknown shape for "no rows" would end a listing early, and the
    deletion scan would then take every record not listed for deleted.
    """
    if isinstance(data, dict):
        rows = data.get("dataList")
        if isinstance(rows, list):
            return [r for r in rows if isinstance(r, dict)]
        if isinstance(data.get(ID), str):  # some query pages print a single record as data
            return [data]
    raise PermanentError(
        f"Fxiaoke data/query answered in a shape crmbridge does not know "
        f"({type(data).__name__} with keys {sorted(data) if isinstance(data, dict) else []}); "
        "nothing was read from it"
    )


async def query(
    client: FxiaokeClient,
    api_name: str,
    *,
    filters: Sequence[Json] = (),
    orders: Sequence[Json] = (),
    fields: Sequence[str] = (),
    limit: int = 100,
    offset: int = 0,
) -> list[Json]:
    """One ``data/query`` call: the rows of one page (``fields`` empty: every field)."""
    info: Json = {"limit": limit, "offset": offset, "filters": list(filters)}
    if orders:
        info["orders"] = list(orders)
    if fields:
        info["fieldProjection"] = list(dict.fromkeys(fields))
    data = {
        "dataObjectApiName": api_name,
        "find_explicit_total_num": False,
        "search_query_info": info,
    }
    answer = await client.call(data_path(api_name, "query"), data)
    return _rows(answer.data)


async def walk_ids(
    client: FxiaokeClient,
    api_name: str,
    fields: Sequence[str],
    *,
    filters: Sequence[Json] = (),
    limit: int = 100,
    after: str | None = None,
) -> AsyncIterator[list[Json]]:
    """Pages of every row matching ``filters`` by ``_id`` ascending (``_id GT`` the last one)."""
    wanted = [ID, *fields]
    while True:
        more = [condition(ID, "GT", after)] if after is not None else []
        rows = await query(
            client,
            api_name,
            filters=[*filters, *more],
            orders=[{"fieldName": ID, "isAsc": True}],
            fields=wanted,
            limit=limit,
        )
        if rows:
            yield rows
        if len(rows) < limit:
            return
        last = rows[-1].get(ID)
        if not isinstance(last, str) or last == after:
            return
        after = last


async def read_changed(
    client: FxiaokeClient,
    api_name: str,
    fields: Sequence[str],
    since_ms: int | None,
    *,
    limit: int = 100,
) -> AsyncIterator[list[Json]]:
    """Pages of rows modified at or after ``since_ms`` (``None``: all), oldest first, each row once."""
    wanted = [ID, LMT, *fields]
    order = [{"fieldName": LMT, "isAsc": True}]
    bound, operator = since_ms, "GTE"
    seen: set[str] = set()  # ids already yielded at the instant ``bound``
    while True:
        filters = [condition(LMT, operator, bound)] if bound is not None else []
        rows = await query(
            client, api_name, filters=filters, orders=order, fields=wanted, limit=limit
        )
        fresh = [r for r in rows if str(r.get(ID)) not in seen]
        if fresh:
            yield fresh
        if len(rows) < limit:
            return
        last = _newest(rows, api_name, client)
        if bound is not None and (last < bound or (last == bound and operator == "GT")):
            raise PermanentError(
                f"Fxiaoke {api_name} answered a {LMT} {operator} {bound} query with rows up to "
                f"{last}; cannot page by it",
                connector=client.connector,
                entity=api_name,
            )
        at_last = {str(r.get(ID)) for r in rows if millis(r) == last}
        if len(at_last) < len(rows) and (bound is None or last > bound):
            # the next page starts at this page's newest instant: its rows may go on there
            bound, operator, seen = last, "GTE", at_last
            continue
        # a whole page of one instant (a bulk import), or one that cannot move the bound
        # (times that do not parse): read the rest of that instant by _id, then go past it
        done = at_last | (seen if last == bound else set())
        async for page in _same_instant(client, api_name, wanted, last, limit, done):
            yield page
        bound, operator, seen = last, "GT", set()


def _newest(rows: list[Json], api_name: str, client: FxiaokeClient) -> int:
    last = millis(rows[-1])
    if last is None:
        raise PermanentError(
            f"Fxiaoke {api_name} rows came without {LMT}; cannot read changes by it",
            connector=client.connector,
            entity=api_name,
        )
    return last


async def _same_instant(
    client: FxiaokeClient,
    api_name: str,
    fields: Sequence[str],
    instant: int,
    limit: int,
    seen: set[str],
) -> AsyncIterator[list[Json]]:
    """Every row modified at exactly ``instant`` not in ``seen``, by ``_id`` (the deep-paging recipe)."""
    async for rows in walk_ids(
        client, api_name, fields, filters=[condition(LMT, "EQ", instant)], limit=limit
    ):
        fresh = [r for r in rows if str(r.get(ID)) not in seen]
        if fresh:
            yield fresh


async def lookup(
    client: FxiaokeClient,
    api_name: str,
    field: str,
    values: Sequence[str],
    fields: Sequence[str],
    *,
    limit: int = 100,
) -> list[Json]:
    """Rows whose ``field`` is one of ``values`` (``IN``, 100 values a query)."""
    found: list[Json] = []
    wanted = [ID, LMT, field, *fields]
    unique = list(dict.fromkeys(v for v in values if v))
    for start in range(0, len(unique), IN_VALUES):
        chunk = unique[start : start + IN_VALUES]
        filters = [condition(field, "IN", *chunk)]
        async for rows in walk_ids(client, api_name, wanted, filters=filters, limit=limit):
            found += rows
    return found
