"""Record ids: UUID version 7, unique, and later batches sort after earlier ones."""

from __future__ import annotations

import time
import uuid

from crmbridge.store._records import new_record_id, new_record_ids


def test_ids_are_rfc_9562_version_7_uuids_and_unique() -> None:
    ids = [*new_record_ids(5000), new_record_id()]
    assert len(set(ids)) == len(ids)
    for text in ids:
        value = uuid.UUID(text)
        assert str(value) == text
        assert value.version == 7
        assert value.variant == uuid.RFC_4122


def test_a_later_batch_sorts_after_an_earlier_one() -> None:
    first = new_record_ids(100)
    time.sleep(0.002)  # the timestamp has millisecond steps
    second = new_record_ids(100)
    assert max(first) < min(second)
    stamp = int(uuid.UUID(second[0]).hex[:12], 16)
    assert abs(stamp - time.time_ns() // 1_000_000) < 60_000
