"""The Zoho CRM sandbox speaks Zoho's wire format: auth, reads, paging, writes, faults."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import httpx
import pytest
from sandbox_support import (
    BASE,
    CLIENT,
    add_contacts,
    assert_same_shape,
    fixture,
    run_async,
    sandbox,
    token,
)

from connectors.zoho.sandbox import FaultSpecError, SandboxOptions, create_app, parse_faults
from crmbridge.testing import FakeClock

V8 = "/crm/v8"


# -- OAuth ----------------------------------------------------------------------------------
@run_async
async def test_token_grants_and_errors_follow_zoho() -> None:
    app = create_app(SandboxOptions())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        form = {**CLIENT, "grant_type": "authorization_code", "code": "1000.sandbox.grant"}
        first = await c.post("/oauth/v2/token", data=form)
        assert first.status_code == 200
        assert_same_shape(first.json(), fixture("token_response"))
        assert first.json()["api_domain"] == BASE
        assert first.json()["expires_in"] == 3600
        reused = await c.post("/oauth/v2/token", data=form)  # grant codes are one-time
        assert (reused.status_code, reused.json()) == (200, fixture("token_error_invalid_code"))
        refresh = first.json()["refresh_token"]
        by_query = await c.post(
            "/oauth/v2/token",
            params={**CLIENT, "grant_type": "refresh_token", "refresh_token": refresh},
        )
        assert_same_shape(by_query.json(), fixture("token_refresh_response"))
        bad_client = await c.post("/oauth/v2/token", params={**form, "client_secret": "nope"})
        assert (bad_client.status_code, bad_client.json()) == (
            200,
            fixture("token_error_invalid_client"),
        )
        bad_refresh = await c.post(
            "/oauth/v2/token",
            params={**CLIENT, "grant_type": "refresh_token", "refresh_token": "x"},
        )
        assert bad_refresh.json() == {"error": "invalid_code"}
    await app.aclose()


@run_async
async def test_access_tokens_expire_into_invalid_token() -> None:
    clock = FakeClock()
    async with sandbox(clock=clock, token_lifetime_s=60) as (c, _app):
        params = {"fields": "Last_Name"}
        assert (await c.get(f"{V8}/Contacts", params=params)).status_code == 204
        clock.advance(61)
        expired = await c.get(f"{V8}/Contacts", params=params)
        assert (expired.status_code, expired.json()) == (401, fixture("error_invalid_token"))
        bearer = await c.get(f"{V8}/Contacts", params=params, headers={"Authorization": "Bearer x"})
        assert bearer.json()["code"] == "INVALID_TOKEN"
        del c.headers["Authorization"]
        missing = await c.get(f"{V8}/Contacts", params=params)
        assert (missing.status_code, missing.json()) == (
            401,
            fixture("error_authentication_failure"),
        )


# -- Get Records ----------------------------------------------------------------------------
@run_async
async def test_fields_are_required_from_v3_and_capped_at_50() -> None:
    async with sandbox() as (c, app):
        add_contacts(app, 1)
        missing = await c.get(f"{V8}/Contacts")
        assert (missing.status_code, missing.json()) == (
            400,
            fixture("error_required_param_missing_fields"),
        )
        many = ",".join(["Last_Name"] * 51)
        over = await c.get(f"{V8}/Contacts", params={"fields": many})
        assert (over.status_code, over.json()) == (400, fixture("error_limit_exceeded_fields_50"))
        v2 = await c.get("/crm/v2/Contacts")  # v2 returns every field without `fields`
        assert v2.status_code == 200
        assert set(v2.json()["info"]) == {"per_page", "count", "page", "more_records"}
        bad = await c.get(f"{V8}/Nowhere", params={"fields": "Last_Name"})
        assert (bad.status_code, bad.json()) == (400, fixture("error_invalid_module_get_records"))


@run_async
async def test_page_token_goes_past_2000_while_page_11_hits_the_wall() -> None:
    async with sandbox() as (c, app):
        created = set(add_contacts(app, 2100))
        params = {"fields": "Last_Name,Modified_Time", "per_page": "200"}
        wall = await c.get(f"{V8}/Contacts", params={**params, "page": "11"})
        assert (wall.status_code, wall.json()) == (
            400,
            fixture("error_discrete_pagination_limit_2000"),
        )
        assert (await c.get(f"{V8}/Contacts", params={**params, "page": "10"})).status_code == 200
        seen: list[str] = []
        token: str | None = None
        calls = 0
        while True:
            r = await c.get(
                f"{V8}/Contacts", params={**params, **({"page_token": token} if token else {})}
            )
            calls += 1
            body = r.json()
            if calls == 1:
                assert_same_shape(
                    body["info"], fixture("get_records_page_token_first_response")["info"]
                )
            seen += [row["id"] for row in body["data"]]
            token = body["info"]["next_page_token"]
            if not body["info"]["more_records"]:
                assert token is None
                break
        assert calls == 11
        assert len(seen) == len(set(seen)) == 2100
        assert set(seen) == created
        assert seen == sorted(seen, key=int, reverse=True)  # default sort: id desc
        altered = await c.get(
            f"{V8}/Contacts", params={"fields": "Last_Name", "page_token": "nope"}
        )
        assert altered.json() == fixture("error_token_bound_data_mismatch")
        both = await c.get(f"{V8}/Contacts", params={**params, "page": "2", "page_token": "x"})
        assert both.json()["code"] == "AMBIGUITY_DURING_PROCESSING"


@run_async
async def test_page_token_chain_stops_at_its_limit_and_expires() -> None:
    clock = FakeClock()
    async with sandbox(clock=clock, page_token_limit=4, token_lifetime_s=10**6) as (c, app):
        add_contacts(app, 10)
        params = {"fields": "Last_Name", "per_page": "2"}
        first = (await c.get(f"{V8}/Contacts", params=params)).json()
        second = (
            await c.get(
                f"{V8}/Contacts", params={**params, "page_token": first["info"]["next_page_token"]}
            )
        ).json()
        third = await c.get(
            f"{V8}/Contacts", params={**params, "page_token": second["info"]["next_page_token"]}
        )
        assert (third.status_code, third.json()["code"]) == (400, "PAGINATION_LIMIT_EXCEEDED")
        fresh = (await c.get(f"{V8}/Contacts", params=params)).json()["info"]["next_page_token"]
        clock.advance(days=2)
        expired = await c.get(f"{V8}/Contacts", params={**params, "page_token": fresh})
        assert expired.json() == fixture("error_expired_page_token")


@run_async
async def test_if_modified_since_filters_inclusively_and_answers_304_or_204() -> None:
    clock = FakeClock()
    async with sandbox(clock=clock, token_lifetime_s=10**6) as (c, app):
        params = {
            "fields": "Last_Name,Modified_Time",
            "sort_by": "Modified_Time",
            "sort_order": "asc",
        }
        assert (await c.get(f"{V8}/Contacts", params=params)).status_code == 204  # no data
        add_contacts(app, 3)
        boundary = app.state.fmt(app.state.now())
        clock.advance(5)
        newer = add_contacts(app, 2)
        since = await c.get(
            f"{V8}/Contacts", params=params, headers={"If-Modified-Since": boundary}
        )
        assert since.status_code == 200
        assert len(since.json()["data"]) == 5  # >= is inclusive: the boundary second is read again
        later = app.state.fmt(app.state.now())
        only_new = await c.get(
            f"{V8}/Contacts", params=params, headers={"If-Modified-Since": later}
        )
        assert [r["id"] for r in only_new.json()["data"]] == newer
        clock.advance(5)
        nothing = await c.get(
            f"{V8}/Contacts",
            params=params,
            headers={"If-Modified-Since": app.state.fmt(app.state.now())},
        )
        assert (nothing.status_code, nothing.content) == (304, b"")
        row = only_new.json()["data"][0]
        assert row["Modified_Time"].endswith("+08:00")
        assert "." not in row["Modified_Time"]


@run_async
async def test_records_render_lookups_and_notes_parent_like_zoho() -> None:
    async with sandbox() as (c, _app):
        acc = (
            await c.post(
                f"{V8}/Accounts", json={"data": [{"Account_Name": "北京星云科技有限公司"}]}
            )
        ).json()
        acc_id = acc["data"][0]["details"]["id"]
        r = await c.post(
            f"{V8}/Contacts",
            json={
                "data": [
                    {
                        "First_Name": "伟",
                        "Last_Name": "王",
                        "Account_Name": {"id": acc_id},
                        "Phone": "+86 138 0013 8000",
                    }
                ]
            },
        )
        contact_id = r.json()["data"][0]["details"]["id"]
        assert len(contact_id) == 19
        assert contact_id.isdigit()
        one = (await c.get(f"{V8}/Contacts/{contact_id}")).json()["data"][0]
        assert one["Account_Name"] == {"name": "北京星云科技有限公司", "id": acc_id}
        assert one["Full_Name"] == "王伟"
        assert set(one["Owner"]) == {"name", "id", "email"}
        note = {
            "Note_Content": "客户希望提前交付",
            "Parent_Id": {"module": {"api_name": "Contacts"}, "id": contact_id},
        }
        created = await c.post(f"{V8}/Notes", json={"data": [note]})
        assert created.status_code == 201
        assert_same_shape(created.json(), fixture("create_note_201_response"))
        flat = {"Note_Title": "v2 form", "Parent_Id": contact_id, "se_module": "Contacts"}
        assert (await c.post("/crm/v2/Notes", json={"data": [flat]})).status_code == 201
        notes = (
            await c.get(f"{V8}/Notes", params={"fields": "Parent_Id,Owner,Created_Time,Note_Title"})
        ).json()
        assert_same_shape(notes["data"][0], fixture("get_notes_response_v7")["data"][0])
        v2 = (await c.get("/crm/v2/Notes")).json()["data"][0]
        assert set(v2["Parent_Id"]) == {"name", "id"}
        assert v2["$se_module"] == "Contacts"
        empty = await c.post(f"{V8}/Notes", json={"data": [note, {"Parent_Id": note["Parent_Id"]}]})
        assert empty.status_code == 207
        assert_same_shape(empty.json(), fixture("create_note_207_response"))
        assert (await c.get(f"{V8}/Contacts/{contact_id}/Notes")).json()["info"]["count"] == 3


# -- writes ---------------------------------------------------------------------------------
@run_async
async def test_upsert_on_crmbridge_id_is_idempotent() -> None:
    async with sandbox() as (c, app):
        body = {
            "data": [
                {"Last_Name": "Boyle", "Email": "p.boyle@example.com", "crmbridge_id": "hub-1"}
            ],
            "duplicate_check_fields": ["crmbridge_id"],
            "trigger": [],
        }
        first = await c.post(f"{V8}/Contacts/upsert", json=body)
        second = await c.post(f"{V8}/Contacts/upsert", json=body)
        assert first.status_code == second.status_code == 200
        assert_same_shape(first.json(), fixture("upsert_200_response_v7"))
        a, b = first.json()["data"][0], second.json()["data"][0]
        assert (a["action"], a["duplicate_field"]) == ("insert", None)
        assert (b["action"], b["duplicate_field"], b["message"]) == (
            "update",
            "crmbridge_id",
            "record updated",
        )
        assert a["details"]["id"] == b["details"]["id"]
        assert len(app.state.records["Contacts"]) == 1
        assert app.state.last_trigger == []
        dup = await c.post(
            f"{V8}/Contacts", json={"data": [{"Last_Name": "X", "crmbridge_id": "HUB-1"}]}
        )
        assert dup.status_code == 400
        assert_same_shape(dup.json(), fixture("insert_400_duplicate_data"), extra_ok=True)
        tasks = await c.post(f"{V8}/Tasks/upsert", json={"data": [{"Subject": "x"}]})
        assert tasks.status_code == 400
        assert tasks.json()["data"][0]["code"] == "NOT_SUPPORTED"


@run_async
async def test_more_than_100_records_is_zohos_limit_error() -> None:
    async with sandbox() as (c, _app):
        data = [{"Last_Name": f"n{i}"} for i in range(101)]
        for method, path in (
            ("POST", "Contacts"),
            ("PUT", "Contacts"),
            ("POST", "Contacts/upsert"),
        ):
            r = await c.request(method, f"{V8}/{path}", json={"data": data})
            assert (r.status_code, r.json()) == (
                400,
                fixture("update_400_limit_exceeded_100_records"),
            )


@run_async
async def test_partial_failures_answer_207_with_per_record_errors() -> None:
    async with sandbox(faults="partial:at=2") as (c, app):
        data = [
            {"Last_Name": "ok"},
            {"Last_Name": "rejected by fault"},
            {"First_Name": "no last name"},
        ]
        r = await c.post(f"{V8}/Contacts", json={"data": data})
        assert r.status_code == 207
        assert_same_shape(r.json(), fixture("insert_207_response"))
        codes = [item["code"] for item in r.json()["data"]]
        assert codes == ["SUCCESS", "INVALID_DATA", "MANDATORY_NOT_FOUND"]
        assert len(app.state.records["Contacts"]) == 1
        rec_id = r.json()["data"][0]["details"]["id"]
        upd = await c.put(
            f"{V8}/Contacts",
            json={"data": [{"id": rec_id, "Title": "CTO"}, {"id": "1", "Title": "x"}]},
        )
        assert upd.status_code == 207
        assert_same_shape(upd.json(), fixture("update_207_response"), extra_ok=True)
        assert upd.json()["data"][1]["code"] == "INVALID_DATA"
        all_bad = await c.post(
            f"{V8}/Contacts", json={"data": [{"Email": "not-an-email", "Last_Name": "x"}]}
        )
        assert all_bad.status_code == 400
        assert all_bad.json()["data"][0]["details"]["expected_data_type"] == "email"


@run_async
async def test_if_unmodified_since_gives_412_already_modified() -> None:
    clock = FakeClock()
    async with sandbox(clock=clock, token_lifetime_s=10**6) as (c, app):
        (rec_id,) = add_contacts(app, 1)
        before = app.state.fmt(app.state.now() - timedelta(seconds=1))
        r = await c.put(
            f"{V8}/Contacts/{rec_id}",
            json={"data": [{"Title": "x"}]},
            headers={"If-Unmodified-Since": before},
        )
        assert r.status_code == 412
        assert_same_shape(r.json(), fixture("update_412_already_modified"))


@run_async
async def test_delete_and_deleted_list() -> None:
    clock = FakeClock()
    async with sandbox(clock=clock, token_lifetime_s=10**6) as (c, app):
        ids = add_contacts(app, 3)
        missing = await c.delete(f"{V8}/Contacts")
        assert (missing.status_code, missing.json()) == (400, fixture("delete_400_missing_ids"))
        r = await c.delete(f"{V8}/Contacts", params={"ids": f"{ids[0]},999,{ids[1]}"})
        assert r.status_code == 207
        assert_same_shape(r.json(), fixture("delete_207_response"))
        assert [i["code"] for i in r.json()["data"]] == ["SUCCESS", "INVALID_DATA", "SUCCESS"]
        ok = await c.delete(f"{V8}/Contacts/{ids[2]}")
        assert ok.status_code == 200
        assert_same_shape(ok.json(), fixture("delete_200_response"))
        deleted = await c.get(f"{V8}/Contacts/deleted", params={"type": "all"})
        assert deleted.status_code == 200
        assert_same_shape(deleted.json(), fixture("deleted_records_response"))
        assert {d["id"] for d in deleted.json()["data"]} == set(ids)
        assert {d["type"] for d in deleted.json()["data"]} == {"recycle"}
        await c.post("/__sandbox/purge/Contacts", params={"ids": ids[0]})
        perm = (await c.get(f"{V8}/Contacts/deleted", params={"type": "permanent"})).json()["data"]
        assert perm == [
            {
                "deleted_by": None,
                "id": ids[0],
                "display_name": None,
                "type": "permanent",
                "created_by": None,
                "deleted_time": perm[0]["deleted_time"],
            }
        ]
        bad = await c.get(f"{V8}/Contacts/deleted", params={"type": "bin"})
        assert (bad.status_code, bad.json()) == (
            400,
            fixture("error_deleted_pattern_not_matched_type"),
        )
        clock.advance(10)
        later = {"If-Modified-Since": app.state.fmt(app.state.now())}
        assert (await c.get(f"{V8}/Contacts/deleted", headers=later)).status_code == 304
        notes = await c.get(f"{V8}/Notes/deleted")  # Notes are not in the Deleted Records API
        assert notes.status_code == 400


# -- COQL and search ------------------------------------------------------------------------
@run_async
async def test_coql_pages_by_modified_time_and_id() -> None:
    clock = FakeClock()
    async with sandbox(clock=clock, token_lifetime_s=10**6) as (c, app):
        ids = []
        for _ in range(5):
            ids += add_contacts(app, 5)  # five records share each second
            clock.advance(1)
        since = app.state.fmt(app.state.records["Contacts"][ids[0]].modified)
        base = f"select Last_Name, Modified_Time from Contacts where Modified_Time >= '{since}' order by Modified_Time asc, id asc"
        seen, offset = [], 0
        while True:
            r = await c.post(f"{V8}/coql", json={"select_query": f"{base} limit {offset}, 10"})
            if r.status_code == 204:
                break
            body = r.json()
            assert set(body["info"]) == set(fixture("coql_response_datetime")["info"])
            assert set(body["data"][0]) == {"Last_Name", "Modified_Time", "id"}
            seen += [row["id"] for row in body["data"]]
            offset += 10
            if not body["info"]["more_records"]:
                break
        assert seen == ids
        keyset = f"select Last_Name from Contacts where (Modified_Time >= '{since}' and id > {ids[12]}) order by id asc limit 2000"
        r = await c.post(f"{V8}/coql", json={"select_query": keyset})
        assert [row["id"] for row in r.json()["data"]] == ids[13:]
        lookup = await c.post(
            f"{V8}/coql", json={"select_query": "select Last_Name, Owner from Contacts limit 1"}
        )
        assert set(lookup.json()["data"][0]["Owner"]) == {"id"}
        for bad, code in (
            (
                "select Last_Name from Contacts where Last_Name = 'a' and Last_Name = 'b' and id > 1",
                "SYNTAX_ERROR",
            ),
            ("select Last_Name from Contacts limit 2001", "LIMIT_EXCEEDED"),
            ("select Last_Name from Contacts limit 99000, 2000", "LIMIT_EXCEEDED"),
            ("select Nope from Contacts", "INVALID_QUERY"),
            ("select * from Contacts", "SYNTAX_ERROR"),
            ("delete from Contacts", "SYNTAX_ERROR"),
        ):
            r = await c.post(f"{V8}/coql", json={"select_query": bad})
            assert (r.status_code, r.json()["code"], r.json()["status"]) == (400, code, "error"), (
                bad
            )
        none = await c.post(
            f"{V8}/coql",
            json={"select_query": "select Last_Name from Contacts where Last_Name = 'zz'"},
        )
        assert none.status_code == 204


@run_async
async def test_search_by_criteria_email_and_phone() -> None:
    async with sandbox() as (c, app):
        state = app.state
        state.insert(
            "Contacts",
            {
                "Last_Name": "王",
                "First_Name": "芳",
                "Email": "wang.fang@example.cn",
                "Phone": "+86 138 0013 8000",
            },
            state.admin,
        )
        state.insert(
            "Contacts",
            {"Last_Name": "Müller", "Email": "anna@example.de", "Phone": "+49 30 1234567"},
            state.admin,
        )
        r = await c.get(f"{V8}/Contacts/search", params={"criteria": "(Last_Name:equals:王)"})
        assert [d["Last_Name"] for d in r.json()["data"]] == ["王"]
        assert_same_shape(
            r.json()["info"], {"per_page": 1, "count": 1, "page": 1, "more_records": False}
        )
        assert (await c.get(f"{V8}/Contacts/search", params={"email": "anna@example.de"})).json()[
            "data"
        ][0]["Last_Name"] == "Müller"
        assert (
            await c.get(f"{V8}/Contacts/search", params={"phone": "13800138000"})
        ).status_code == 200
        either = await c.get(
            f"{V8}/Contacts/search",
            params={"criteria": "((Last_Name:equals:王)or(Last_Name:starts_with:Mü))"},
        )
        assert len(either.json()["data"]) == 2
        assert (await c.get(f"{V8}/Contacts/search", params={"word": "nobody"})).status_code == 204
        bad = await c.get(f"{V8}/Contacts/search", params={"criteria": "(Last_Name:like:x)"})
        assert (bad.status_code, bad.json()["code"]) == (400, "INVALID_QUERY")


# -- metadata -------------------------------------------------------------------------------
@run_async
async def test_field_and_module_metadata() -> None:
    async with sandbox() as (c, _app):
        modules = (await c.get(f"{V8}/settings/modules")).json()["modules"]
        names = {m["api_name"]: m for m in modules}
        assert {
            "Contacts",
            "Accounts",
            "Notes",
            "Calls",
            "Events",
            "Tasks",
            "Change_Requests",
        } <= set(names)
        assert names["Change_Requests"]["generated_type"] == "custom"
        assert set(names["Contacts"]) <= set(fixture("modules_response")["modules"][0])
        sample_keys = set(fixture("fields_metadata_response")["fields"][0])
        for module in names:
            fields = (await c.get(f"{V8}/settings/fields", params={"module": module})).json()[
                "fields"
            ]
            by_name = {f["api_name"]: f for f in fields}
            assert set(fields[0]) <= sample_keys
            assert by_name["Modified_Time"]["read_only"] is True
            if module == "Notes":  # Zoho gives Notes no custom fields
                assert "crmbridge_id" not in by_name
                continue
            cid = by_name["crmbridge_id"]
            assert (cid["data_type"], cid["custom_field"], bool(cid["unique"])) == (
                "text",
                True,
                True,
            )
            assert by_name["Modified_Time"]["read_only"] is True
        contacts = {
            f["api_name"]: f
            for f in (await c.get(f"{V8}/settings/fields", params={"module": "Contacts"})).json()[
                "fields"
            ]
        }
        for name in ("Power", "Interest", "Influence"):
            assert contacts[name]["custom_field"]
            assert contacts[name]["data_type"] == "picklist"
            assert [p["actual_value"] for p in contacts[name]["pick_list_values"]] == [
                "-None-",
                "Low",
                "Medium",
                "High",
            ]
            sample_pick = next(
                f for f in fixture("fields_metadata_response")["fields"] if f["pick_list_values"]
            )
            assert_same_shape(
                contacts[name]["pick_list_values"][0], sample_pick["pick_list_values"][0]
            )
        assert contacts["Last_Name"]["system_mandatory"] is True


# -- throttling and faults ------------------------------------------------------------------
@run_async
async def test_requests_over_the_concurrency_cap_get_429() -> None:
    async with sandbox(concurrency=2, latency_ms=100) as (c, _app):
        results = await asyncio.gather(
            *(c.get(f"{V8}/Contacts", params={"fields": "Last_Name"}) for _ in range(6))
        )
        statuses = sorted(r.status_code for r in results)
        assert statuses.count(429) == 4
        assert statuses.count(204) == 2
        throttled = next(r for r in results if r.status_code == 429)
        assert throttled.json()["code"] == "TOO_MANY_REQUESTS"
        assert "retry-after" not in throttled.headers


@run_async
async def test_token_expiry_and_server_error_faults() -> None:
    async with sandbox(faults="token_expiry:at=2,500:at=3,503:at=4,429:at=5") as (c, _app):
        params = {"fields": "Last_Name"}
        assert (await c.get(f"{V8}/Contacts", params=params)).status_code == 204
        assert (await c.get(f"{V8}/Contacts", params=params)).json() == fixture(
            "error_invalid_token"
        )
        c.headers["Authorization"] = f"Zoho-oauthtoken {await token(c)}"
        err500 = await c.get(f"{V8}/Contacts", params=params)
        assert (err500.status_code, err500.json()) == (500, fixture("error_internal_error"))
        assert (await c.get(f"{V8}/Contacts", params=params)).status_code == 503
        assert (await c.get(f"{V8}/Contacts", params=params)).status_code == 429
        state = (await c.get("/__sandbox/state")).json()
        assert state["faults"]["fired"] == {"token_expiry": 1, "500": 1, "503": 1, "429": 1}


@run_async
async def test_reset_in_process_is_a_transport_error() -> None:
    async with sandbox(faults="reset:at=1@after") as (c, app):
        with pytest.raises(httpx.TransportError):
            await c.post(f"{V8}/Contacts", json={"data": [{"Last_Name": "lost answer"}]})
        assert len(app.state.records["Contacts"]) == 1  # @after: applied, answer lost


def test_fault_grammar() -> None:
    spec = parse_faults(
        "5xx:0.05, reset:0.02@after@write, timeout:0.01@2s, 429:0.1, token_expiry:every=500, partial:0.1@DUPLICATE_DATA"
    )
    kinds = [f.kind for f in spec.faults]
    assert kinds == ["5xx", "reset", "timeout", "429", "token_expiry", "partial"]
    assert spec.faults[1].after
    assert spec.faults[1].scope == "write"
    assert spec.faults[2].delay_s == 2.0
    assert spec.faults[4].every == 500
    assert spec.faults[5].code == "DUPLICATE_DATA"
    assert parse_faults("500:at=3+7").faults[0].at == frozenset({3, 7})
    assert parse_faults("").faults == ()
    for bad in ("boom:0.1", "5xx", "5xx:2", "5xx:every=0", "reset:0.1@soon", "timeout:x"):
        with pytest.raises(FaultSpecError):
            parse_faults(bad)


@run_async
async def test_runtime_faults_and_remote_edits_through_the_control_api() -> None:
    async with sandbox() as (c, app):
        bad = await c.post("/__sandbox/faults", json={"spec": "nope:1"})
        assert bad.status_code == 400
        assert (
            await c.post("/__sandbox/faults", json={"spec": "500:every=1@read"})
        ).status_code == 200
        assert (await c.get(f"{V8}/Contacts", params={"fields": "Last_Name"})).status_code == 500
        await c.post("/__sandbox/faults", json={"spec": ""})
        r = await c.post(
            "/__sandbox/records/Contacts", json={"data": [{"Last_Name": "陈", "First_Name": "静"}]}
        )
        rec_id = r.json()["data"][0]["details"]["id"]
        rec = (await c.get(f"{V8}/Contacts/{rec_id}")).json()["data"][0]
        assert rec["Modified_By"]["name"] == app.state.remote_user.name
        assert (await c.post("/__sandbox/tokens/expire")).json()["expired"] == 1
        assert (await c.get(f"{V8}/Contacts/{rec_id}")).status_code == 401
        state = (await c.get("/__sandbox/state")).json()
        assert state["records"]["Contacts"] == 1
        assert state["counters"]["api_calls"] >= 3
        assert state["endpoints"]["GET /crm/v8/Contacts/{id}"] == 2


# -- notifications --------------------------------------------------------------------------
@run_async
async def test_watch_channels_receive_zoho_callbacks() -> None:
    received: list[httpx.Request] = []

    def hook(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(200)

    async with sandbox(notify_transport=httpx.MockTransport(hook)) as (c, app):
        missing = await c.post(
            f"{V8}/actions/watch", json={"watch": [{"channel_id": "1", "events": ["Contacts.all"]}]}
        )
        assert (missing.status_code, missing.json()) == (
            400,
            fixture("error_mandatory_not_found_notify_url"),
        )
        watch = {
            "channel_id": "1000000068001",
            "events": ["Contacts.all"],
            "notify_url": "https://hub.example/zoho?src=sandbox",
            "token": "secret-1",
            "return_affected_field_values": True,
        }
        enabled = await c.post(f"{V8}/actions/watch", json={"watch": [watch]})
        assert enabled.status_code == 201
        assert_same_shape(enabled.json(), fixture("enable_notifications_response"))
        notes = await c.post(
            f"{V8}/actions/watch", json={"watch": [{**watch, "events": ["Notes.all"]}]}
        )
        assert notes.status_code == 400
        listed = await c.get(f"{V8}/actions/watch")
        assert_same_shape(listed.json(), fixture("get_notifications_response"))
        ins = await c.post(f"{V8}/Contacts", json={"data": [{"Last_Name": "Boyle"}]})
        rec_id = ins.json()["data"][0]["details"]["id"]
        await c.post(
            "/__sandbox/records/Contacts",
            json={"data": [{"id": rec_id, "Mobile": "+86 139 0000 0000"}]},
        )
        await c.delete(f"{V8}/Contacts", params={"ids": rec_id})
        await app.drain_notifications()
        payloads = [json.loads(r.content) for r in received]
        assert [p["operation"] for p in payloads] == ["insert", "update", "delete"]
        assert payloads[0]["query_params"] == {"src": "sandbox"}
        for p in payloads:
            p["query_params"] = {}
        assert_same_shape(payloads[0], fixture("notification_payload"))
        assert_same_shape(payloads[1], fixture("notification_payload_update"))
        assert_same_shape(
            payloads[2], fixture("notification_payload_delete_captured"), extra_ok=True
        )
        assert payloads[1]["affected_values"][0]["values"]["Mobile"] == "+86 139 0000 0000"
        assert {p["token"] for p in payloads} == {"secret-1"}
        assert str(received[0].url).startswith("https://hub.example/zoho")
        off = await c.delete(f"{V8}/actions/watch", params={"channel_ids": "1000000068001"})
        assert_same_shape(off.json(), fixture("disable_notifications_response"))
        assert (await c.get(f"{V8}/actions/watch")).status_code == 204
