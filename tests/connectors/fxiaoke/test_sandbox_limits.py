"""Limits, token expiry, faults and the control API of the Fxiaoke sandbox."""

from __future__ import annotations

import pytest

from connectors.fxiaoke.sandbox import FaultSpecError, parse_faults
from crmbridge.testing import FakeClock

from .sandbox_support import REMOTE_OPEN_USER_ID, query_body, run_async, sandbox

QUERY = "/cgi/crm/v2/data/query"
GET = "/cgi/crm/v2/data/get"


@run_async
async def test_per_endpoint_rate_limit_of_100_calls_per_20_seconds() -> None:
    clock = FakeClock()
    async with sandbox(clock=clock) as (session, app):
        codes = [
            (await session.call(QUERY, query_body("ContactObj")))["errorCode"] for _ in range(101)
        ]
        assert codes[:100] == [0] * 100
        assert codes[100] == 14001
        other = await session.call(GET, {"dataObjectApiName": "ContactObj", "objectDataId": "x"})
        assert other["errorCode"] == 32000  # another path has its own window
        clock.advance(20)
        assert (await session.call(QUERY, query_body("ContactObj")))["errorCode"] == 0
        assert app.state.counters["throttled"] == 1


@run_async
async def test_daily_quota_and_no_quota() -> None:
    clock = FakeClock()  # 09:00 UTC = 17:00 in Shanghai
    async with sandbox(clock=clock, daily_quota=2) as (session, _):
        codes = [
            (await session.call(QUERY, query_body("ContactObj")))["errorCode"] for _ in range(3)
        ]
        assert codes == [0, 0, 30002]
        clock.advance(hours=7)  # past midnight Asia/Shanghai, and past the token's life
        await session.login()
        assert (await session.call(QUERY, query_body("ContactObj")))["errorCode"] == 0
    async with sandbox(daily_quota=0) as (session, _):
        assert (await session.call(QUERY, query_body("ContactObj")))["errorCode"] == 30003


@run_async
async def test_tokens_can_die_after_n_calls_and_a_new_one_is_issued() -> None:
    async with sandbox(token_max_calls=2) as (session, _):
        codes = [
            (await session.call(QUERY, query_body("ContactObj")))["errorCode"] for _ in range(3)
        ]
        assert codes == [0, 0, 20016]
        old = session.token
        await session.login()
        assert session.token != old
        assert (await session.call(QUERY, query_body("ContactObj")))["errorCode"] == 0


@run_async
async def test_faults_fire_at_the_given_calls() -> None:
    spec = "busy:at=1,limit:at=2,token_expiry:at=3,503:at=4,syserr:at=5@write"
    async with sandbox(faults=spec) as (session, app):
        data = query_body("ContactObj")
        assert (await session.call(QUERY, data))["errorCode"] == -1
        assert (await session.call(QUERY, data))["errorCode"] == 14001
        assert (await session.call(QUERY, data))["errorCode"] == 20016
        await session.login()
        r = await session.client.post(QUERY, json={"data": data})
        assert r.status_code == 503
        assert r.headers["content-type"].startswith("text/html")
        assert (await session.call(QUERY, data))["errorCode"] == 0  # syserr only hits writes
        assert app.state.faults.fired == {"busy": 1, "limit": 1, "token_expiry": 1, "503": 1}


@run_async
async def test_rate_faults_repeat_with_the_seed() -> None:
    async def run() -> list[int]:
        async with sandbox(faults="busy:0.3", seed=7) as (session, _):
            return [
                (await session.call(QUERY, query_body("ContactObj")))["errorCode"]
                for _ in range(30)
            ]

    first = await run()
    assert first == await run()
    assert -1 in first
    assert 0 in first


def test_fault_spec_errors_name_the_item() -> None:
    assert str(parse_faults(" busy:0.1 , reset:at=2+5@after@write ")) == (
        "busy:0.1,reset:at=2+5@after@write"
    )
    for bad in ("nope:0.1", "busy", "busy:2", "busy:every=0", "timeout:0.1@soon"):
        with pytest.raises(FaultSpecError):
            parse_faults(bad)


@run_async
async def test_control_api_remote_edits_seed_reset_and_journal() -> None:
    clock = FakeClock()
    async with sandbox("legacy", clock=clock, seed_contacts=2) as (session, _):
        c = session.client
        rows = (await c.get("/__sandbox/records/ContactObj")).json()["dataList"]
        target = rows[0]["_id"]
        clock.advance(5)
        edit = await c.post(
            "/__sandbox/records/ContactObj",
            json={"data": [{"_id": target, "job_title": "CTO"}, {"name": "新联系人"}]},
        )
        assert len(edit.json()["ids"]) == 2
        got = await session.call(GET, {"dataObjectApiName": "ContactObj", "objectDataId": target})
        assert got["data"]["last_modified_by"] == [REMOTE_OPEN_USER_ID]
        assert got["data"]["job_title"] == "CTO"
        gone = await c.delete("/__sandbox/records/ContactObj", params={"ids": target})
        assert gone.json() == {"invalidated": [target]}
        await c.post("/__sandbox/seed", json={"contacts": 5})
        state = (await c.get("/__sandbox/state")).json()
        assert state["records"]["ContactObj"] == {"live": 7, "invalid": 1}
        assert state["endpoints"][GET] == 1
        journal = (await c.get("/__sandbox/requests")).json()["requests"]
        assert journal[-1]["path"] == GET
        assert journal[-1]["thirdTraceId"]
        assert journal[-1]["convention"] == "legacy"
        assert (await c.post("/__sandbox/faults", json={"spec": "busy:at=1"})).json()["items"] == 1
        assert (await session.call(QUERY, query_body("ContactObj")))["errorCode"] == -1
        assert (await c.post("/__sandbox/faults", json={"spec": "bad"})).status_code == 400
        await c.post("/__sandbox/tokens/expire")
        assert (await session.call(QUERY, query_body("ContactObj")))["errorCode"] == 20016
        await c.post("/__sandbox/reset")
        await session.login()
        state = (await c.get("/__sandbox/state")).json()
        assert state["records"]["ContactObj"] == {"live": 2, "invalid": 0}
        await c.post("/__sandbox/time/advance", json={"seconds": 7200})
        assert (await session.call(QUERY, query_body("ContactObj")))["errorCode"] == 20016


@run_async
async def test_missing_or_reused_third_trace_ids_are_counted_or_refused() -> None:
    async with sandbox() as (session, app):
        headers = {
            "authorization": f"Bearer {session.token}",
            "x-fs-ea": "fs-sandbox",
            "x-fs-userid": "1000",
        }
        body = {"data": query_body("ContactObj")}
        await session.client.post(QUERY, json=body, headers=headers)
        for _ in range(2):
            await session.client.post(
                QUERY, params={"thirdTraceId": "same"}, json=body, headers=headers
            )
        assert app.state.counters["third_trace_id_missing"] == 1
        assert app.state.counters["third_trace_id_reused"] == 1
        app.state.options.require_third_trace_id = True
        r = await session.client.post(QUERY, json=body, headers=headers)
        assert r.json()["errorCode"] == 10006
