"""The connector's request shapes and recovery, against the fixtures' bodies (respx)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
import pytest
import respx

from connectors.fxiaoke import DailyQuotaExhausted, FxiaokeConnector
from connectors.fxiaoke.scan import KnownIds
from crmbridge.connector import WriteOp, WriteOutcome, WriteRequest
from crmbridge.errors import ConfigError, PermanentError, TransientError

from .http_support import (
    BASE,
    body_of,
    connector,
    error,
    fixture,
    ok,
    run,
    shape,
    token_route,
)

DATA = f"{BASE}/cgi/crm/v2/data"
CUSTOM = f"{BASE}/cgi/crm/custom/v2/data"
CONTACT_FIELDS = {
    name: {"type": "text", "define_type": "package"}
    for name in ("name", "email", "tel1", "mobile1", "account_id", "job_title", "owner")
}
CONTACT_FIELDS["owner"] = {"type": "employee"}
CONTACT_FIELDS["crmbridge_id__c"] = {"type": "text", "define_type": "custom"}
for custom in ("power__c", "interest__c", "influence__c", "stakeholder_type__c"):
    values = ["customer", "end_user", "supplier", "partner", "regulator", "internal", "other"]
    levels = ["low", "medium", "high"]
    options = values if custom == "stakeholder_type__c" else levels
    CONTACT_FIELDS[custom] = {
        "type": "select_one",
        "options": [{"label": o, "value": o} for o in options],
    }
for text in ("expectations__c", "needs__c"):
    CONTACT_FIELDS[text] = {"type": "long_text"}


def describe_route(fields: dict[str, Any] | None = None, unique: bool = False) -> respx.Route:
    described = dict(fields or CONTACT_FIELDS)
    if unique:
        described["crmbridge_id__c"] = {**described["crmbridge_id__c"], "is_unique": True}
    return respx.post(f"{BASE}/cgi/crm/v2/object/describe").mock(
        return_value=ok(data={"describe": {"api_name": "ContactObj", "fields": described}})
    )


def create(key: str, **data: Any) -> WriteRequest:
    return WriteRequest(key, WriteOp.CREATE, {"name": f"陈{key}", **data})


@respx.mock
def test_describe_validates_the_mapping_and_names_an_unknown_field() -> None:
    token_route()
    fields = {k: v for k, v in CONTACT_FIELDS.items() if k != "job_title"}
    route = describe_route(fields)

    async def body(c: FxiaokeConnector) -> None:
        with pytest.raises(ConfigError) as caught:
            await c.write("stakeholders", [create("a")])
        assert "job_title" in str(caught.value)

    run(body, connector())
    sent = body_of(route.calls[0].request)
    assert shape(sent) == shape(fixture("describe_request"))
    assert sent["data"]["apiName"] == "ContactObj"


@respx.mock
def test_creates_send_the_documented_body_with_automations_off() -> None:
    token_route()
    describe_route(unique=True)
    route = respx.post(f"{DATA}/create").mock(
        return_value=httpx.Response(200, json=fixture("create_preset_response"))
    )
    lookups = respx.post(f"{DATA}/query").mock(return_value=ok(data={"dataList": []}))

    async def body(c: FxiaokeConnector) -> None:
        (result,) = await c.write("stakeholders", [create("k1", owner=["1000"])])
        assert (result.outcome, result.external_id) == (WriteOutcome.CREATED, "68faxxxxxx")

    run(body, connector())
    assert lookups.call_count == 0  # the id field is unique: Fxiaoke refuses a twin itself
    sent = body_of(route.calls[0].request)
    template = fixture("activerecord_create_request")
    assert sent["triggerWorkFlow"] is False
    assert sent["triggerApprovalFlow"] is False
    assert set(sent) <= set(template)
    obj = sent["data"]["object_data"]
    assert obj["dataObjectApiName"] == "ContactObj"
    assert obj["crmbridge_id__c"] == "k1"
    assert obj["owner"] == ["1000"]


@respx.mock
def test_an_unanswered_create_is_looked_up_and_adopted_not_sent_twice() -> None:
    token_route()
    describe_route(unique=True)
    creates = respx.post(f"{DATA}/create").mock(side_effect=httpx.ReadTimeout("lost"))
    found = {
        "_id": "made-by-attempt-1",
        "crmbridge_id__c": "k1",
        "last_modified_time": 1700000000000,
    }
    lookups = respx.post(f"{DATA}/query").mock(return_value=ok(data={"dataList": [found]}))

    async def body(c: FxiaokeConnector) -> None:
        (result,) = await c.write("stakeholders", [create("k1")])
        assert (result.outcome, result.code) == (WriteOutcome.CREATED, "ALREADY_CREATED")
        assert result.external_id == "made-by-attempt-1"

    run(body, connector())
    assert creates.call_count == 1
    info = body_of(lookups.calls[0].request)["data"]["search_query_info"]
    assert {"field_name": "crmbridge_id__c", "operator": "IN", "field_values": ["k1"]} in info[
        "filters"
    ]


@respx.mock
def test_an_unanswered_create_not_found_is_left_to_a_replay_not_sent_again() -> None:
    """A query lagging behind the create must not make a twin: the outbox replays it later."""
    token_route()
    describe_route(unique=True)
    creates = respx.post(f"{DATA}/create").mock(side_effect=httpx.ReadTimeout("lost"))
    respx.post(f"{DATA}/query").mock(return_value=ok(data={"dataList": []}))

    async def body(c: FxiaokeConnector) -> None:
        with pytest.raises(TransientError) as caught:
            await c.write("stakeholders", [create("k1")])
        assert not isinstance(caught.value, DailyQuotaExhausted)
        assert "later run" in str(caught.value)

    run(body, connector())
    assert creates.call_count == 1


@respx.mock
def test_a_create_refused_by_the_call_limit_is_sent_again_at_once() -> None:
    """14001 did no work, so sending again cannot make a twin."""
    token_route()
    describe_route(unique=True)
    creates = respx.post(f"{DATA}/create").mock(side_effect=[error(14001), ok(dataId="new-1")])
    lookups = respx.post(f"{DATA}/query").mock(return_value=ok(data={"dataList": []}))

    async def body(c: FxiaokeConnector) -> None:
        (result,) = await c.write("stakeholders", [create("k1")])
        assert (result.outcome, result.external_id) == (WriteOutcome.CREATED, "new-1")

    run(body, connector())
    assert (creates.call_count, lookups.call_count) == (2, 0)


@respx.mock
def test_a_create_answered_without_an_id_and_not_found_is_replayed_not_linked_to_none() -> None:
    token_route()
    describe_route(unique=True)
    creates = respx.post(f"{DATA}/create").mock(return_value=ok())
    respx.post(f"{DATA}/query").mock(return_value=ok(data={"dataList": []}))

    async def body(c: FxiaokeConnector) -> None:
        with pytest.raises(TransientError) as caught:
            await c.write("stakeholders", [create("k1")])
        assert "without the new record's id" in str(caught.value)

    run(body, connector())
    assert creates.call_count == 1


@respx.mock
def test_a_resent_create_is_looked_up_first_and_a_new_one_made_once() -> None:
    token_route()
    describe_route(unique=True)
    creates = respx.post(f"{DATA}/create").mock(return_value=ok(dataId="new-1"))
    row = {"_id": "old-1", "crmbridge_id__c": "k1", "last_modified_time": 1}
    respx.post(f"{DATA}/query").mock(return_value=ok(data={"dataList": [row]}))

    async def body(c: FxiaokeConnector) -> None:
        results = await c.write(
            "stakeholders", [replace(create("k1"), resent=True), replace(create("k2"), resent=True)]
        )
        assert [(r.key, r.external_id, r.code) for r in results] == [
            ("k1", "old-1", "ALREADY_CREATED"),
            ("k2", "new-1", "SUCCESS"),
        ]

    run(body, connector())
    assert creates.call_count == 1


@respx.mock
def test_a_bad_record_is_rejected_alone() -> None:
    token_route()
    describe_route()

    def answer(request: httpx.Request) -> httpx.Response:
        name = body_of(request)["data"]["object_data"]["name"]
        return error(32000, "参数错误") if name == "陈bad" else ok(dataId=f"id-{name}")

    respx.post(f"{DATA}/create").mock(side_effect=answer)
    respx.post(f"{DATA}/query").mock(return_value=ok(data={"dataList": []}))

    async def body(c: FxiaokeConnector) -> None:
        results = await c.write("stakeholders", [create("a"), create("bad"), create("c")])
        assert [r.outcome for r in results] == [
            WriteOutcome.CREATED,
            WriteOutcome.REJECTED,
            WriteOutcome.CREATED,
        ]
        assert results[1].code == "ERROR_32000"
        assert "E-O.err.32000" in str(results[1].message)

    run(body, connector())


@respx.mock
def test_the_quota_stop_ends_the_batch_with_the_distinct_error() -> None:
    token_route()
    describe_route()
    respx.post(f"{DATA}/query").mock(return_value=ok(data={"dataList": []}))
    respx.post(f"{DATA}/create").mock(side_effect=[ok(dataId="x"), error(30002)])

    async def body(c: FxiaokeConnector) -> None:
        with pytest.raises(DailyQuotaExhausted):
            await c.write("stakeholders", [create("a"), create("b")])

    run(body, connector(concurrency=1))


@respx.mock
def test_updates_owner_changes_and_deletes_use_the_documented_bodies() -> None:
    token_route()
    describe_route()
    update = respx.post(f"{DATA}/update").mock(return_value=ok())
    owner = respx.post(f"{DATA}/changeOwner").mock(return_value=ok())
    invalid = respx.post(f"{DATA}/invalid").mock(return_value=ok())
    delete = respx.post(f"{DATA}/delete").mock(
        return_value=httpx.Response(200, json=fixture("success_response_no_payload"))
    )

    async def body(c: FxiaokeConnector) -> None:
        results = await c.write(
            "stakeholders",
            [
                WriteRequest("u", WriteOp.UPDATE, {"job_title": "总监", "owner": "1001"}, "id-u"),
                WriteRequest("d", WriteOp.DELETE, external_id="id-d"),
            ],
        )
        assert [r.outcome for r in results] == [WriteOutcome.UPDATED, WriteOutcome.DELETED]

    run(body, connector())
    sent = body_of(update.calls[0].request)
    assert shape(sent["data"]["object_data"]) == {
        "dataObjectApiName": "str",
        "job_title": "str",
        "_id": "str",
    }
    assert set(sent) == set(fixture("custom_update_request")) | {"triggerApprovalFlow"}
    assert sent["triggerWorkFlow"] is False
    change = body_of(owner.calls[0].request)["data"]
    assert set(change) == set(fixture("legacy_change_owner_request")["data"])
    assert change["Data"] == [{"objectDataId": "id-u", "ownerId": ["1001"]}]
    assert set(body_of(invalid.calls[0].request)["data"]) == set(
        fixture("legacy_preset_invalid_request")["data"]
    )
    deleted = body_of(delete.calls[0].request)["data"]
    assert shape(deleted) == shape({**fixture("account_delete_request")["data"], "idList": ["x"]})
    assert deleted["idList"] == ["id-d"]


@respx.mock
def test_custom_objects_write_on_the_custom_paths() -> None:
    token_route()
    fields = {
        "name": {"type": "text"},
        "crmbridge_id__c": {"type": "text"},
        **{
            f: {"type": "long_text"}
            for f in ("reason__c", "impact__c", "history__c", "description__c", "decided_by__c")
        },
        "requested_by__c": {"type": "object_reference"},
        "decided_at__c": {"type": "date_time"},
        "priority__c": {
            "type": "select_one",
            "options": [{"value": v} for v in ("low", "medium", "high", "critical")],
        },
        "status__c": {
            "type": "select_one",
            "options": [
                {"value": v}
                for v in ("identified", "analysed", "approved", "rejected", "implemented")
            ],
        },
    }
    respx.post(f"{BASE}/cgi/crm/v2/object/describe").mock(
        return_value=ok(data={"describe": {"fields": fields}})
    )
    made = respx.post(f"{CUSTOM}/create").mock(return_value=ok())  # no dataId, as the page shows
    row = {"_id": "x1", "crmbridge_id__c": "c1", "last_modified_time": 1}
    respx.post(f"{CUSTOM}/query").mock(
        side_effect=lambda _: ok(data={"dataList": [row] if made.called else []})
    )
    invalid = respx.post(f"{CUSTOM}/invalid").mock(return_value=ok())

    async def body(c: FxiaokeConnector) -> None:
        (result,) = await c.write(
            "requirement_changes", [WriteRequest("c1", WriteOp.CREATE, {"name": "改"})]
        )
        assert (result.outcome, result.external_id) == (WriteOutcome.CREATED, "x1")
        await c.write("requirement_changes", [WriteRequest("c1", WriteOp.DELETE, external_id="x1")])

    run(body, connector(requirement_change_object="object_Nyeoj__c", hard_delete=False))
    obj = body_of(made.calls[0].request)["data"]["object_data"]
    assert obj["dataObjectApiName"] == "object_Nyeoj__c"
    assert shape(body_of(invalid.calls[0].request)) == shape(fixture("custom_invalid_request_v2"))


@respx.mock
def test_reads_report_invalid_rows_and_scanned_deletions_and_keep_a_cursor() -> None:
    token_route()
    describe_route()
    rows = [
        {"_id": "a", "name": "甲", "last_modified_time": 1_700_000_000_000},
        {
            "_id": "b",
            "name": "乙",
            "last_modified_time": 1_700_000_000_500,
            "life_status": "invalid",
        },
    ]
    walk = [{"_id": "c"}]  # the scan finds only c: a is gone (and its lookup confirms it)
    query = respx.post(f"{DATA}/query").mock(
        side_effect=[
            ok(data={"dataList": rows}),
            ok(data={"dataList": walk}),
            ok(data={"dataList": []}),
        ]
    )
    cursor = {"object": "ContactObj", "since_ms": 1_700_000_000_000 + 30_000, "scan_at": None}

    async def body(c: FxiaokeConnector) -> None:
        pages = [p async for p in c.read_changes("stakeholders", cursor)]
        records = [r.external_id for p in pages for r in p.records]
        gone = [d.external_id for p in pages for d in p.deletions]
        assert records == ["a"]
        assert gone == ["b", "a"]
        last = pages[-1].cursor
        assert last is not None
        assert last["since_ms"] == 1_700_000_030_000
        assert last["scan_at"]

    run(body, connector(overlap_s=60))
    first = body_of(query.calls[0].request)["data"]["search_query_info"]
    assert first["filters"][0]["field_values"] == [str(1_700_000_030_000 - 60_000)]


@respx.mock
def test_a_scan_whose_listing_stops_early_reports_only_what_a_lookup_confirms_gone() -> None:
    token_route()
    describe_route()
    known = KnownIds()
    known.add(f"id{i:02d}" for i in range(10))
    listed = [{"_id": "id00"}, {"_id": "id01"}]  # a short page: the walk stops there
    confirmed = [{"_id": f"id{i:02d}", "life_status": "normal"} for i in range(2, 9)]
    confirmed.append({"_id": "id09", "life_status": "invalid"})  # really gone (invalidated)
    query = respx.post(f"{DATA}/query").mock(
        side_effect=[
            ok(data={"dataList": []}),  # no changes
            ok(data={"dataList": listed}),
            ok(data={"dataList": confirmed}),
        ]
    )
    cursor = {"object": "ContactObj", "since_ms": 1, "scan_at": None, "known": known.to_cursor()}

    async def body(c: FxiaokeConnector) -> None:
        pages = [p async for p in c.read_changes("stakeholders", cursor)]
        assert [d.external_id for p in pages for d in p.deletions] == ["id09"]
        last = pages[-1].cursor
        assert last is not None
        assert KnownIds.from_cursor(last["known"]).all() == {f"id{i:02d}" for i in range(9)}

    run(body, connector())
    info = body_of(query.calls[2].request)["data"]["search_query_info"]
    (in_filter,) = [f for f in info["filters"] if f["operator"] == "IN"]
    assert in_filter["field_name"] == "_id"
    assert sorted(in_filter["field_values"]) == [f"id{i:02d}" for i in range(2, 10)]


@respx.mock
def test_a_lookup_answered_in_an_unknown_shape_stops_the_scan_and_deletes_nothing() -> None:
    token_route()
    describe_route()
    known = KnownIds()
    known.add(f"id{i:02d}" for i in range(10))
    respx.post(f"{DATA}/query").mock(
        side_effect=[
            ok(data={"dataList": []}),  # no changes
            ok(data={"dataList": [{"_id": "id00"}]}),  # the listing stops early
            ok(data={"records": [{"_id": "id05"}]}),  # not a shape the API documents
        ]
    )
    cursor = {"object": "ContactObj", "since_ms": 1, "scan_at": None, "known": known.to_cursor()}

    deletions: list[str] = []

    async def read(c: FxiaokeConnector) -> None:
        async for page in c.read_changes("stakeholders", cursor):
            deletions.extend(d.external_id for d in page.deletions)

    async def body(c: FxiaokeConnector) -> None:
        with pytest.raises(PermanentError, match="shape"):
            await read(c)

    run(body, connector())
    assert deletions == []
