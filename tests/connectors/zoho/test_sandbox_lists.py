"""The sandbox's list-valued standard fields, Tag and Participants, written and read as in Zoho."""

from __future__ import annotations

from typing import Any

import httpx
from sandbox_support import fixture, run_async, sandbox

V8 = "/crm/v8"


async def _fields(c: httpx.AsyncClient, module: str) -> dict[str, dict[str, Any]]:
    answer = await c.get(f"{V8}/settings/fields", params={"module": module})
    return {f["api_name"]: f for f in answer.json()["fields"]}


@run_async
async def test_tags_come_back_with_ids_and_participants_with_who_they_are() -> None:
    async with sandbox() as (c, _app):
        made = await c.post(
            f"{V8}/Contacts",
            json={
                "data": [
                    {
                        "Last_Name": "王",
                        "First_Name": "伟",
                        "Email": "wang.wei@example.cn",
                        "Tag": [{"name": "vip"}, {"name": "决策者"}, {"name": "VIP"}],
                    },
                    {"Last_Name": "Boyle", "Tag": [{"name": "VIP"}]},
                ]
            },
        )
        wang, boyle = (item["details"]["id"] for item in made.json()["data"])
        event = {
            "Event_Title": "需求评审",
            "Start_DateTime": "2026-05-01T10:00:00+08:00",
            "End_DateTime": "2026-05-01T11:00:00+08:00",
            "Participants": [
                {"type": "contact", "participant": wang},
                {"type": "email", "participant": "guest@example.com"},
            ],
        }
        created = await c.post(f"{V8}/Events", json={"data": [event]})
        assert created.status_code == 201, created.json()
        event_id = created.json()["data"][0]["details"]["id"]

        first = (await c.get(f"{V8}/Contacts/{wang}")).json()["data"][0]
        second = (await c.get(f"{V8}/Contacts/{boyle}")).json()["data"][0]
        assert [t["name"] for t in first["Tag"]] == ["vip", "决策者"]  # names match in any case
        assert first["Tag"][0]["id"] == second["Tag"][0]["id"]  # one tag, one id
        got = (await c.get(f"{V8}/Events/{event_id}")).json()["data"][0]
        assert [
            (p["type"], p["participant"], p["name"], p["Email"]) for p in got["Participants"]
        ] == [
            ("contact", wang, "王伟", "wang.wei@example.cn"),
            ("email", "guest@example.com", None, "guest@example.com"),
        ]
        assert got["Tag"] == fixture("account_record_v2")["Tag"] == []  # untagged: an empty list


@run_async
async def test_a_participant_zoho_does_not_know_or_a_tag_that_is_no_list_is_refused() -> None:
    async with sandbox() as (c, _app):
        stranger = [{"type": "contact", "participant": "5725767000000999999"}]
        slot = {
            "Start_DateTime": "2026-05-01T10:00:00+08:00",
            "End_DateTime": "2026-05-01T11:00:00+08:00",
        }
        bad = [
            {"Event_Title": "x", **slot, "Participants": stranger},
            {"Event_Title": "y", **slot, "Tag": "vip"},
        ]
        answer = await c.post(f"{V8}/Events", json={"data": bad})
        assert answer.status_code == 400
        items = answer.json()["data"]
        assert [(i["code"], i["details"]["api_name"]) for i in items] == [
            ("INVALID_DATA", "Participants"),
            ("INVALID_DATA", "Tag"),
        ]


@run_async
async def test_the_list_fields_are_described_as_zoho_describes_them() -> None:
    async with sandbox() as (c, _app):
        real_tag = next(
            f for f in fixture("fields_metadata_response")["fields"] if f["api_name"] == "Tag"
        )
        for module in ("Accounts", "Contacts", "Calls", "Events", "Tasks", "Change_Requests"):
            tag = (await _fields(c, module))["Tag"]
            assert (tag["data_type"], tag["json_type"], tag["length"], tag["custom_field"]) == (
                real_tag["data_type"],
                real_tag["json_type"],
                real_tag["length"],
                False,
            )
        assert "Tag" not in await _fields(c, "Notes")
        participants = (await _fields(c, "Events"))["Participants"]
        assert (participants["data_type"], participants["json_type"]) == ("bigint", "jsonarray")
        assert participants["custom_field"] is False
