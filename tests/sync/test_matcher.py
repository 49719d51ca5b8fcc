"""Matching: a first sync must create no duplicates and never merge blindly."""

from __future__ import annotations

from crmbridge.model import identity_index_keys
from crmbridge.sync.matcher import Candidate, MatchKind, decide_matches, identity_keys

RULES = ["email", "mobile"]


def cand(ext: str, **values: str) -> Candidate:
    return Candidate(ext, identity_keys("stakeholders", RULES, values))


def test_link_wins_over_identity() -> None:
    result = decide_matches(
        [cand("z1", email="a@x.cn")],
        linked={"z1": "h9"},
        index={("email", "a@x.cn"): {"h1"}},
        linked_elsewhere={},
    )
    assert (result["z1"].kind, result["z1"].record_id) == (MatchKind.LINKED, "h9")


def test_email_matches_case_insensitively_then_phone_is_tried() -> None:
    index = {("email", "li.na@example.cn"): {"h1"}, ("phone", "+8613800138000"): {"h2"}}
    result = decide_matches(
        [
            cand("z1", email="Li.Na@Example.CN"),
            cand("z2", email="nobody@x.cn", mobile="+8613800138000"),
        ],
        linked={},
        index=index,
        linked_elsewhere={},
    )
    assert (result["z1"].kind, result["z1"].record_id, result["z1"].rule) == (
        MatchKind.MATCHED,
        "h1",
        "email",
    )
    assert (result["z2"].record_id, result["z2"].rule) == ("h2", "phone")


def test_one_remote_matching_two_hub_records_is_ambiguous() -> None:
    result = decide_matches(
        [cand("z1", email="a@x.cn")],
        linked={},
        index={("email", "a@x.cn"): {"h1", "h2"}},
        linked_elsewhere={},
    )
    assert result["z1"].kind is MatchKind.AMBIGUOUS
    assert result["z1"].candidates == ("h1", "h2")


def test_two_remote_records_matching_one_hub_record_are_both_ambiguous() -> None:
    result = decide_matches(
        [cand("z1", email="a@x.cn"), cand("z2", mobile="+8613800138000")],
        linked={},
        index={("email", "a@x.cn"): {"h1"}, ("phone", "+8613800138000"): {"h1"}},
        linked_elsewhere={},
    )
    assert {m.kind for m in result.values()} == {MatchKind.AMBIGUOUS}


def test_hub_record_linked_to_another_remote_record_is_not_taken() -> None:
    result = decide_matches(
        [cand("z2", email="a@x.cn")],
        linked={},
        index={("email", "a@x.cn"): {"h1"}},
        linked_elsewhere={"h1": "z1"},
    )
    assert result["z2"].kind is MatchKind.AMBIGUOUS
    assert "already linked to remote record z1" in (result["z2"].reason or "")


def test_unmatched_records_are_new_unless_they_share_a_key() -> None:
    result = decide_matches(
        [cand("z1", email="a@x.cn"), cand("z2", email="b@x.cn"), cand("z3", email="B@x.cn")],
        linked={},
        index={},
        linked_elsewhere={},
    )
    assert result["z1"].kind is MatchKind.NEW
    assert result["z2"].kind is result["z3"].kind is MatchKind.AMBIGUOUS


def test_empty_identity_values_are_ignored() -> None:
    assert identity_keys("stakeholders", RULES, {"email": "  ", "mobile": None}) == []


def test_people_behind_one_switchboard_are_told_apart_by_their_extensions() -> None:
    # a wrong merge overwrites a person; a missed one only waits for a person to link it
    stored = identity_index_keys("stakeholders", {"phone": "+861088880000;ext=1"})
    index = {key: {"h1"} for key in stored}
    result = decide_matches(
        [
            cand("z1", email="li@example.cn", mobile="+86 10 8888 0000 ext 2"),
            cand("z2", email="zhao@example.cn", mobile="+86 10 8888 0000 ext 3"),
            cand("z3", email="wang@example.cn", mobile="+86 10 8888 0000 x1"),
        ],
        linked={},
        index=index,
        linked_elsewhere={},
    )
    assert (result["z1"].kind, result["z2"].kind) == (MatchKind.NEW, MatchKind.NEW)
    assert (result["z3"].kind, result["z3"].record_id) == (MatchKind.MATCHED, "h1")
