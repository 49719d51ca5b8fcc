"""Group commit for the webhook inbox: one writer, one transaction for every request waiting.

A request whose event is verified hands it to :class:`InboxWriter` and
awaits its own future. One writer task takes everything queued so far and
stores it with one call in one dedicated thread: one transaction, one
commit (with the store's normal durability) for the whole group. Only then
are the group's futures settled, so a 202 still means the event is
committed. While a group is being written the next one queues up, so the
group grows with the load and costs no wait when idle. If the write fails,
every request of the group gets the same error and nothing of it is stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from crmbridge.store import NewWebhook

__all__ = ["MAX_GROUP", "InboxWriter"]

#: The most events one transaction stores; more wait for the next one.
MAX_GROUP = 500

Write = Callable[[Sequence[NewWebhook]], list[bool]]


class InboxWriter:
    """Store webhooks through ``write`` in groups (see the module docstring).

    ``write`` is :meth:`crmbridge.store.Store.add_webhooks` or the like: it
    stores a group in one transaction and says, for each event, whether it
    was new. It runs in one thread of its own, never on the event loop.
    """

    def __init__(self, write: Write, *, max_group: int = MAX_GROUP) -> None:
        self._write = write
        self._max_group = max_group
        self._queue: list[tuple[NewWebhook, asyncio.Future[bool]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._thread: ThreadPoolExecutor | None = None

    @property
    def queued(self) -> int:
        """How many events wait for the next group (the one being written is not counted)."""
        return len(self._queue)

    async def add(self, event: NewWebhook) -> bool:
        """Store ``event`` with the next group; True if new, False if its id was already stored.

        Raises what ``write`` raised (e.g. :class:`~crmbridge.errors.StoreError`) if its group failed.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._queue.append((event, future))
        if self._writer is None or self._writer.done():
            self._writer = loop.create_task(self._drain(), name="crmbridge-inbox-writer")
        # a request cancelled meanwhile (the client hung up) only cancels its own future:
        # the group is written all the same
        return await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="crmbridge-inbox")
        while self._queue:
            group = self._queue[: self._max_group]
            del self._queue[: self._max_group]
            events = [event for event, _ in group]
            try:
                stored = await loop.run_in_executor(self._thread, self._write, events)
            except Exception as exc:
                for _, future in group:
                    if not future.done():
                        future.set_exception(exc)
                continue
            except asyncio.CancelledError:
                for _, future in [*group, *self._queue]:
                    future.cancel()
                self._queue.clear()
                raise
            for (_, future), new in zip(group, stored, strict=True):
                if not future.done():
                    future.set_result(new)

    async def aclose(self) -> None:
        """Let the queued events be written, then stop the writer thread."""
        if self._writer is not None:
            await asyncio.shield(self._writer)
        if self._thread is not None:
            self._thread.shutdown(wait=True)
            self._thread = None
