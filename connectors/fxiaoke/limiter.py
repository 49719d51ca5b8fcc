"""A client-side ceiling of calls per endpoint in a sliding window (Fxiaoke: 100 per 20 s).

Fxiaoke counts calls per interface and answers a call over the limit with an
error code instead of doing the work, so the connector keeps under the limit
itself: each endpoint keeps the send times of its last ``calls`` calls, and a
call that would be one too many in ``window_s`` waits until the oldest one
leaves the window. Waiters of one endpoint queue on a lock, in order.

The send times may live in a ``store`` shared by several limiters (the runs
of one process, each on its own thread and event loop), so two runs at once
share one budget; ``lock`` (a :class:`threading.Lock`) then guards it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable

__all__ = ["WindowLimiter"]


class WindowLimiter:
    """At most ``calls`` acquisitions per key in any ``window_s`` seconds.

    ``clock`` and ``sleep`` are injectable so tests run without waiting;
    ``waited_s`` adds up the time callers spent waiting. ``store`` and
    ``lock`` share the send times with other limiters (default: this one's own).
    """

    def __init__(
        self,
        calls: int,
        window_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        store: dict[str, deque[float]] | None = None,
        lock: threading.Lock | None = None,
    ) -> None:
        self.calls = calls
        self.window_s = window_s
        self.clock = clock
        self.sleep = sleep
        self.waited_s = 0.0
        self._sent: dict[str, deque[float]] = {} if store is None else store
        self._shared = lock or threading.Lock()
        self._locks: dict[str, asyncio.Lock] = {}

    async def acquire(self, key: str) -> None:
        """Wait until one more call to ``key`` keeps within the limit, and count it (call it just before sending)."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            while True:
                wait = self._take(key)
                if wait is None:
                    return
                self.waited_s += wait
                await self.sleep(wait)

    def _take(self, key: str) -> float | None:
        """Count a call now if it fits (``None``), else how long until it would."""
        with self._shared:
            sent = self._sent.setdefault(key, deque())
            now = self.clock()
            while sent and now - sent[0] >= self.window_s:
                sent.popleft()
            if len(sent) < self.calls:
                sent.append(now)
                return None
            return sent[0] + self.window_s - now
