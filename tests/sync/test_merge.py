"""The three-way merge rules, proved over generated records with hypothesis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from crmbridge.sync.merge import MISSING, ConflictPolicy, Policy, merge

FIELDS = ["full_name", "email", "phone", "power", "tags"]
values = st.one_of(
    st.none(),
    st.sampled_from(["", "王小明", "Anna", "+8613800138000", "high"]),
    st.lists(st.sampled_from(["vip", "客户"]), max_size=2),
)
records = st.fixed_dictionaries({name: values for name in FIELDS})
policies = st.sampled_from(list(Policy))
T0 = datetime(2026, 11, 26, tzinfo=UTC)


def run(
    base: dict[str, Any] | None,
    hub: dict[str, Any],
    remote: dict[str, Any],
    policy: Policy = Policy.MANUAL,
    **kwargs: Any,
) -> Any:
    return merge(base, hub, remote, fields=FIELDS, policy=ConflictPolicy(policy), **kwargs)


@given(records, records)
def test_a_change_on_one_side_only_wins_without_conflict(
    base: dict[str, Any], remote: dict[str, Any]
) -> None:
    pulled = run(base, base, remote)
    assert not pulled.conflicts
    assert pulled.to_remote == {}
    assert {**base, **pulled.to_hub} == remote
    pushed = run(base, remote, base)
    assert not pushed.conflicts
    assert pushed.to_hub == {}
    assert {**base, **pushed.to_remote} == remote


@given(records, records)
def test_our_own_write_coming_back_does_nothing(base: dict[str, Any], hub: dict[str, Any]) -> None:
    echo = run(base, hub, dict(hub))
    assert echo.to_hub == {}
    assert echo.to_remote == {}
    assert not echo.conflicts
    assert echo.shadow == hub


@given(records, records, records, policies)
def test_conflicts_are_exactly_the_fields_changed_both_ways(
    base: dict[str, Any], hub: dict[str, Any], remote: dict[str, Any], policy: Policy
) -> None:
    result = run(base, hub, remote, policy)
    expected = {
        f for f in FIELDS if hub[f] != base[f] and remote[f] != base[f] and hub[f] != remote[f]
    }
    assert {c.field for c in result.conflicts} == expected
    if policy is Policy.MANUAL:
        assert {c.field for c in result.held} == expected
        for name in expected:
            assert name not in result.to_hub
            assert name not in result.to_remote
            assert result.shadow[name] == base[name], "a held field keeps its base"
    else:
        assert not result.held


@given(records, records, records, policies, st.integers(-5, 5))
def test_after_writes_both_sides_converge_and_a_second_merge_is_quiet(
    base: dict[str, Any], hub: dict[str, Any], remote: dict[str, Any], policy: Policy, skew: int
) -> None:
    result = run(
        base,
        hub,
        remote,
        policy,
        hub_modified_at=T0,
        remote_modified_at=T0 + timedelta(seconds=skew),
    )
    new_hub = {**hub, **result.to_hub}
    new_remote = {**remote, **result.to_remote}
    held = {c.field for c in result.held}
    for name in FIELDS:
        if name not in held:
            assert new_hub[name] == new_remote[name] == result.shadow[name]
    again = run(result.shadow, new_hub, new_remote, policy)
    assert again.to_hub == {}
    assert again.to_remote == {}
    assert {c.field for c in again.conflicts} == held


def test_newest_takes_the_later_side_and_ties_go_to_the_hub() -> None:
    base, hub, remote = {"email": "a@x.cn"}, {"email": "b@x.cn"}, {"email": "c@x.cn"}
    later = run(
        base,
        hub,
        remote,
        Policy.NEWEST,
        hub_modified_at=T0,
        remote_modified_at=T0 + timedelta(seconds=1),
    )
    assert later.to_hub == {"email": "c@x.cn"}
    tie = run(base, hub, remote, Policy.NEWEST, hub_modified_at=T0, remote_modified_at=T0)
    assert tie.to_remote == {"email": "b@x.cn"}


def test_prefer_non_empty_keeps_the_value_over_a_blank() -> None:
    result = run(
        {"phone": "+8613800138000"},
        {"phone": None},
        {"phone": "+8613900139000"},
        Policy.PREFER_NON_EMPTY,
    )
    assert result.to_hub == {"phone": "+8613900139000"}


def test_per_field_override_beats_the_default() -> None:
    policy = ConflictPolicy(Policy.REMOTE, {"power": Policy.HUB})
    result = merge(
        {"power": "low", "title": "CTO"},
        {"power": "high", "title": "CEO"},
        {"power": "medium", "title": "COO"},
        fields=["power", "title"],
        policy=policy,
    )
    assert result.to_remote == {"power": "high"}
    assert result.to_hub == {"title": "COO"}


def test_first_sync_without_base_settles_differences_by_policy() -> None:
    result = run(
        None,
        {"email": "a@x.cn", "phone": None},
        {"email": "a@x.cn", "phone": "+8613800138000"},
        Policy.PREFER_NON_EMPTY,
    )
    assert result.to_hub == {"phone": "+8613800138000"}
    assert result.conflicts[0].base is MISSING


def test_one_way_fields_follow_their_source() -> None:
    result = merge(
        {"notes": "a", "owner": "x"},
        {"notes": "hub edit", "owner": "y"},
        {"notes": "remote edit", "owner": "x"},
        fields=["notes", "owner"],
        policy=ConflictPolicy(Policy.MANUAL),
        pull_only=frozenset({"notes"}),
        push_only=frozenset({"owner"}),
    )
    assert result.to_hub == {"notes": "remote edit"}
    assert result.to_remote == {"owner": "y"}
    assert not result.conflicts
