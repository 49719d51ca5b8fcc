"""Leases between replicas and the webhook inbox."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import TYPE_CHECKING

from crmbridge.store import NewWebhook, Store

if TYPE_CHECKING:
    from crmbridge.testing import FakeClock

TTL = timedelta(seconds=30)


def test_a_lease_is_held_by_one_holder_at_a_time(store: Store) -> None:
    assert store.try_acquire_lease("job:nightly", "replica-a", TTL)
    assert not store.try_acquire_lease("job:nightly", "replica-b", TTL)
    assert store.try_acquire_lease("job:nightly", "replica-a", TTL)
    assert store.try_acquire_lease("job:other", "replica-b", TTL)
    lease = store.get_lease("job:nightly")
    assert lease is not None
    assert lease.holder == "replica-a"


def test_an_expired_lease_is_taken_over(store: Store, clock: FakeClock) -> None:
    assert store.try_acquire_lease("job:nightly", "replica-a", TTL)
    clock.advance(29)
    assert not store.try_acquire_lease("job:nightly", "replica-b", TTL)
    clock.advance(1)
    assert store.try_acquire_lease("job:nightly", "replica-b", TTL)
    assert not store.heartbeat_lease("job:nightly", "replica-a", TTL)
    lease = store.get_lease("job:nightly")
    assert lease is not None
    assert (lease.holder, lease.acquired_at, lease.expires_at) == (
        "replica-b",
        clock(),
        clock() + TTL,
    )


def test_heartbeats_keep_a_lease_alive(store: Store, clock: FakeClock) -> None:
    started = clock()
    assert store.try_acquire_lease("job:nightly", "replica-a", TTL)
    for _ in range(5):
        clock.advance(20)
        assert store.heartbeat_lease("job:nightly", "replica-a", TTL)
        assert not store.try_acquire_lease("job:nightly", "replica-b", TTL)
    assert store.try_acquire_lease("job:nightly", "replica-a", TTL)
    lease = store.get_lease("job:nightly")
    assert lease is not None
    assert lease.acquired_at == started
    assert lease.heartbeat_at == clock()


def test_a_released_lease_is_free(store: Store) -> None:
    assert store.try_acquire_lease("job:nightly", "replica-a", TTL)
    assert not store.release_lease("job:nightly", "replica-b")
    assert store.release_lease("job:nightly", "replica-a")
    assert store.get_lease("job:nightly") is None
    assert store.try_acquire_lease("job:nightly", "replica-b", TTL)


def test_a_duplicate_webhook_is_refused_quietly(store: Store) -> None:
    assert store.add_webhook("zoho", "evt-1", b'{"id": 1}', {"X-Signature": "abc"})
    assert not store.add_webhook("zoho", "evt-1", b'{"id": 1}')
    assert store.add_webhook("csv", "evt-1", "{}")
    (event,) = store.list_pending_webhooks("zoho")
    assert (event.webhook_id, event.body, event.headers) == (
        "evt-1",
        b'{"id": 1}',
        {"X-Signature": "abc"},
    )


def test_webhooks_are_stored_many_in_one_call_each_told_new_or_duplicate(store: Store) -> None:
    assert store.add_webhook("zoho", "evt-1", b"{}")
    events = [
        NewWebhook("zoho", "evt-1", b"{}"),  # stored before
        NewWebhook("zoho", "evt-2", b'{"n": 2}', {"webhook-id": "evt-2"}),
        NewWebhook("csv", "evt-2", b"{}"),  # ids are unique per connector
        NewWebhook("zoho", "evt-2", b'{"n": "again"}'),  # the first of the two wins
        NewWebhook("zoho", "hint-1", b"{}", processed=True),
    ]
    assert store.add_webhooks(events) == [False, True, True, False, True]
    assert store.add_webhooks([]) == []
    pending = {(e.connector, e.webhook_id): e for e in store.list_pending_webhooks()}
    assert set(pending) == {("zoho", "evt-1"), ("zoho", "evt-2"), ("csv", "evt-2")}
    assert pending["zoho", "evt-2"].body == b'{"n": 2}'
    assert pending["zoho", "evt-2"].headers == {"webhook-id": "evt-2"}
    # a hint is kept for dedupe only: stored already processed
    assert store.add_webhooks([NewWebhook("zoho", "hint-1", b"{}", processed=True)]) == [False]


def test_webhooks_are_processed_or_failed(store: Store, clock: FakeClock) -> None:
    store.add_webhook("zoho", "evt-1", "名字".encode())
    store.add_webhook("zoho", "evt-2", b"{}")
    first, second = store.list_pending_webhooks()
    assert first.body.decode() == "名字"
    assert first.received_at == clock()
    store.mark_webhook_processed(first.id)
    store.mark_webhook_processed(second.id, error="mapping failed")
    assert store.list_pending_webhooks() == []


def test_a_lease_being_taken_over_right_now_is_not_given_twice(
    store: Store, clock: FakeClock
) -> None:
    assert store.try_acquire_lease("job:nightly", "replica-a", TTL)
    clock.advance(60)
    results: list[bool] = []
    with store.transaction() as tx:
        assert tx.try_acquire_lease("job:nightly", "replica-b", TTL)
        # On PostgreSQL the row is locked and skipped; on SQLite the call waits for us.
        rival = threading.Thread(
            target=lambda: results.append(store.try_acquire_lease("job:nightly", "c", TTL))
        )
        rival.start()
        rival.join(0.2)
    rival.join()
    assert results == [False]
    assert store.get_lease("job:nightly").holder == "replica-b"  # type: ignore[union-attr]


def test_each_replica_publishes_its_next_runs_and_withdraws_them(
    store: Store, clock: FakeClock
) -> None:
    soon, later = clock() + timedelta(minutes=5), clock() + timedelta(hours=1)
    store.publish_schedules("replica-a", {"nightly": later, "hourly": soon})
    store.publish_schedules("replica-b", {"nightly": soon, "paused": None})
    rows = {(s.job, s.holder): (s.next_run_at, s.seen_at) for s in store.list_schedules()}
    assert rows == {
        ("hourly", "replica-a"): (soon, clock()),
        ("nightly", "replica-a"): (later, clock()),
        ("nightly", "replica-b"): (soon, clock()),
        ("paused", "replica-b"): (None, clock()),
    }

    clock.advance(20)
    store.publish_schedules("replica-a", {"nightly": soon})  # hourly is no longer scheduled here
    assert [(s.job, s.holder, s.next_run_at) for s in store.list_schedules(seen_since=clock())] == [
        ("nightly", "replica-a", soon)
    ]
    assert {s.job for s in store.list_schedules()} == {"nightly", "paused"}

    assert store.withdraw_schedules(holder="replica-a") == 1
    assert store.withdraw_schedules(seen_before=clock()) == 2
    assert store.list_schedules() == []
