"""The Fxiaoke sandbox speaks the fact sheet's wire format: tokens, envelopes, objects, paging."""

from __future__ import annotations

import copy
from typing import Any

import httpx

from connectors.fxiaoke.sandbox import SandboxOptions, create_app
from crmbridge.testing import FakeClock

from .sandbox_support import (
    ADMIN_OPEN_USER_ID,
    APP,
    BASE,
    CORP_ID,
    CUSTOM,
    EA,
    Session,
    assert_same_shape,
    fixture,
    query_body,
    run_async,
    sandbox,
    without_trace,
)

QUERY = "/cgi/crm/v2/data/query"
GET = "/cgi/crm/v2/data/get"
CREATE = "/cgi/crm/v2/data/create"
UPDATE = "/cgi/crm/v2/data/update"
CUSTOM_DATA = "/cgi/crm/custom/v2/data"


def legacy_fill(body: dict[str, Any], token: str) -> dict[str, Any]:
    """A recorded legacy body with its placeholders replaced by the sandbox's values."""
    out = copy.deepcopy(body)
    out.update(corpAccessToken=token, corpId=CORP_ID, currentOpenUserId=ADMIN_OPEN_USER_ID)
    return out


# -- tokens ----------------------------------------------------------------------------------
@run_async
async def test_legacy_token_and_its_errors_match_the_recorded_answers() -> None:
    clock = FakeClock()
    app = create_app(SandboxOptions(clock=clock))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        template = fixture("token_legacy_request")
        assert set(template) == set(APP)
        r = await c.post("/cgi/corpAccessToken/get/V2?thirdTraceId=t1", json=APP)
        assert r.status_code == 200
        body = r.json()
        assert body["errorCode"] == 0
        assert body["corpId"] == CORP_ID
        assert body["expiresIn"] == 7200
        assert set(body) == {"traceId", "errorCode", "errorMessage", "corpAccessToken"} | {
            "corpId",
            "expiresIn",
        }
        bad = await c.post("/cgi/corpAccessToken/get/V2", json=template)  # the doc's placeholders
        assert bad.status_code == 200
        assert without_trace(bad.json()) == without_trace(
            fixture("error_10006_token_bad_secret_probe")
        )
        wrong_code = await c.post("/cgi/corpAccessToken/get/V2", json={**APP, "permanentCode": "x"})
        assert wrong_code.json()["errorCode"] == 20015


@run_async
async def test_client_credentials_token_has_the_recorded_shape_and_is_reused_until_6600s() -> None:
    clock = FakeClock()
    app = create_app(SandboxOptions(clock=clock))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        request = {**fixture("token_client_credentials_request"), **APP}
        first = (await c.post("/oauth2.0/token", json=request)).json()
        assert_same_shape(first, fixture("token_client_credentials_response"))
        assert (first["openUserId"], first["ea"], first["expiresIn"]) == (CORP_ID, EA, 7200)
        clock.advance(6000)
        again = (await c.post("/oauth2.0/token", json=request)).json()
        assert (again["accessToken"], again["expiresIn"]) == (first["accessToken"], 1200)
        clock.advance(700)  # inside the last 600 s: a new token, the old one still good
        renewed = (await c.post("/oauth2.0/token", json=request)).json()
        assert renewed["accessToken"] != first["accessToken"]
        session = Session(c, "current")
        session.token = first["accessToken"]
        ok = await session.call(QUERY, query_body("ContactObj"))
        assert ok["errorCode"] == 0
        clock.advance(600)  # the first token is now past 7200 s
        expired = await session.call(QUERY, query_body("ContactObj"))
        assert without_trace(expired) == without_trace(fixture("error_20016_bad_token_probe"))
        refresh = await c.post(
            "/oauth2.0/token", json=fixture("token_refresh_request_auth_code_mode")
        )
        assert refresh.json()["errorCode"] == 10006


@run_async
async def test_business_calls_without_or_with_forged_credentials() -> None:
    async with sandbox("current") as (session, _):
        c = session.client
        none = await c.post(QUERY, json={"data": query_body("ContactObj")})
        assert without_trace(none.json()) == without_trace(fixture("error_20017_no_auth_probe"))
        assert none.json()["traceId"].startswith("E-O.null.-1000-")
        forged = {"authorization": "Bearer FORGED", "x-fs-ea": EA, "x-fs-userid": "1000"}
        r = await c.post(QUERY, json={"data": query_body("ContactObj")}, headers=forged)
        assert without_trace(r.json()) == without_trace(fixture("error_20016_bad_token_probe"))
        good = {"authorization": f"Bearer {session.token}", "x-fs-ea": EA}
        for headers, code in (
            ({**good, "x-fs-userid": "1000", "x-fs-ea": "other"}, 20016),
            ({**good, "x-fs-userid": "4242"}, 30027),
        ):
            r = await c.post(QUERY, json={"data": query_body("ContactObj")}, headers=headers)
            assert r.json()["errorCode"] == code
        # a Bearer token is no corpAccessToken: the conventions do not mix
        body = {
            "data": query_body("ContactObj"),
            "corpAccessToken": session.token,
            "corpId": CORP_ID,
            "currentOpenUserId": ADMIN_OPEN_USER_ID,
        }
        assert (await c.post(QUERY, json=body)).json()["errorCode"] == 20016
        assert (await c.post("/cgi/crm/v2/nope", json={})).json()["errorCode"] == 10006


@run_async
async def test_legacy_bodies_from_the_docs_are_accepted() -> None:
    async with sandbox("legacy", seed_contacts=3) as (session, _app):
        c = session.client
        body = legacy_fill(fixture("legacy_query_request_paymentobj"), session.token)
        body["data"]["dataObjectApiName"] = "ContactObj"
        page = (await c.post(QUERY, json=body)).json()
        assert page["errorCode"] == 0
        assert page["data"]["limit"] == 2
        row = page["data"]["dataList"][0]
        assert row["owner"][0].startswith("FSUID_")  # legacy renders openUserIds
        get = legacy_fill(fixture("legacy_get_request_leadsobj"), session.token)
        get["data"].update(dataObjectApiName="ContactObj", objectDataId=row["_id"])
        got = (await c.post(GET, json=get)).json()
        assert got["data"]["_id"] == row["_id"]
        unknown_user = {**body, "currentOpenUserId": "FSUID_NOBODY"}
        assert (await c.post(QUERY, json=unknown_user)).json()["errorCode"] == 20012
        mobile = await c.post(
            "/cgi/user/getByMobile",
            json={"corpAccessToken": session.token, "corpId": CORP_ID, "mobile": "13800000000"},
        )
        assert mobile.json()["empList"][0]["openUserId"] == ADMIN_OPEN_USER_ID


# -- queries ---------------------------------------------------------------------------------
@run_async
async def test_deep_paging_as_the_faq_prints_it() -> None:
    async with sandbox(seed_accounts=23) as (session, _):
        request = fixture("query_deep_paging_first_page_request")
        first = await session.post(QUERY, request)
        expected = fixture("query_deep_paging_first_page_response")
        assert_same_shape(first, expected)
        assert first["data"]["total"] == 0  # find_explicit_total_num: false
        seen = [row["_id"] for row in first["data"]["dataList"]]
        while True:
            info = fixture("query_deep_paging_next_page_search_query_info")
            info["filters"][0]["field_values"] = [seen[-1]]
            data = {**request["data"], "search_query_info": info}
            page = (await session.call(QUERY, data))["data"]["dataList"]
            seen += [row["_id"] for row in page]
            if len(page) < info["limit"]:
                break
        assert len(seen) == 23
        assert seen == sorted(seen)


@run_async
async def test_the_offset_wall_and_the_limit_ceiling() -> None:
    async with sandbox(seed_contacts=5) as (session, _):
        wall = await session.call(QUERY, query_body("ContactObj", offset=10100))
        assert without_trace(wall) == fixture("error_10013_offset_out_of_range")
        at_wall = await session.call(QUERY, query_body("ContactObj", offset=10000))
        assert at_wall["errorCode"] == 0
        assert at_wall["data"]["dataList"] == []
        for info in ({"limit": 101}, {"limit": 30, "offset": 45}):
            assert (await session.call(QUERY, query_body("ContactObj", **info)))[
                "errorCode"
            ] == 32000
        counted = await session.call(QUERY, query_body("ContactObj", limit=2))
        assert counted["data"]["total"] == 5  # find_explicit_total_num defaults to true


@run_async
async def test_filters_orders_and_projection() -> None:
    clock = FakeClock()
    async with sandbox(clock=clock) as (session, _):
        ids = []
        for i, name in enumerate(["王伟", "Anna Schmidt", "李娜", "王芳"]):
            clock.advance(60)
            made = await session.call(
                CREATE,
                {
                    "object_data": {
                        "dataObjectApiName": "ContactObj",
                        "name": name,
                        "influence__c": i + 1,
                        "email": f"c{i}@example.cn" if i != 2 else None,
                        "crmbridge_id__c": f"cb-{i}",
                    }
                },
                triggerWorkFlow=False,
            )
            ids.append(made["dataId"])

        async def names(*filters: dict[str, Any], **info: Any) -> list[str]:
            data = query_body("ContactObj", filters=list(filters), **info)
            page = await session.call(QUERY, data)
            assert page["errorCode"] == 0, page
            return [row["name"] for row in page["data"]["dataList"]]

        def f(field: str, op: str, *values: Any) -> dict[str, Any]:
            return {"field_name": field, "operator": op, "field_values": list(values)}

        asc = [{"fieldName": "last_modified_time", "isAsc": True}]
        assert await names(f("crmbridge_id__c", "EQ", "cb-2")) == ["李娜"]
        assert await names(f("name", "LIKE", "王"), orders=asc) == ["王伟", "王芳"]
        assert await names(f("name", "STARTWITH", "anna")) == ["Anna Schmidt"]
        assert await names(f("email", "IS"), orders=asc) == ["李娜"]
        assert await names(f("influence__c", "GT", "2"), orders=asc) == ["李娜", "王芳"]
        assert await names(f("influence__c", "LTE", 2), orders=asc) == ["王伟", "Anna Schmidt"]
        assert await names(f("influence__c", "BETWEEN", "2", "3"), orders=asc) == [
            "Anna Schmidt",
            "李娜",
        ]
        assert await names(f("_id", "IN", ids[0], ids[3]), orders=asc) == ["王伟", "王芳"]
        assert await names(f("owner", "IN", ADMIN_OPEN_USER_ID), f("name", "N", "王伟")) == [
            "王芳",
            "李娜",
            "Anna Schmidt",
        ]  # default order: last_modified_time descending
        third = await session.call(QUERY, query_body("ContactObj", limit=1))
        time = third["data"]["dataList"][0]["last_modified_time"]
        assert await names(f("last_modified_time", "GTE", str(time))) == ["王芳"]
        projected = await session.call(
            QUERY, query_body("ContactObj", limit=1, fieldProjection=["_id", "name"])
        )
        assert set(projected["data"]["dataList"][0]) == {"_id", "name"}
        for bad in (f("nope", "EQ", "x"), f("name", "SOUNDSLIKE", "x")):
            assert (await session.call(QUERY, query_body("ContactObj", filters=[bad])))[
                "errorCode"
            ] == 32000


@run_async
async def test_custom_query_template_and_path_families() -> None:
    async with sandbox(seed_custom=4) as (session, _):
        template = fixture("custom_query_request_doc_template")
        data = template["data"]
        data["dataObjectApiName"] = CUSTOM
        data["search_query_info"]["orders"][0]["fieldName"] = "name"
        data["search_query_info"]["filters"][0]["field_values"] = ["需求变更 2"]
        page = await session.post(f"{CUSTOM_DATA}/query", template)
        assert [r["name"] for r in page["data"]["dataList"]] == ["需求变更 2"]
        wrong = await session.call(QUERY, query_body(CUSTOM))
        assert wrong["errorCode"] == 32000
        wrong = await session.call(f"{CUSTOM_DATA}/query", query_body("ContactObj"))
        assert wrong["errorCode"] == 32000


@run_async
async def test_describe_lists_fields_options_and_the_crmbridge_id() -> None:
    async with sandbox() as (session, _):
        request = fixture("describe_request")
        request["data"]["apiName"] = "ContactObj"
        described = await session.post("/cgi/crm/v2/object/describe", request)
        fields = described["data"]["describe"]["fields"]
        assert fields["crmbridge_id__c"]["type"] == "text"
        assert fields["account_id"]["target_api_name"] == "AccountObj"
        assert {"label", "value", "child_options"} <= set(
            fields["stakeholder_type__c"]["options"][0]
        )
        legacy_style = await session.post(
            "/cgi/crm/v2/object/describe", {"apiName": CUSTOM, "includeDetail": False}
        )
        assert legacy_style["data"]["describe"]["define_type"] == "custom"
