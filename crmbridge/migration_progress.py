"""How a migration tells its progress: the hooks a command line or a service shows it with.

Its own module, light to import: ``crmbridge migrate`` defines its progress bars
on it before the engine loads.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["MigrationProgress"]


class MigrationProgress:
    """Told how a migration goes, to show it; every method here does nothing.

    A leg is ``"pull"`` or ``"push"``; within a leg the entities go one after
    the other, in the order of ``totals``.
    """

    def run_started(self, run_id: str) -> None:
        """The migration is recorded as run ``run_id`` (the id ``--resume`` takes)."""

    def leg_started(self, leg: str, totals: Mapping[str, int | None]) -> None:
        """A leg begins; ``totals`` holds how many records each entity expects, if known."""

    def advance(self, entity: str, leg: str, records: int) -> None:
        """``records`` more records of ``entity`` are committed by ``leg``."""

    def leg_finished(self, leg: str, *, complete: bool = True) -> None:
        """A leg has ended: done (``complete``), or failed or interrupted."""
