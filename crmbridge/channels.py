"""Renewing connectors' push channels for ``crmbridge run``, before they expire.

Some remotes push changes only through channels that lapse (Zoho CRM's
notification channels live a week at most). A connector that keeps such
channels implements :class:`~crmbridge.connector.KeepsChannels`; the
:class:`ChannelKeeper` calls it at start and then whenever the last call said
to, with a fresh instance each time. A failed renewal is logged and tried
again after ``retry_s``; a connector with nothing to keep is asked again after
``idle_s`` (a channel opened while the daemon runs is picked up then). The
clock and the sleep are passed in, so tests run on a fake clock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from crmbridge.connector import Connector, KeepsChannels

__all__ = ["ChannelKeeper"]

log = logging.getLogger("crmbridge.channels")


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ChannelKeeper:
    """Calls ``renew_channels`` of every connector that keeps channels, on time.

    ``build`` makes a new connector instance by name; ``names`` are the
    configured connectors (those that do not keep channels are dropped on the
    first tick). ``due`` says when each is next called.
    """

    def __init__(
        self,
        build: Callable[[str], Connector],
        names: Sequence[str],
        *,
        now: Callable[[], datetime] = _utc_now,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        retry_s: float = 300.0,
        idle_s: float = 6 * 3600.0,
        max_sleep_s: float = 3600.0,
    ) -> None:
        self.build = build
        self.now = now
        self.sleep = sleep
        self.retry = timedelta(seconds=retry_s)
        self.idle = timedelta(seconds=idle_s)
        self.max_sleep_s = max_sleep_s
        start = now()
        self.due: dict[str, datetime] = dict.fromkeys(names, start)

    async def tick(self) -> None:
        """Call every connector whose time has come, and set when each is due next."""
        for name, when in list(self.due.items()):
            now = self.now()
            if when > now:
                continue
            try:
                connector = self.build(name)
            except Exception:
                log.exception("channels of %s: the connector cannot be built", name)
                self.due[name] = now + self.retry
                continue
            if not isinstance(connector, KeepsChannels):
                del self.due[name]
                continue
            try:
                await connector.open()
                try:
                    upcoming = await connector.renew_channels(now)
                finally:
                    await connector.close()
            except Exception as exc:
                log.warning("channels of %s not renewed (%s); trying again soon", name, exc)
                self.due[name] = now + self.retry
                continue
            self.due[name] = upcoming if upcoming is not None else now + self.idle
            log.info("channels of %s: next renewal check at %s", name, self.due[name])

    async def run(self, stopping: Callable[[], bool]) -> None:
        """Tick until ``stopping()``; sleeps until the next due time (at most ``max_sleep_s``)."""
        while not stopping():
            await self.tick()
            if not self.due:
                return
            wait = (min(self.due.values()) - self.now()).total_seconds()
            await self.sleep(min(max(wait, 1.0), self.max_sleep_s))
