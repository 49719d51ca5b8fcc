"""Finding records deleted in Fxiaoke, which publishes no deletion feed: a periodic ``_id`` scan.

The cursor remembers the ids of the records read (:class:`KnownIds`). At most
every ``deletions_scan_every_s`` a run lists every live id of the object (the
deep-paging ``_id`` walk, ``ceil(N/100)`` calls) and reports the remembered
ids it no longer finds as *candidates*. A listing can stop early (a short
page, an answer of an unexpected shape), so each candidate is confirmed
gone by an ``_id IN`` lookup (100 ids a query, :func:`confirm_gone`): only
those the lookup does not return, or returns invalidated, are reported as
deletions; the engine's mass-delete guard then decides whether they are
applied. A row whose ``life_status`` is ``invalid``
(作废, in the recycle bin) or with ``is_deleted`` counts as gone too, in case
queries return such rows (the manual does not say).

The ids are kept compactly: a zlib-compressed, base64 block of the sorted
ids, plus the ids added since it was last packed (repacked every
:data:`REPACK` additions), so a page's cursor does not grow by re-encoding
the whole set each time.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.fxiaoke.client import FxiaokeClient
from connectors.fxiaoke.reads import ID, lookup, walk_ids

__all__ = ["REPACK", "KnownIds", "confirm_gone", "gone_row", "live_ids"]

REPACK = 2000
Json = dict[str, Any]


def gone_row(row: Mapping[str, Any]) -> bool:
    """Whether a row read is invalidated (作废) or deleted rather than a live record."""
    return row.get("life_status") == "invalid" or row.get("is_deleted") is True


def _pack(ids: Iterable[str]) -> str:
    text = "\n".join(sorted(set(ids)))
    return base64.b64encode(zlib.compress(text.encode(), 6)).decode("ascii") if text else ""


def _unpack(blob: str) -> set[str]:
    if not blob:
        return set()
    return set(zlib.decompress(base64.b64decode(blob)).decode().split("\n"))


@dataclass(slots=True)
class KnownIds:
    """The ids of one object's records read so far, as kept in the cursor."""

    packed: set[str] = field(default_factory=set)
    added: list[str] = field(default_factory=list)
    removed: set[str] = field(default_factory=set)
    blob: str | None = None

    @classmethod
    def from_cursor(cls, state: Mapping[str, Any] | None) -> KnownIds:
        """Read the ``known`` part of a cursor (absent: nothing known)."""
        if not isinstance(state, Mapping):
            return cls()
        blob = str(state.get("ids") or "")
        added = [str(i) for i in state.get("added") or []]
        return cls(_unpack(blob), added, set(), blob)

    def all(self) -> set[str]:
        """Every known id."""
        return (self.packed | set(self.added)) - self.removed

    def add(self, ids: Iterable[str]) -> None:
        """Remember ids just read."""
        for i in ids:
            self.removed.discard(i)
            if i not in self.packed:
                self.added.append(i)
        if len(self.added) > REPACK:
            self._repack()

    def discard(self, ids: Iterable[str]) -> None:
        """Forget ids (deleted)."""
        for i in ids:
            self.removed.add(i)

    def replace(self, ids: Iterable[str]) -> None:
        """Know exactly ``ids`` (after a full scan)."""
        self.packed, self.added, self.removed, self.blob = set(ids), [], set(), None

    def _repack(self) -> None:
        self.packed, self.added, self.removed, self.blob = self.all(), [], set(), None

    def to_cursor(self) -> Json:
        """The JSON-ready form kept in the cursor (the packed block is encoded once per change)."""
        if self.removed:
            self._repack()
        if self.blob is None:
            self.blob = _pack(self.packed)
        return {"ids": self.blob, "added": list(dict.fromkeys(self.added))}


async def live_ids(client: FxiaokeClient, api_name: str, *, limit: int = 100) -> set[str]:
    """Every id of ``api_name`` the acting user can see, invalidated rows left out."""
    live: set[str] = set()
    async for rows in walk_ids(client, api_name, ["life_status", "is_deleted"], limit=limit):
        live |= {str(r[ID]) for r in rows if r.get(ID) and not gone_row(r)}
    return live


async def confirm_gone(
    client: FxiaokeClient, api_name: str, missing: Iterable[str], *, limit: int = 100
) -> set[str]:
    """Those of ``missing`` an ``_id IN`` lookup does not find live: the deletions to report."""
    wanted = sorted(set(missing))
    if not wanted:
        return set()
    rows = await lookup(client, api_name, ID, wanted, ["life_status", "is_deleted"], limit=limit)
    alive = {str(r[ID]) for r in rows if r.get(ID) and not gone_row(r)}
    return set(wanted) - alive
