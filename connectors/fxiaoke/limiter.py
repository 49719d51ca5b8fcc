"""A client-side ceiling of calls per endpoint in a sliding window (Fxiaoke: 100 per 20 s).

Fxiaoke counts calls per interface and answers a call over the limit with an
error code instead of doing the work, so the connector keeps under the limit
itself: each endpoint keeps the send times of its last ``calls`` calls, and a
call that would be one too many in ``window_s`` waits until the oldest one
leaves the window. Waiters of one endpoint queue on a lock, in order.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

__all__ = ["WindowLimiter"]


class WindowLimiter:
    """At most ``calls`` acquisitions per key in any ``window_s`` seconds.

    ``clock`` and ``sleep`` are injectable so tests run without waiting;
    ``waited_s`` adds up the time callers spent waiting.
    """

    def __init__(
        self,
        calls: int,
        window_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.calls = calls
        self.window_s = window_s
        self.clock = clock
        self.sleep = sleep
        self.waited_s = 0.0
        self._sent: dict[str, deque[float]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def acquire(self, key: str) -> None:
        """Wait until one more call to ``key`` keeps within the limit, and count it."""
        sent = self._sent.setdefault(key, deque())
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            while True:
                now = self.clock()
                while sent and now - sent[0] >= self.window_s:
                    sent.popleft()
                if len(sent) < self.calls:
                    sent.append(now)
                    return
                wait = sent[0] + self.window_s - now
                self.waited_s += wait
                await self.sleep(wait)
