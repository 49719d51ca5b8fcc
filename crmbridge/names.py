"""Names the command line shows before anything heavy loads: the entities and a run's counts.

``crmbridge --help`` and a mistyped option answer at once because the
command modules import this, not the model or the engine, when they load.
"""

from __future__ import annotations

from typing import Final

__all__ = ["COUNT_KEYS", "ENTITY_NAMES"]

ENTITY_NAMES: Final = (
    "organizations",
    "stakeholders",
    "interactions",
    "requirements",
    "requirement_changes",
)
"""The canonical entities, parents first (``crmbridge.model.ENTITY_ORDER``, which a test
holds to this)."""

COUNT_KEYS: Final = (
    "pulled",
    "created",
    "updated",
    "deleted",
    "unchanged",
    "conflicts",
    "rejected",
    "pushed",
)
"""What a run counts, per entity, in the order reports show them."""
