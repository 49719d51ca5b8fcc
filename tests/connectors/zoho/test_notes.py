"""Zoho Notes: deletions found by diff, creates that are never made twice."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from connectors.zoho import ZohoConnector, ZohoSettings
from connectors.zoho.notes import marked, strip_marker
from crmbridge.connector import (
    ConnectorContext,
    Page,
    WriteOp,
    WriteOutcome,
    WriteRequest,
    WriteResult,
)
from crmbridge.mapping import load_connector_mapping
from crmbridge.store import Store, open_store
from crmbridge.sync.job import SyncJob
from crmbridge.sync.runner import RunReport, run_job
from tests.connectors.zoho.sandbox_support import BASE, fixture
from tests.connectors.zoho.test_connector_http import API, Sleeps, run, settings, token_route

PARENT_A = "2423488000000495515"
PARENT_B = "2423488000000495516"
OTHER = ("Calls", "Events", "Tasks")


def notes_cursor(known: dict[str, list[str]], checked: str = "2020-01-01T00:00:00+00:00") -> Any:
    modules: dict[str, Any] = {
        m: {"since": "2024-03-01T00:00:00+00:00", "deleted_since": "2024-03-01T00:00:00+00:00"}
        for m in OTHER
    }
    modules["Notes"] = {
        "since": "2024-03-01T00:00:00+00:00",
        "notes_checked": checked,
        "notes": known,
    }
    return {"modules": modules}


def quiet_modules() -> None:
    """Nothing changed in Calls, Events, Tasks or Notes since the cursor."""
    for module in OTHER:
        respx.get(f"{API}/{module}").mock(return_value=httpx.Response(304))
        respx.get(f"{API}/{module}/deleted").mock(return_value=httpx.Response(304))


def sweep_route(answer: httpx.Response) -> respx.Route:
    """``GET /Notes``: the incremental read (``If-Modified-Since``) finds nothing new; a sweep gets ``answer``."""

    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(304) if "if-modified-since" in request.headers else answer

    return respx.get(f"{API}/Notes").mock(side_effect=respond)


def notes_body(ids: list[str]) -> Any:
    """Zoho's recorded Notes list, cut to these note ids."""
    body = copy.deepcopy(fixture("get_notes_response_v7"))
    template = body["data"][0]
    body["data"] = [{**template, "id": i} for i in ids]
    body["info"] = {**body["info"], "count": len(ids), "more_records": False}
    return body


def read_all(conn: ZohoConnector, cursor: Any) -> list[Page]:
    pages: list[Page] = []

    async def body(c: ZohoConnector) -> None:
        pages.extend([p async for p in c.read_changes("interactions", cursor)])

    run(body, conn)
    return pages


def zoho(**extra: Any) -> ZohoConnector:
    return ZohoConnector("zoho", settings(**extra), ConnectorContext(), sleep=Sleeps())


# -- the marker -----------------------------------------------------------------------


def test_the_marker_is_added_once_and_stripped_to_the_users_text() -> None:
    payload = marked({"Note_Title": "Call", "Note_Content": "Asked for a quote."}, "abc123")
    assert payload["Note_Content"] == "Asked for a quote.\n\n[crmbridge:abc123]"
    assert marked(payload, "abc123")["Note_Content"] == payload["Note_Content"]
    assert strip_marker(payload["Note_Content"]) == ("Asked for a quote.", "abc123")
    assert strip_marker(marked({"Note_Title": "Call"}, "k")["Note_Content"]) == (None, "k")
    assert strip_marker("no marker [crmbridge:x] inside") == (
        "no marker [crmbridge:x] inside",
        None,
    )


# -- deletions: exact requests ----------------------------------------------------------


@respx.mock
def test_a_sweep_lists_every_note_once_when_that_is_cheaper() -> None:
    token_route()
    quiet_modules()
    sweep = sweep_route(httpx.Response(200, json=notes_body(["n1", "n3"])))
    conn = zoho(notes_deletions_every_s=0)
    known = {f"Contacts/{PARENT_A}": ["n1", "n2"], f"Contacts/{PARENT_B}": ["n3"]}
    pages = read_all(conn, notes_cursor(known))

    request = sweep.calls.last.request
    assert sweep.call_count == 2  # the incremental read, then the sweep
    assert "if-modified-since" not in request.headers
    assert set(request.url.params["fields"].split(",")) == {"Modified_Time", "Parent_Id"}
    assert request.url.params["per_page"] == "200"
    gone = [d.external_id for p in pages for d in p.deletions]
    assert gone == ["n2"]
    last = pages[-1].cursor
    assert last is not None
    assert last["modules"]["Notes"]["notes"] == {
        f"Contacts/{PARENT_A}": ["n1"],
        f"Contacts/{PARENT_B}": ["n3"],
    }
    (check,) = conn.usage()["notes_deletion_checks"]
    assert check == {"mode": "sweep", "api_calls": 1, "credits": 1, "deleted": 1}


@respx.mock
def test_notes_of_one_parent_are_read_through_its_related_list() -> None:
    token_route()
    quiet_modules()
    sweep_route(httpx.Response(500))
    related = respx.get(f"{API}/Contacts/{PARENT_A}/Notes").mock(
        return_value=httpx.Response(200, json=notes_body(["n1", "n3"]))
    )
    conn = zoho(notes_deletions_every_s=0)
    pages = read_all(conn, notes_cursor({f"Contacts/{PARENT_A}": ["n1", "n2", "n3"]}))

    params = related.calls.last.request.url.params
    assert params["fields"] == "Modified_Time"
    assert (params["page"], params["per_page"]) == ("1", "200")
    assert [d.external_id for p in pages for d in p.deletions] == ["n2"]
    assert conn.usage()["notes_deletion_checks"][0]["mode"] == "per_parent"


@respx.mock
def test_a_sweep_refused_to_a_non_admin_falls_back_to_each_parent() -> None:
    token_route()
    quiet_modules()
    refused = {
        "code": "NOT_SUPPORTED",
        "details": {},
        "message": "This API is supported only for admin users",
        "status": "error",
    }
    sweep_route(httpx.Response(403, json=refused))
    respx.get(f"{API}/Contacts/{PARENT_A}/Notes").mock(return_value=httpx.Response(204))
    respx.get(f"{API}/Contacts/{PARENT_B}/Notes").mock(
        return_value=httpx.Response(200, json=notes_body(["n3"]))
    )
    conn = zoho(notes_deletions_every_s=0)
    known = {f"Contacts/{PARENT_A}": ["n1", "n2"], f"Contacts/{PARENT_B}": ["n3"]}
    pages = read_all(conn, notes_cursor(known))
    assert sorted(d.external_id for p in pages for d in p.deletions) == ["n1", "n2"]


@respx.mock
def test_no_check_before_the_interval_has_passed() -> None:
    token_route()
    quiet_modules()
    sweep = sweep_route(httpx.Response(200, json=notes_body([])))
    conn = zoho(notes_deletions_every_s=3600)
    cursor = notes_cursor({f"Contacts/{PARENT_A}": ["n1"]}, checked="2999-01-01T00:00:00+00:00")
    pages = read_all(conn, cursor)
    assert not [d for p in pages for d in p.deletions]
    assert sweep.call_count == 1  # the incremental read only
    assert "notes_deletion_checks" not in conn.usage()


# -- deletions end to end (sandbox over HTTP, SQLite hub) --------------------------------


def sandbox_connector(base: str, **extra: Any) -> ZohoConnector:
    zoho_settings = ZohoSettings(
        client_id="1000.SANDBOXCLIENT",
        client_secret="sandbox-secret",
        refresh_token="1000.sandbox.refresh",
        accounts_url=base,
        api_url=base,
        backoff_s=0.05,
        max_backoff_s=0.2,
        timeout_s=10,
        **extra,
    )
    return ZohoConnector("zoho", zoho_settings, ConnectorContext())


def sync(hub: Store, base: str, deletes: str, **extra: Any) -> RunReport:
    compiled = load_connector_mapping("zoho", "zoho", None)
    entities = ("stakeholders", "interactions")
    job = SyncJob(
        name="zoho-notes",
        connector="zoho",
        entities=entities,
        deletes=deletes,
        direction="pull",
    )
    mappers = {e: compiled.entity(e) for e in entities}
    return asyncio.run(run_job(hub, job, sandbox_connector(base, **extra), mappers))


def remote_insert(base: str, module: str, rows: list[dict[str, Any]]) -> list[str]:
    answer = httpx.post(f"{base}/__sandbox/records/{module}", json={"data": rows})
    answer.raise_for_status()
    return [item["details"]["id"] for item in answer.json()["data"]]


def add_notes(base: str, parents: list[str], per_parent: int) -> list[str]:
    rows = [
        {
            "Note_Title": f"Call {i}",
            "Note_Content": f"Talked about item {i}",
            "Parent_Id": {"module": {"api_name": "Contacts"}, "id": parent},
        }
        for parent in parents
        for i in range(per_parent)
    ]
    return remote_insert(base, "Notes", rows)


@pytest.fixture
def hub(tmp_path: Path) -> Store:
    return open_store(f"sqlite:///{tmp_path / 'hub.db'}")


@pytest.mark.parametrize(("parents", "mode"), [(2, "sweep"), (1, "per_parent")])
def test_a_note_deleted_in_zoho_is_deleted_in_the_hub(hub: Store, parents: int, mode: str) -> None:
    from connectors.zoho.sandbox import SandboxOptions, SandboxServer

    with SandboxServer(SandboxOptions(port=0)) as server:
        base = server.base_url
        contacts = remote_insert(
            base, "Contacts", [{"Last_Name": f"Byron{i}"} for i in range(parents)]
        )
        notes = add_notes(base, contacts, 12 // parents)
        first = sync(hub, base, "propagate", notes_deletions_every_s=0)
        assert first.status == "succeeded", first.error
        assert len(list(hub.iter_records("interactions"))) == 12

        httpx.delete(f"{base}/__sandbox/records/Notes", params={"ids": notes[0]})
        second = sync(hub, base, "propagate", notes_deletions_every_s=0)
        assert second.status == "succeeded", second.error

        live = list(hub.iter_records("interactions"))
        assert len(live) == 11
        links = hub.get_links_by_record_ids("zoho", "interactions", [r.id for r in live])
        assert notes[0] not in {link.external_id for link in links.values()}
        (check,) = second.as_dict()["connector"]["notes_deletion_checks"]
        assert check["mode"] == mode
        assert check["deleted"] == 1
        assert check["api_calls"] == parents if mode == "per_parent" else 1


def test_a_deleted_note_is_kept_archived_under_the_archive_policy(hub: Store) -> None:
    from connectors.zoho.sandbox import SandboxOptions, SandboxServer

    with SandboxServer(SandboxOptions(port=0)) as server:
        base = server.base_url
        (contact,) = remote_insert(base, "Contacts", [{"Last_Name": "Byron"}])
        notes = add_notes(base, [contact], 10)
        assert sync(hub, base, "archive", notes_deletions_every_s=0).status == "succeeded"
        httpx.delete(f"{base}/__sandbox/records/Notes", params={"ids": notes[3]})
        assert sync(hub, base, "archive", notes_deletions_every_s=0).status == "succeeded"
        records = list(hub.iter_records("interactions"))
        assert len(records) == 10
        assert sum(1 for r in records if r.data.get("archived")) == 1


# -- creates: never twice ---------------------------------------------------------------


def note_request(key: str, *, resent: bool = False) -> WriteRequest:
    """Zoho's recorded create-note request as the mapping hands it over."""
    (note,) = fixture("create_note_request")["data"]
    return WriteRequest(key, WriteOp.CREATE, {**note, "$remote": "Notes"}, resent=resent)


def write_notes(conn: ZohoConnector, requests: list[WriteRequest]) -> list[WriteResult]:
    results: list[WriteResult] = []

    async def body(c: ZohoConnector) -> None:
        c._checked = True  # these tests are about the requests a create sends
        results.extend(await c.write("interactions", requests))

    run(body, conn)
    return results


@respx.mock
def test_a_first_create_sends_the_note_with_its_marker_and_looks_nothing_up() -> None:
    token_route()
    create = respx.post(f"{API}/Notes").mock(
        return_value=httpx.Response(201, json=fixture("create_note_201_response_v7"))
    )
    (result,) = write_notes(zoho(), [note_request("k1")])

    sent = json.loads(create.calls.last.request.content)
    (expected,) = fixture("create_note_request")["data"]
    assert sent == {
        "data": [{**expected, "Note_Content": f"{expected['Note_Content']}\n\n[crmbridge:k1]"}],
        "trigger": [],
    }
    assert len(respx.calls) == 2  # the token, the create
    assert (result.outcome, result.external_id) == (WriteOutcome.CREATED, "2423488000000776006")


@respx.mock
def test_a_resent_create_adopts_the_note_that_carries_its_marker() -> None:
    token_route()
    (expected,) = fixture("create_note_request")["data"]
    parent = expected["Parent_Id"]["id"]
    listed = notes_body(["2423488000000776006", "2423488000000776007"])
    listed["data"][0]["Note_Content"] = "Need to do further tracking\n\n[crmbridge:k1]"
    listed["data"][1]["Note_Content"] = "Someone else's note"
    related = respx.get(f"{API}/Leads/{parent}/Notes").mock(
        return_value=httpx.Response(200, json=listed)
    )
    create = respx.post(f"{API}/Notes").mock(
        return_value=httpx.Response(201, json=fixture("create_note_201_response_v7"))
    )
    found, made = write_notes(
        zoho(), [note_request("k1", resent=True), note_request("k2", resent=True)]
    )

    params = related.calls.last.request.url.params
    assert set(params["fields"].split(",")) == {"Note_Content", "Modified_Time"}
    assert related.call_count == 1  # one list for the shared parent
    assert (found.outcome, found.external_id) == (WriteOutcome.CREATED, "2423488000000776006")
    sent = json.loads(create.calls.last.request.content)["data"]
    assert [n["Note_Content"] for n in sent] == ["Need to do further tracking\n\n[crmbridge:k2]"]
    assert made.external_id == "2423488000000776006"  # the recorded answer's id


def in_process(faults: str = "") -> tuple[ZohoConnector, Any]:
    from connectors.zoho.sandbox import SandboxOptions, create_app

    app = create_app(SandboxOptions(faults=faults))
    zoho_settings = ZohoSettings(
        client_id="1000.SANDBOXCLIENT",
        client_secret="sandbox-secret",
        refresh_token="1000.sandbox.refresh",
        accounts_url="http://zoho.sandbox",
        api_url="http://zoho.sandbox",
        backoff_s=0,
    )
    conn = ZohoConnector(
        "zoho",
        zoho_settings,
        ConnectorContext(),
        transport=httpx.ASGITransport(app=app),
    )
    return conn, app


def test_a_create_whose_answer_is_lost_makes_one_note() -> None:
    """The sandbox commits the note, then drops the connection; the retry finds it."""
    conn, app = in_process()
    (contact,) = [app.state.insert("Contacts", {"Last_Name": "Byron"}, app.state.admin).id]
    data = {
        "$remote": "Notes",
        "Note_Title": "Quote",
        "Note_Content": "Asked for a quote.",
        "Parent_Id": {"module": {"api_name": "Contacts"}, "id": contact},
    }

    async def go() -> None:
        await conn.open()
        await conn._ensure_checked()
        sandbox = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)
        await sandbox.post("/__sandbox/faults", json={"spec": "reset:at=1@after@write"})
        (result,) = await conn.write("interactions", [WriteRequest("k1", WriteOp.CREATE, data)])
        fired = (await sandbox.get("/__sandbox/state")).json()["faults"]["fired"]
        assert fired == {"reset": 1}
        assert result.outcome is WriteOutcome.CREATED
        # the engine replays the batch after a crash: still the same note
        (again,) = await conn.write(
            "interactions", [WriteRequest("k1", WriteOp.CREATE, data, resent=True)]
        )
        assert again.external_id == result.external_id
        pages = [p async for p in conn.read_changes("interactions", None)]
        notes = [r for p in pages for r in p.records if r.data["$remote"] == "Notes"]
        assert [n.external_id for n in notes] == [result.external_id]
        assert notes[0].data["Note_Content"] == "Asked for a quote."  # no marker in the hub
        await sandbox.aclose()
        await conn.close()

    asyncio.run(go())
    stored = [n.values["Note_Content"] for n in app.state.records["Notes"].values()]
    assert stored == ["Asked for a quote.\n\n[crmbridge:k1]"]
