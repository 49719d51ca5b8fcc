"""How a run shares each page's mapping with its worker, so neither waits for the other.

With a mapping worker (``runs.map_workers: 1``) a pull is a two-stage
pipeline: the worker maps page N + 1 while the run's own process writes page
N. When one stage is slower, the other waits for it every page. How much
slower depends on the machine, the connector (reading a CSV file costs the
run more than reading a Zoho page) and the mapping, so the split is not fixed:
:class:`Balance` watches every page (how long the run waited for the worker,
how long the worker waited for the next page) and moves records of the pages
to come to whichever side waited, the run mapping its share itself.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MAX_SHARE", "Balance"]

MAX_SHARE = 0.5
"""At most this part of a page is mapped in the run: the worker stays the main mapper."""

# the next pages are on their way already: a small correction per page, or it overshoots
_GAIN = 0.2


@dataclass
class Balance:
    """The part of each page the run maps itself (``share``), steered page by page."""

    share: float = 0.0

    def kept(self, count: int) -> int:
        """How many of a page of ``count`` records the run maps itself (the page's last ones)."""
        return min(int(count * self.share), count // 2)

    def observe(self, *, waited: float, idle: float, busy: float, sent: int, count: int) -> None:
        """Steer by one page: ``count`` records, ``sent`` of them mapped by the worker.

        ``waited``: seconds the run waited for the worker's answer; ``idle``:
        seconds the worker waited for the next page after answering; ``busy``:
        seconds the worker spent on the page. A record moved from one side to
        the other shortens one and lengthens the other by about what the worker
        spends on one, so half the difference, in records, moves over.
        """
        if sent <= 0 or count <= 0 or busy <= 0:
            return
        per_record = busy / sent
        moved = (waited - idle) / (2 * per_record)
        self.share = min(MAX_SHARE, max(0.0, self.share + _GAIN * moved / count))
