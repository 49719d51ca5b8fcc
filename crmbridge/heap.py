"""How crmbridge's processes use CPython's cyclic garbage collector.

A sync allocates millions of short-lived dicts and lists (a record's data,
its canonical form, its rows) that die by reference counting; almost none
are cyclic garbage. With the default thresholds (a young collection every
700 net allocations, a full one every 100 young ones) the collector walked
them anyway and cost a 100,000-row import about a fifth of its time.
:func:`tune` makes collections rarer; every crmbridge process (the CLI and
the worker and child processes it spawns) calls it at start.

A long-running service also holds hundreds of thousands of objects from
start-up alone (modules, routes and schemas, tables, compiled mappings); a
full pass walking them stalled the event loop for about 50 ms under load,
and every request in flight waited. :func:`settle`, called once a service
is ready, collects and freezes what exists, so later passes skip it.
"""

from __future__ import annotations

import gc

__all__ = ["THRESHOLDS", "settle", "tune"]

#: Young collections every 50,000 net allocations, older ones 20 and 100 times rarer.
#: (At 10,000 a 100,000-row import still spent about 0.3 s in young collections of the
#: pages in flight; at 50,000 about 0.08 s.)
THRESHOLDS = (50_000, 20, 100)


def tune() -> None:
    """Set the collector's thresholds for crmbridge's allocation pattern (:data:`THRESHOLDS`)."""
    gc.set_threshold(*THRESHOLDS)


def settle() -> None:
    """Collect once, then leave everything alive now out of every later collection."""
    gc.collect()
    gc.freeze()
