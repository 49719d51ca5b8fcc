"""Cells safe for spreadsheets: formula neutralisation and its exact reverse.

A spreadsheet runs a cell starting with ``=``, ``+``, ``-`` or ``@`` (and
some treat a leading tab or carriage return the same way) as a formula, so
an exported file could carry one to whoever opens it. The CSV exporter and
a migration's rejects file prefix such a cell with ``'``; the CSV importer
removes exactly the ``'`` it added.

To keep the round trip lossless for values that really start with ``'``,
the rule counts leading quotes: a value made of any number of ``'`` followed
by a trigger character gets one more ``'`` on export, and a cell made of one
or more ``'`` followed by a trigger loses one on import. So ``=SUM(A1)`` <->
``'=SUM(A1)``, ``+8613800138000`` <-> ``'+8613800138000``, ``'=x`` <->
``''=x``, and ``'quoted`` is written and read as it is.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["TRIGGERS", "neutralise", "restore"]

TRIGGERS: Final = "=+-@\t\r"
"""Characters that make a spreadsheet read a cell as a formula."""

_QUOTES_THEN_TRIGGER: Final = re.compile(r"'*[=+\-@\t\r]")
_QUOTES_THEN_TRIGGER_ON_IMPORT: Final = re.compile(r"'+[=+\-@\t\r]")


def neutralise(value: str) -> str:
    """``value`` as written to a cell: prefixed with ``'`` when a spreadsheet could run it."""
    if value and (value[0] in TRIGGERS or (value[0] == "'" and _QUOTES_THEN_TRIGGER.match(value))):
        return "'" + value
    return value


def restore(cell: str) -> str:
    """The value of a cell written by :func:`neutralise` (a cell it did not touch is kept)."""
    if cell.startswith("'") and _QUOTES_THEN_TRIGGER_ON_IMPORT.match(cell):
        return cell[1:]
    return cell
