"""Keep the garbage collector's full passes off the request path of a long-running service.

CPython's cyclic collector walks every tracked object on a full (oldest
generation) pass. A service holds hundreds of thousands of them from start-up
alone (modules, the web framework's routes and schemas, SQLAlchemy's
tables, compiled mappings), so each full pass stalled the event loop for
about 50 ms under load, and every request in flight waited: that was the
whole of the webhook p99. :func:`settle` collects once and then freezes
what exists (``gc.freeze``), so later passes walk only objects made since.
"""

from __future__ import annotations

import gc

__all__ = ["settle"]


def settle() -> None:
    """Collect once, then leave everything alive now out of every later collection."""
    gc.collect()
    gc.freeze()
