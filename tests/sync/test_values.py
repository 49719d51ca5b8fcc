"""What a remote record holds of the hub: the stored values of just its fields."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from crmbridge.sync.values import flatten, held_values, remote_fields, validated_content

_NAMES = st.sampled_from(["title", "notes", "tags", "owner", "custom.colour", "custom.level", "id"])
_VALUES = st.one_of(st.none(), st.text(max_size=5), st.lists(st.text(max_size=3), max_size=2))


def test_held_values_are_the_stored_values_of_the_fields_the_remote_holds() -> None:
    flat = {
        "full_name": " 张三 ",
        "mobile": "138 0013 8000",
        "type": None,
        "custom.colour": "red",
        "id": "0190-abc",
    }
    content, _digest = validated_content("stakeholders", flat, phone_region="CN")
    held = held_values(flat, content)
    # normalised as the hub stores them; a blank type reads as its default; nothing else
    assert held == {
        "full_name": "张三",
        "mobile": "+8613800138000",
        "type": "customer",
        "custom.colour": "red",
        "id": "0190-abc",
    }


@given(
    st.dictionaries(_NAMES, _VALUES, max_size=7),
    st.dictionaries(_NAMES, _VALUES, max_size=7),
)
def test_held_values_equal_flattened_content_cut_to_the_remote_fields(
    flat: dict[str, Any], stored: dict[str, Any]
) -> None:
    content: dict[str, Any] = {k: v for k, v in stored.items() if not k.startswith("custom.")}
    custom = {k.removeprefix("custom."): v for k, v in stored.items() if k.startswith("custom.")}
    if custom:
        content["custom"] = custom
    expected = {k: v for k, v in flatten(content).items() if k in flat}
    if flat.get("id"):
        expected["id"] = flat["id"]
    assert held_values(flat, content) == expected


_NAMES = st.sampled_from(["email", "title", "custom", "id", "custom.colour", "custom.size", "tags"])


@given(
    fields=st.lists(_NAMES, unique=True),
    flat=st.dictionaries(_NAMES, st.one_of(st.none(), st.text(max_size=3))),
    content=st.dictionaries(
        st.sampled_from(["email", "title", "tags", "custom"]), st.text(max_size=3)
    ),
    custom=st.dictionaries(st.sampled_from(["colour", "size"]), st.text(max_size=3)),
)
def test_what_a_new_record_says_is_what_its_held_values_say(
    fields: list[str], flat: dict[str, Any], content: dict[str, Any], custom: dict[str, Any]
) -> None:
    from crmbridge.sync.values import said_fields

    content["custom"] = custom
    expected = remote_fields([f for f in fields if f != "id"], held_values(flat, content))
    assert said_fields([f for f in fields if f != "id"], flat, content) == expected
