"""Links, shadows and cursors."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from crmbridge.errors import StoreError
from crmbridge.store import LinkWrite, RecordWrite, Store, open_store, upgrade


def make_records(store: Store, count: int) -> list[str]:
    writes = [RecordWrite({"n": i}, f"h{i}") for i in range(count)]
    return [r.id for r in store.upsert_records("stakeholders", writes)]


def test_links_are_found_by_external_id_and_by_record_id(store: Store) -> None:
    a, b = make_records(store, 2)
    modified = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    store.upsert_links(
        "zoho",
        "stakeholders",
        [LinkWrite(a, "Z-A", {"n": 0}, "h0", modified, 1), LinkWrite(b, "Z-B")],
    )
    by_external = store.get_links_by_external_ids("zoho", "stakeholders", ["Z-A", "Z-X"])
    assert list(by_external) == ["Z-A"]
    link = by_external["Z-A"]
    assert (link.record_id, link.shadow, link.shadow_hash) == (a, {"n": 0}, "h0")
    assert link.remote_modified_at == modified
    by_record = store.get_links_by_record_ids("zoho", "stakeholders", [a, b])
    assert by_record[b].external_id == "Z-B"
    assert store.get_links_by_record_ids("csv", "stakeholders", [a, b]) == {}


def test_has_unlinked_sees_live_records_without_a_link_to_the_connector(store: Store) -> None:
    a, b = make_records(store, 2)
    store.upsert_links("zoho", "stakeholders", [LinkWrite(a, "Z-A")])
    assert store.has_unlinked("zoho", "stakeholders")
    store.tombstone_records("stakeholders", [b])
    assert not store.has_unlinked("zoho", "stakeholders")  # a deleted record waits for nobody
    assert store.has_unlinked("csv", "stakeholders")
    assert not store.has_unlinked("zoho", "organizations")


def test_relinking_replaces_the_shadow_and_never_moves_last_seen_back(store: Store) -> None:
    (a,) = make_records(store, 1)
    store.upsert_links("zoho", "stakeholders", [LinkWrite(a, "Z-A", {"v": 1}, "h1", None, 9)])
    store.add_link_failures("zoho", "stakeholders", [a])
    store.upsert_links("zoho", "stakeholders", [LinkWrite(a, "Z-A2", {"v": 2}, "h2", None, 3)])
    link = store.get_links_by_record_ids("zoho", "stakeholders", [a])[a]
    assert (link.external_id, link.shadow, link.last_seen_seq, link.failures) == (
        "Z-A2",
        {"v": 2},
        9,
        0,
    )
    store.mark_links_seen("zoho", "stakeholders", {a: 5})
    assert store.get_links_by_record_ids("zoho", "stakeholders", [a])[a].last_seen_seq == 9
    store.mark_links_seen("zoho", "stakeholders", {a: 12})
    assert store.get_links_by_record_ids("zoho", "stakeholders", [a])[a].last_seen_seq == 12


def test_update_shadow_and_failures(store: Store) -> None:
    (a,) = make_records(store, 1)
    assert not store.update_shadow("zoho", "stakeholders", a, {"x": 1}, "hx")
    store.upsert_links("zoho", "stakeholders", [LinkWrite(a, "Z-A")])
    assert store.update_shadow("zoho", "stakeholders", a, {"名字": "李四"}, "hx")
    store.add_link_failures("zoho", "stakeholders", [a])
    store.add_link_failures("zoho", "stakeholders", [a])
    link = store.get_links_by_record_ids("zoho", "stakeholders", [a])[a]
    assert (link.shadow, link.shadow_hash, link.failures) == ({"名字": "李四"}, "hx", 2)


def test_an_external_id_belongs_to_one_record_per_connector(store: Store) -> None:
    a, b = make_records(store, 2)
    store.upsert_links("zoho", "stakeholders", [LinkWrite(a, "Z-1")])
    store.upsert_links("csv", "stakeholders", [LinkWrite(b, "Z-1")])
    with pytest.raises(StoreError, match="refused a write"):
        store.upsert_links("zoho", "stakeholders", [LinkWrite(b, "Z-1")])


def test_delete_links(store: Store) -> None:
    a, b = make_records(store, 2)
    store.upsert_links("zoho", "stakeholders", [LinkWrite(a, "Z-A"), LinkWrite(b, "Z-B")])
    assert store.delete_links("zoho", "stakeholders", [a, "nope"]) == 1
    assert list(store.get_links_by_record_ids("zoho", "stakeholders", [a, b])) == [b]


def test_linked_pages_walk_every_link_of_one_connector_once(store: Store) -> None:
    ids = make_records(store, 5)
    store.upsert_links("zoho", "stakeholders", [LinkWrite(i, f"Z{n}") for n, i in enumerate(ids)])
    store.upsert_links("csv", "stakeholders", [LinkWrite(ids[0], "C0")])
    seen: list[tuple[str, str]] = []
    after = None
    while page := store.linked_page("zoho", "stakeholders", after=after, limit=2):
        assert len(page) <= 2
        seen += page
        after = page[-1][0]
    assert seen == [(f"Z{n}", i) for n, i in enumerate(ids)]
    assert store.linked_page("zoho", "organizations", after=None, limit=2) == []


def test_many_links_in_one_call(store: Store) -> None:
    ids = make_records(store, 1200)
    store.upsert_links("zoho", "stakeholders", [LinkWrite(i, f"Z{n}") for n, i in enumerate(ids)])
    found = store.get_links_by_external_ids("zoho", "stakeholders", [f"Z{n}" for n in range(1200)])
    assert len(found) == 1200


@pytest.mark.parametrize(
    "value",
    [{"modified_since": "2025-01-01T00:00:00Z", "page": 3}, "opaque-token", 42, ["a", "中文"]],
)
def test_cursors_hold_any_json_value(store: Store, value: object) -> None:
    assert store.get_cursor("nightly", "zoho", "stakeholders") is None
    store.set_cursor("nightly", "zoho", "stakeholders", {"old": True})
    store.set_cursor("nightly", "zoho", "stakeholders", value)
    assert store.get_cursor("nightly", "zoho", "stakeholders") == value
    assert store.get_cursor("nightly", "zoho", "organizations") is None


def test_units_touching_a_link_and_the_state_in_opposite_orders_do_not_deadlock(
    store: Store, side_by_side: Callable[..., list[BaseException]]
) -> None:
    """A push's unit writes a link and then the job's state; a person's resolution the
    state and then that link. The second to start waits for the first; neither fails."""
    (a,) = make_records(store, 1)
    store.upsert_links("zoho", "stakeholders", [LinkWrite(a, "Z-A", {"v": 1}, "h1")])

    def push_unit(rendezvous: Callable[[], None]) -> None:
        with store.transaction() as tx:
            tx.upsert_links("zoho", "stakeholders", [LinkWrite(a, "Z-A", {"v": 2}, "h2")])
            rendezvous()
            state = tx.get_cursor("sync", "zoho", "stakeholders", lock=True) or {}
            tx.set_cursor("sync", "zoho", "stakeholders", {**state, "push_seq": 7})

    def resolution(rendezvous: Callable[[], None]) -> None:
        with store.transaction() as tx:
            state = tx.get_cursor("sync", "zoho", "stakeholders", lock=True) or {}
            tx.set_cursor("sync", "zoho", "stakeholders", {**state, "resend": [a]})
            rendezvous()
            tx.update_shadow("zoho", "stakeholders", a, {"v": 3}, "h3")

    assert side_by_side(push_unit, resolution) == []
    assert store.get_cursor("sync", "zoho", "stakeholders") == {"push_seq": 7, "resend": [a]}


@pytest.mark.postgres
def test_a_unit_that_does_not_queue_holds_no_writer_up_while_it_only_reads(
    postgres_url: str,
) -> None:
    """A dry run reads remotes inside one long unit: until it writes, others write freely."""
    upgrade(postgres_url)
    store = open_store(postgres_url)
    try:
        with store.transaction(queue=False) as tx:
            assert tx.get_cursor("sync", "zoho", "stakeholders") is None
            writer = threading.Thread(target=make_records, args=(store, 1))
            writer.start()
            writer.join(10)
            assert not writer.is_alive()
        assert len(store.changes_since(None, 0)) == 1
    finally:
        store.close()
