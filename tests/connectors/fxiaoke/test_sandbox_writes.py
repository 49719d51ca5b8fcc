"""Writes in the Fxiaoke sandbox: create/update/invalid/delete/changeOwner from the doc bodies."""

from __future__ import annotations

from typing import Any

from crmbridge.testing import FakeClock

from .sandbox_support import (
    ADMIN_OPEN_USER_ID,
    CUSTOM,
    REMOTE_OPEN_USER_ID,
    Session,
    assert_same_shape,
    fixture,
    query_body,
    run_async,
    sandbox,
    without_trace,
)

PRESET = "/cgi/crm/v2/data"
CUSTOM_DATA = "/cgi/crm/custom/v2/data"


async def create_contact(session: Session, **values: Any) -> str:
    made = await session.call(
        f"{PRESET}/create",
        {"object_data": {"dataObjectApiName": "ContactObj", "name": "张伟", **values}},
        triggerWorkFlow=False,
    )
    assert made["errorCode"] == 0, made
    return str(made["dataId"])


async def get(session: Session, api_name: str, record_id: str) -> Any:
    prefix = CUSTOM_DATA if api_name.endswith("__c") else PRESET
    return await session.call(
        f"{prefix}/get", {"dataObjectApiName": api_name, "objectDataId": record_id}
    )


@run_async
async def test_the_doc_create_template_is_accepted_and_answers_data_id() -> None:
    clock = FakeClock()
    async with sandbox(clock=clock) as (session, app):
        made = await session.post(f"{PRESET}/create", fixture("activerecord_create_request"))
        assert_same_shape(made, fixture("create_preset_response"))
        record = (await get(session, "ActiveRecordObj", made["dataId"]))["data"]
        assert record["name"] == "hello"
        assert record["object_describe_api_name"] == "ActiveRecordObj"
        assert record["owner"] == ["1000"]
        assert record["life_status"] == "normal"
        assert record["create_time"] == int(clock().timestamp() * 1000)
        assert app.state.counters["workflow_triggered"] == 1  # the template leaves it on


@run_async
async def test_values_come_back_in_fxiaoke_formats_and_are_checked() -> None:
    async with sandbox(seed_accounts=1) as (session, app):
        account = next(iter(app.state.records["AccountObj"]))
        record_id = await create_contact(
            session,
            account_id=account,
            influence__c=4,
            stakeholder_type__c="5",
            crmbridge_id__c="cb-1",
        )
        data = (await get(session, "ContactObj", record_id))["data"]
        assert data["influence__c"] == "4"
        assert data["version"] == "1"
        assert data["stakeholder_type__c"] == "5"
        assert data["stakeholder_type__c__r"] == "政府/监管"
        assert data["account_id"] == account
        assert data["account_id__r"]
        assert isinstance(data["last_modified_time"], int)
        assert data["last_modified_time"] > 10**12
        assert "tel1" not in data  # null fields are left out...
        nulls = await session.call(
            f"{PRESET}/get",
            {"dataObjectApiName": "ContactObj", "objectDataId": record_id},
            includeNull=True,
        )
        assert nulls["data"]["tel1"] is None  # ...unless includeNull
        for bad in (
            {"stakeholder_type__c": "99"},
            {"influence__c": "many"},
            {"account_id": "0" * 24},
            {"no_such_field": "x"},
            {"name": "x" * 101},
        ):
            r = await session.call(
                f"{PRESET}/create", {"object_data": {"dataObjectApiName": "ContactObj", **bad}}
            )
            assert r["errorCode"] == 32000, bad


@run_async
async def test_update_is_partial_and_keeps_owner_out() -> None:
    async with sandbox(seed_custom=1) as (session, app):
        record_id = next(iter(app.state.records[CUSTOM]))
        before = (await get(session, CUSTOM, record_id))["data"]
        request = fixture("custom_update_request")
        request["data"]["object_data"].pop("xxx")  # the doc's stand-in for changed fields
        request["data"]["object_data"].update(
            _id=record_id, dataObjectApiName=CUSTOM, priority__c="1", reason__c=""
        )
        r = await session.post(f"{CUSTOM_DATA}/update", request)
        assert_same_shape(r, fixture("success_response_no_payload"))
        after = (await get(session, CUSTOM, record_id))["data"]
        assert after["priority__c"] == "1"
        assert "reason__c" not in after
        assert after["name"] == before["name"]
        assert after["version"] == "2"
        owner = await session.call(
            f"{CUSTOM_DATA}/update",
            {"object_data": {"_id": record_id, "dataObjectApiName": CUSTOM, "owner": ["1001"]}},
        )
        assert owner["errorCode"] == 32000


@run_async
async def test_invalidate_hides_from_queries_then_delete_only_takes_invalidated() -> None:
    async with sandbox() as (session, app):
        keep, gone = await create_contact(session), await create_contact(session, name="李雷")
        assert app.state.get("ContactObj", gone) is not None
        delete = fixture("account_delete_request")  # idList [] is a no-op success
        assert (await session.post(f"{PRESET}/delete", delete))["errorCode"] == 0
        delete["data"].update(dataObjectApiName="ContactObj", idList=[gone])
        refused = await session.post(f"{PRESET}/delete", delete)
        assert refused["errorCode"] == 32000
        invalid = fixture("custom_invalid_request_v2")["data"]
        invalid.update(object_data_id=gone, dataObjectApiName="ContactObj")
        assert (await session.call(f"{PRESET}/invalid", invalid))["errorCode"] == 0
        page = await session.call(f"{PRESET}/query", query_body("ContactObj"))
        assert [r["_id"] for r in page["data"]["dataList"]] == [keep]
        only_invalid = query_body(
            "ContactObj",
            filters=[{"field_name": "life_status", "operator": "EQ", "field_values": ["invalid"]}],
        )
        page = await session.call(f"{PRESET}/query", only_invalid)
        assert [r["life_status_before_invalid"] for r in page["data"]["dataList"]] == ["normal"]
        assert (await session.post(f"{PRESET}/delete", delete))["errorCode"] == 0
        assert (await get(session, "ContactObj", gone))["errorCode"] == 32000


@run_async
async def test_custom_create_invalid_and_batch_invalid() -> None:
    async with sandbox("legacy", custom_create_returns_id=False) as (session, app):
        request = fixture("custom_create_request")
        request["data"]["object_data"].update(
            dataObjectApiName=CUSTOM, name="变更 A", crmbridge_id__c="cb-a"
        )
        made = await session.post(f"{CUSTOM_DATA}/create", request)
        assert made["errorCode"] == 0
        assert "dataId" not in made
        found = await session.call(
            f"{CUSTOM_DATA}/query",
            query_body(
                CUSTOM,
                filters=[
                    {"field_name": "crmbridge_id__c", "operator": "EQ", "field_values": ["cb-a"]}
                ],
            ),
        )
        first = found["data"]["dataList"][0]["_id"]
        await session.post(f"{CUSTOM_DATA}/create", request)
        second = max(app.state.records[CUSTOM])
        batch = fixture("custom_batch_invalid_request")
        batch["data"].update(dataObjectApiName=CUSTOM, idList=[first])
        assert (await session.post("/cgi/crm/custom/data/invalid", batch))["errorCode"] == 0
        v1 = fixture("custom_invalid_request_v1_legacy")
        v1.update(corpAccessToken=session.token, currentOpenUserId=ADMIN_OPEN_USER_ID)
        v1["corpId"] = "FSCID_SANDBOX0001"
        v1["data"].update(dataObjectApiName=CUSTOM, idList=[second])
        r = await session.client.post("/cgi/crm/custom/data/invalid", json=v1)
        assert r.json()["errorCode"] == 0
        statuses = {r.life_status for r in app.state.records[CUSTOM].values()}
        assert statuses == {"invalid"}


@run_async
async def test_change_owner_takes_the_doc_string_or_a_list() -> None:
    async with sandbox("legacy") as (session, _):
        record_id = await create_contact(session)
        request = fixture("legacy_change_owner_request")
        request["data"]["dataObjectApiName"] = "ContactObj"
        request["data"]["Data"][0].update(
            objectDataId=record_id, ownerId=f"[{REMOTE_OPEN_USER_ID}]"
        )
        request.update(corpAccessToken=session.token, corpId="FSCID_SANDBOX0001")
        request["currentOpenUserId"] = ADMIN_OPEN_USER_ID
        r = await session.client.post(f"{PRESET}/changeOwner", json=request)
        assert without_trace(r.json()) == without_trace(fixture("success_response_no_payload"))
        data = (await get(session, "ContactObj", record_id))["data"]
        assert data["owner"] == [REMOTE_OPEN_USER_ID]
        back = await session.call(
            f"{PRESET}/changeOwner",
            {
                "dataObjectApiName": "ContactObj",
                "Data": [{"objectDataId": record_id, "ownerId": ["1000"]}],
            },
        )
        assert back["errorCode"] == 0
        current_ids = await session.call(
            f"{PRESET}/get",
            {"dataObjectApiName": "ContactObj", "objectDataId": record_id},
            convertUserId=False,
        )
        assert current_ids["data"]["owner"] == ["1000"]


@run_async
async def test_workflow_option_touches_records_as_the_system_user() -> None:
    async with sandbox(workflow_on_write=True) as (session, _):
        quiet = await create_contact(session)
        loud = await session.call(
            f"{PRESET}/create", {"object_data": {"dataObjectApiName": "ContactObj", "name": "x"}}
        )
        assert (await get(session, "ContactObj", quiet))["data"]["last_modified_by"] == ["1000"]
        touched = (await get(session, "ContactObj", loud["dataId"]))["data"]
        assert touched["last_modified_by"] == ["-10000"]
        assert touched["version"] == "2"
