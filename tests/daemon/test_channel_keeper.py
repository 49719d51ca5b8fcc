"""The daemon renews connectors' push channels before they expire (on a fake clock)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from crmbridge.channels import ChannelKeeper

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
LIFETIME = timedelta(days=7)
MARGIN = timedelta(days=1)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Remote:
    """A remote whose one channel lapses at ``expiry`` unless renewed."""

    def __init__(self) -> None:
        self.expiry = START + timedelta(hours=5)
        self.renewed_at: list[datetime] = []
        self.lapsed: list[datetime] = []


class Watching:
    """A connector that keeps one channel: renews it within MARGIN of expiry."""

    def __init__(self, remote: Remote, fail: list[bool]) -> None:
        self.remote = remote
        self.fail = fail
        self.opened = 0

    async def open(self) -> None:
        self.opened += 1

    async def close(self) -> None:
        self.opened -= 1

    async def renew_channels(self, now: datetime) -> datetime | None:
        remote = self.remote
        if now >= remote.expiry:
            remote.lapsed.append(now)
        if self.fail and self.fail.pop(0):
            raise ConnectionError("remote down")
        if remote.expiry - now <= MARGIN:
            remote.expiry = now + LIFETIME
            remote.renewed_at.append(now)
        return remote.expiry - MARGIN


class Plain:
    """A connector without channels."""

    async def open(self) -> None:
        raise AssertionError("a connector without channels is never opened")

    async def close(self) -> None:
        return None


def keeper(remote: Remote, clock: Clock, fail: list[bool] | None = None) -> ChannelKeeper:
    built: dict[str, Any] = {"crm": lambda: Watching(remote, fail or []), "files": Plain}
    return ChannelKeeper(
        lambda name: built[name](),
        ["crm", "files"],
        now=clock,
        sleep=clock.sleep,
        retry_s=600,
    )


def test_channels_are_renewed_before_they_expire_for_weeks() -> None:
    clock, remote = Clock(), Remote()
    days = 30

    asyncio.run(keeper(remote, clock).run(lambda: clock.now > START + timedelta(days=days)))

    assert remote.lapsed == []
    assert remote.renewed_at[0] == START  # within the margin at start: renewed at once
    assert len(remote.renewed_at) >= days // 6
    assert remote.expiry > clock.now


def test_a_failed_renewal_is_tried_again_before_the_channel_lapses() -> None:
    clock, remote = Clock(), Remote()
    fail = [True, True, False]  # the first two attempts find the remote down

    asyncio.run(keeper(remote, clock, fail).run(lambda: clock.now > START + timedelta(days=2)))

    assert remote.lapsed == []
    assert remote.renewed_at[0] == START + timedelta(minutes=20)


def test_connectors_without_channels_are_left_alone() -> None:
    clock = Clock()
    keep = ChannelKeeper(lambda name: Plain(), ["files"], now=clock, sleep=clock.sleep)  # type: ignore[arg-type,return-value]
    asyncio.run(keep.run(lambda: False))  # returns: nothing to keep
    assert keep.due == {}
