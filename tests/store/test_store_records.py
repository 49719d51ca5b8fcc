"""Canonical records, the change feed and the unit of work."""

from __future__ import annotations

import threading
import time
from datetime import UTC
from types import MappingProxyType
from typing import TYPE_CHECKING

import orjson
import pytest

from crmbridge.encoded import Encoded
from crmbridge.errors import StoreError
from crmbridge.store import LinkWrite, RecordWrite, Store

if TYPE_CHECKING:
    from crmbridge.testing import FakeClock

CJK = {
    "name": "王小明",
    "organization": {
        "name": "北京某某科技有限公司",
        "address": {"city": "北京", "lines": ["朝阳区"]},
    },
    "expectations": ["按时交付", "每周沟通"],
    "power": 4,
    "emoji": "👍",
}


def write(name: str, record_id: str | None = None) -> RecordWrite:
    return RecordWrite(data={"name": name}, content_hash=f"h-{name}", id=record_id)


def test_new_records_get_version_1_and_increasing_seqs(store: Store) -> None:
    results = store.upsert_records("stakeholders", [write("a"), write("b"), write("c")])
    assert [r.version for r in results] == [1, 1, 1]
    assert all(r.created and r.changed for r in results)
    assert [r.seq for r in results] == [1, 2, 3]
    assert store.count_records("stakeholders") == 3
    assert store.max_seq() == 3


def test_an_update_bumps_the_version_and_an_unchanged_write_does_nothing(store: Store) -> None:
    (first,) = store.upsert_records("stakeholders", [write("a")])
    (updated,) = store.upsert_records("stakeholders", [write("a2", first.id)])
    (same,) = store.upsert_records("stakeholders", [write("a2", first.id)])
    assert (updated.version, updated.created, updated.changed) == (2, False, True)
    assert (same.version, same.seq, same.changed) == (2, updated.seq, False)
    record = store.get_record("stakeholders", first.id)
    assert record is not None
    assert record.data == {"name": "a2"}
    assert record.seq == updated.seq
    assert [c.version for c in store.changes_since("stakeholders", 0)] == [1, 2]


def test_results_keep_the_order_of_the_writes(store: Store) -> None:
    (old,) = store.upsert_records("stakeholders", [write("old")])
    results = store.upsert_records(
        "stakeholders", [write("new1"), write("old", old.id), write("new2")]
    )
    assert [r.changed for r in results] == [True, False, True]
    assert results[1].id == old.id


def test_tombstones_keep_the_data_and_can_be_revived(store: Store, clock: FakeClock) -> None:
    (created,) = store.upsert_records("stakeholders", [write("a")])
    clock.advance(60)
    (gone,) = store.tombstone_records("stakeholders", [created.id])
    assert (gone.version, gone.changed) == (2, True)
    assert store.tombstone_records("stakeholders", [created.id, "unknown"])[0].changed is False
    assert store.count_records("stakeholders") == 0
    assert store.count_records("stakeholders", include_deleted=True) == 1
    record = store.get_record("stakeholders", created.id)
    assert record is not None
    assert record.deleted
    assert record.data == {"name": "a"}
    assert record.updated_at == clock()

    (back,) = store.upsert_records("stakeholders", [write("a", created.id)])
    assert (back.version, back.changed) == (3, True)
    assert [c.op for c in store.changes_since(None, 0)] == ["upsert", "delete", "upsert"]


def test_change_feed_seqs_strictly_increase_across_transactions(store: Store) -> None:
    for batch in range(5):
        with store.transaction() as tx:
            tx.upsert_records("stakeholders", [write(f"s{batch}")])
            tx.upsert_records("organizations", [write(f"o{batch}a"), write(f"o{batch}b")])
    seqs = [c.seq for c in store.changes_since(None, 0)]
    assert seqs == sorted(set(seqs))
    assert len(seqs) == 15
    orgs = store.changes_since("organizations", 0, limit=4)
    assert [c.entity for c in orgs] == ["organizations"] * 4
    later = store.changes_since("organizations", orgs[-1].seq)
    assert len(later) == 6
    assert later[0].seq > orgs[-1].seq


def test_a_second_writer_waits_for_the_first_so_seq_order_is_commit_order(
    store: Store,
) -> None:
    first_has_written = threading.Event()
    committed: list[str] = []

    def slow_writer() -> None:
        with store.transaction() as tx:
            tx.upsert_records("stakeholders", [write("slow")])
            first_has_written.set()
            time.sleep(0.3)
            # noted as the commit starts: after it, the other writer may finish first
            committed.append("slow")

    thread = threading.Thread(target=slow_writer)
    thread.start()
    assert first_has_written.wait(5)
    with store.transaction() as tx:
        (fast,) = tx.upsert_records("stakeholders", [write("fast")])
    committed.append("fast")
    thread.join()

    assert committed == ["slow", "fast"]
    feed = store.changes_since("stakeholders", 0)
    slow = store.get_record("stakeholders", feed[0].record_id)
    assert slow is not None
    assert slow.data == {"name": "slow"}
    assert fast.seq == feed[1].seq > feed[0].seq


def test_concurrent_writers_never_share_a_seq(store: Store) -> None:
    def writer(n: int) -> None:
        for i in range(10):
            store.upsert_records("stakeholders", [write(f"{n}-{i}-a"), write(f"{n}-{i}-b")])

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seqs = [c.seq for c in store.changes_since(None, 0, limit=1000)]
    assert seqs == list(range(1, 81))


def test_a_transaction_that_raises_leaves_nothing_behind(store: Store) -> None:
    with store.transaction() as tx:
        (kept,) = tx.upsert_records("stakeholders", [write("kept")])
        tx.set_cursor("job", "zoho", "stakeholders", {"since": "t0"})

    new_ids: list[str] = []

    def sync_that_fails_half_way() -> None:
        with store.transaction() as tx:
            new, _ = tx.upsert_records("stakeholders", [write("new"), write("kept2", kept.id)])
            new_ids.append(new.id)
            tx.upsert_links("zoho", "stakeholders", [LinkWrite(new.id, "Z1", {"n": "new"}, "h")])
            tx.set_cursor("job", "zoho", "stakeholders", {"since": "t1"})
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        sync_that_fails_half_way()

    assert store.count_records("stakeholders") == 1
    record = store.get_record("stakeholders", kept.id)
    assert record is not None
    assert record.version == 1
    assert store.get_links_by_record_ids("zoho", "stakeholders", new_ids) == {}
    assert store.get_cursor("job", "zoho", "stakeholders") == {"since": "t0"}
    assert store.max_seq() == kept.seq


def test_a_store_error_inside_a_transaction_rolls_it_back(store: Store) -> None:
    a, b = store.upsert_records("stakeholders", [write("a"), write("b")])
    store.upsert_links("zoho", "stakeholders", [LinkWrite(a.id, "Z1")])

    def link_b_to_a_taken_id() -> None:
        with store.transaction() as tx:
            tx.set_cursor("job", "zoho", "stakeholders", 5)
            tx.upsert_links("zoho", "stakeholders", [LinkWrite(b.id, "Z1")])

    with pytest.raises(StoreError, match="refused"):
        link_b_to_a_taken_id()
    assert store.get_cursor("job", "zoho", "stakeholders") is None


def test_cjk_and_nested_json_round_trip(store: Store) -> None:
    (result,) = store.upsert_records("stakeholders", [RecordWrite(CJK, "hash")])
    record = store.get_record("stakeholders", result.id)
    assert record is not None
    assert record.data == CJK
    store.upsert_links("zoho", "stakeholders", [LinkWrite(result.id, "外部-1", CJK, "hash")])
    link = store.get_links_by_external_ids("zoho", "stakeholders", ["外部-1"])["外部-1"]
    assert link.shadow == CJK


def test_datetimes_come_back_aware_in_utc(store: Store, clock: FakeClock) -> None:
    (result,) = store.upsert_records("stakeholders", [write("a")])
    record = store.get_record("stakeholders", result.id)
    assert record is not None
    assert record.created_at.tzinfo is not None
    assert record.created_at.utcoffset() is not None
    assert record.created_at == clock()
    assert record.created_at.tzinfo == UTC
    assert store.changes_since(None, 0)[0].at == clock()


def test_iterating_reads_every_live_record_in_pages(store: Store) -> None:
    results = store.upsert_records("stakeholders", [write(str(i)) for i in range(25)])
    store.upsert_records("organizations", [write("other")])
    store.tombstone_records("stakeholders", [results[0].id])
    seen = list(store.iter_records("stakeholders", batch_size=7))
    assert len(seen) == 24
    assert sorted(r.id for r in seen) == sorted(r.id for r in results[1:])
    assert len(list(store.iter_records("stakeholders", include_deleted=True, batch_size=5))) == 25


def test_get_records_ignores_other_entities_and_unknown_ids(store: Store) -> None:
    (org,) = store.upsert_records("organizations", [write("o")])
    (person,) = store.upsert_records("stakeholders", [write("p")])
    found = store.get_records("stakeholders", [person.id, org.id, "nope"])
    assert list(found) == [person.id]


def test_lookups_find_exactly_the_ids_asked_for(store: Store) -> None:
    """A longer id that is not stored finds nothing, though the stored one is its prefix."""
    stored = "R" * 64
    store.upsert_records("stakeholders", [write("a", stored)])
    store.insert_links("zoho", "stakeholders", [LinkWrite(stored, "E" * 255)])
    assert store.get_records("stakeholders", ["R" * 65]) == {}
    assert list(store.get_records("stakeholders", [stored, "R" * 65])) == [stored]
    assert store.get_links_by_external_ids("zoho", "stakeholders", ["E" * 256]) == {}
    assert list(store.get_links_by_external_ids("zoho", "stakeholders", ["E" * 255])) == ["E" * 255]


def test_lookups_work_on_a_sqlite_without_json(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before 3.38 SQLite's JSON functions were optional: the lookups fall back to IN."""
    from crmbridge.store import _base

    monkeypatch.setattr(_base, "_sqlite_has_json", lambda: False)
    first, second = store.upsert_records("stakeholders", [write("a"), write("b")])
    found = store.get_records("stakeholders", [second.id, "nope", first.id])
    assert sorted(found) == sorted([first.id, second.id])


def test_content_may_be_any_mapping(store: Store) -> None:
    (made,) = store.upsert_records(
        "stakeholders", [RecordWrite(MappingProxyType({"name": "李"}), "h-li")]
    )
    record = store.get_record("stakeholders", made.id)
    assert record is not None
    assert record.data == {"name": "李"}


def test_a_batch_naming_one_record_twice_is_refused(store: Store) -> None:
    (a,) = store.upsert_records("stakeholders", [write("a")])
    with pytest.raises(ValueError, match="twice"):
        store.upsert_records("stakeholders", [write("x", a.id), write("y", a.id)])


def test_a_record_cannot_change_entity(store: Store) -> None:
    (a,) = store.upsert_records("stakeholders", [write("a")])
    with pytest.raises(ValueError, match="not organizations"):
        store.upsert_records("organizations", [write("a", a.id)])


def test_generated_ids_are_uuids_that_sort_by_creation(store: Store) -> None:
    first = store.upsert_records("stakeholders", [write("a")])[0].id
    time.sleep(0.002)
    second = store.upsert_records("stakeholders", [write("b")])[0].id
    assert len(first) == 36
    assert first < second


def test_unpushed_records_are_those_the_connector_has_not_seen(store: Store) -> None:
    a, b, c = store.upsert_records("stakeholders", [write("a"), write("b"), write("c")])
    store.upsert_links(
        "zoho",
        "stakeholders",
        [LinkWrite(a.id, "Z-A", last_seen_seq=a.seq), LinkWrite(b.id, "Z-B", last_seen_seq=0)],
    )
    pending = store.unpushed_records("zoho", "stakeholders")
    assert [(r.id, link.external_id if link else None) for r, link in pending] == [
        (b.id, "Z-B"),
        (c.id, None),
    ]
    (a2,) = store.upsert_records("stakeholders", [write("a2", a.id)])
    assert [r.id for r, _ in store.unpushed_records("zoho", "stakeholders", after_seq=c.seq)] == [
        a.id
    ]
    store.mark_links_seen("zoho", "stakeholders", {a.id: a2.seq})
    assert store.unpushed_records("zoho", "stakeholders", after_seq=c.seq) == []


def test_identity_index_follows_record_content(store: Store) -> None:
    from crmbridge.model import content_hash

    def write(data: dict[str, object], record_id: str | None = None) -> str:
        (result,) = store.upsert_records(
            "stakeholders", [RecordWrite(data, content_hash(data), record_id)]
        )
        return result.id

    first = write({"full_name": "李娜", "email": "Li.Na@Example.cn", "mobile": "+8613800138000"})
    found = store.find_by_identity("stakeholders", [("email", "li.na@example.cn")])
    assert found == {("email", "li.na@example.cn"): {first}}
    write({"full_name": "李娜", "email": "na.li@example.cn"}, first)
    assert store.find_by_identity("stakeholders", [("email", "li.na@example.cn")]) == {}
    assert store.find_by_identity("stakeholders", [("phone", "+8613800138000")]) == {}
    assert store.find_by_identity("stakeholders", [("email", "na.li@example.cn")])
    store.tombstone_records("stakeholders", [first])
    assert store.find_by_identity("stakeholders", [("email", "na.li@example.cn")]) == {}


def test_touch_gives_a_new_seq_without_changing_content(store: Store) -> None:
    from crmbridge.model import content_hash

    data = {"name": "华为"}
    (made,) = store.upsert_records("organizations", [RecordWrite(data, content_hash(data))])
    (touched,) = store.touch_records("organizations", [made.id])
    assert touched.seq > made.seq
    assert touched.version == made.version + 1
    record = store.get_record("organizations", made.id)
    assert record is not None
    assert record.data == data
    assert [c.record_id for c in store.changes_since("organizations", made.seq)] == [made.id]


def test_content_and_a_shadow_given_encoded_are_stored_as_the_json_they_are(store: Store) -> None:
    raw = orjson.dumps(CJK)
    (done,) = store.upsert_records("stakeholders", [RecordWrite(Encoded(raw), "h-cjk")])
    shadow = Encoded(orjson.dumps({"Full Name": "王小明", "Tags": ["vip"]}))
    store.insert_links("zoho", "stakeholders", [LinkWrite(done.id, "Z1", shadow, "h-z1")])
    record = store.get_record("stakeholders", done.id)
    assert record is not None
    assert record.data == CJK
    link = store.get_links_by_record_ids("zoho", "stakeholders", [done.id])[done.id]
    assert link.shadow == {"Full Name": "王小明", "Tags": ["vip"]}
    assert shadow == {"Full Name": "王小明", "Tags": ["vip"]}  # and it reads as what it holds
