"""Reading: the deep-paging request shapes, keyset paging by last_modified_time, the offset wall."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx

from connectors.fxiaoke import FxiaokeError
from connectors.fxiaoke.client import FxiaokeClient
from connectors.fxiaoke.reads import read_changed, walk_ids

from .http_support import BASE, Sleeps, body_of, error, fixture, ok, settings, token_route

QUERY = f"{BASE}/cgi/crm/v2/data/query"
Row = dict[str, Any]


class FakeTable:
    """A query endpoint over rows, honouring the filters and the single order the reads send."""

    def __init__(self, rows: list[Row], wall: int = 10_000) -> None:
        self.rows = rows
        self.wall = wall
        self.infos: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        info = body_of(request)["data"]["search_query_info"]
        self.infos.append(info)
        if info["offset"] > self.wall:
            return httpx.Response(200, json=fixture("error_10013_offset_out_of_range"))
        if info["offset"] % info["limit"]:
            return error(32000, "offset 必须是 limit 的整数倍")
        rows = [r for r in self.rows if all(_match(r, f) for f in info["filters"])]
        (order,) = info["orders"]
        rows.sort(key=lambda r: (r[order["fieldName"]], r["_id"]))
        page = rows[info["offset"] : info["offset"] + info["limit"]]
        return ok(
            data={"dataList": page, "offset": info["offset"], "limit": info["limit"], "total": 0}
        )


def _match(row: Row, f: dict[str, Any]) -> bool:
    value = row[f["field_name"]]
    (wanted,) = f["field_values"]
    target: Any = int(wanted) if isinstance(value, int) else wanted
    ops: dict[str, Callable[[Any, Any], bool]] = {
        "GT": lambda a, b: a > b,
        "GTE": lambda a, b: a >= b,
        "EQ": lambda a, b: a == b,
    }
    return ops[f["operator"]](value, target)


def rows(n: int, *, at: Callable[[int], int]) -> list[Row]:
    return [{"_id": f"{i:032x}", "last_modified_time": at(i)} for i in range(n)]


async def _collect(table: FakeTable, since: int | None, **kw: Any) -> list[list[Row]]:
    c = FxiaokeClient(settings(), sleep=Sleeps())
    await c.open()
    try:
        return [p async for p in read_changed(c, "AccountObj", [], since, **kw)]
    finally:
        await c.close()


@respx.mock
def test_the_id_walk_sends_the_documented_requests() -> None:
    token_route()
    first = fixture("query_deep_paging_first_page_response")
    route = respx.post(QUERY).mock(
        side_effect=[httpx.Response(200, json=first), ok(data={"dataList": []})]
    )

    async def go() -> list[list[Row]]:
        c = FxiaokeClient(settings(), sleep=Sleeps())
        await c.open()
        pages = [p async for p in walk_ids(c, "AccountObj", [], limit=5)]
        await c.close()
        return pages

    pages = asyncio.run(go())
    assert [len(p) for p in pages] == [5]
    one, two = (body_of(c.request) for c in route.calls)
    assert one == fixture("query_deep_paging_first_page_request")
    expected = fixture("query_deep_paging_next_page_search_query_info")
    sent = two["data"]["search_query_info"]
    assert sent.pop("fieldProjection") == ["_id"]
    assert sent == expected


@respx.mock
def test_changes_are_read_by_keyset_and_edits_during_the_walk_are_not_skipped() -> None:
    token_route()
    table = FakeTable(rows(250, at=lambda i: 1_700_000_000_000 + i))
    respx.post(QUERY).mock(side_effect=table)

    async def go() -> list[str]:
        c = FxiaokeClient(settings(), sleep=Sleeps())
        await c.open()
        seen: list[str] = []
        async for page in read_changed(c, "AccountObj", ["name"], None):
            seen += [r["_id"] for r in page]
            if len(seen) == 100:  # someone edits an early record mid-walk: it moves to the end
                table.rows[5]["last_modified_time"] = 1_800_000_000_000
        await c.close()
        return seen

    seen = asyncio.run(go())
    assert set(seen) == {r["_id"] for r in table.rows}
    assert seen[-1] == table.rows[5]["_id"]
    assert [i["offset"] for i in table.infos] == [0, 0, 0]  # keyset, never an offset
    second = table.infos[1]
    assert second["filters"] == [
        {"field_name": "last_modified_time", "operator": "GTE", "field_values": ["1700000000099"]}
    ]
    assert second["orders"] == [{"fieldName": "last_modified_time", "isAsc": True}]
    assert set(second["fieldProjection"]) == {"_id", "last_modified_time", "name"}


@respx.mock
def test_an_instant_holding_more_than_a_page_is_walked_by_id_not_by_offset() -> None:
    """A bulk import stamps many rows with one millisecond: the offset would climb to the wall."""
    token_route()
    instant = 1_700_000_000_000
    table = FakeTable(rows(400, at=lambda i: instant if 30 <= i < 380 else instant + i))
    respx.post(QUERY).mock(side_effect=table)
    pages = asyncio.run(_collect(table, None))
    ids = [r["_id"] for p in pages for r in p]
    assert len(ids) == len(set(ids)) == 400  # nothing yielded twice, nothing lost
    assert {i["offset"] for i in table.infos} == {0}  # never near the 10,000 wall
    by_id = [i for i in table.infos if i["orders"][0]["fieldName"] == "_id"]
    assert by_id, "the instant is walked by _id"
    assert by_id[0]["offset"] == 0
    assert by_id[0]["filters"] == [
        {"field_name": "last_modified_time", "operator": "EQ", "field_values": [str(instant)]}
    ]
    assert by_id[1]["filters"][-1]["operator"] == "GT"
    assert by_id[1]["filters"][-1]["field_name"] == "_id"
    after = table.infos[-1]
    assert after["filters"][0]["operator"] == "GT"  # then on past that instant
    assert after["filters"][0]["field_values"] == [str(instant)]


@respx.mock
def test_a_short_page_ends_the_read_without_a_total() -> None:
    token_route()
    route = respx.post(QUERY).mock(return_value=ok(data={"dataList": [], "total": 0}))
    table = FakeTable([])
    assert asyncio.run(_collect(table, None)) == []
    assert route.call_count == 1
    assert body_of(route.calls[0].request)["data"]["find_explicit_total_num"] is False


@respx.mock
def test_a_query_refused_for_another_reason_is_not_taken_for_the_wall() -> None:
    token_route()
    respx.post(QUERY).mock(return_value=error(10013))
    with pytest.raises(FxiaokeError):
        asyncio.run(_collect(FakeTable([]), None))


@respx.mock
def test_rows_whose_times_do_not_parse_do_not_repeat_the_same_query_forever() -> None:
    """Only the newest row's time parses and it equals the bound: time cannot move on."""
    token_route()
    since = 1_700_000_000_000
    page = [{"_id": f"r{i}", "last_modified_time": "昨天"} for i in range(4)]
    page.append({"_id": "r4", "last_modified_time": since})
    infos: list[dict[str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        info = body_of(request)["data"]["search_query_info"]
        infos.append(info)
        assert len(infos) < 10, "the same query again and again"
        if info["orders"][0]["fieldName"] == "_id" or info["filters"][0]["operator"] == "GT":
            return ok(data={"dataList": []})
        return ok(data={"dataList": page})

    respx.post(QUERY).mock(side_effect=answer)
    pages = asyncio.run(_collect(FakeTable([]), since, limit=5))
    assert [r["_id"] for p in pages for r in p] == [r["_id"] for r in page]
    by_id = [i for i in infos if i["orders"][0]["fieldName"] == "_id"]
    assert by_id, "the instant is walked by _id instead"
    assert infos[-1]["filters"][0]["operator"] == "GT"
