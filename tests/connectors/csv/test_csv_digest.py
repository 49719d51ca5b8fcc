"""Row digests never change: ids derived from them are stored in hubs and snapshots."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from csv_support import connector
from hypothesis import given
from hypothesis import strategies as st

from connectors.csv.columns import EntityColumns, Header
from connectors.csv.reader import Digests, content_digest


def _as_first_released(names: list[str], cells: list[str], skip: int | None) -> bytes:
    """The digest as crmbridge first computed it, cell by cell."""
    parts = sorted(
        (names[i] or f"#{i}", value)
        for i, value in enumerate(cells)
        if value and i != skip and i < len(names)
    )
    digest = hashlib.blake2b(digest_size=8)
    for name, value in parts:
        digest.update(name.encode("utf-8", "surrogatepass"))
        digest.update(b"\x1f")
        digest.update(value.encode("utf-8", "surrogatepass"))
        digest.update(b"\x1e")
    return digest.digest()


cell = st.text(max_size=12) | st.sampled_from(["", "'=1+1", "\udcff", "陈静", "+86 138 0000 0000"])


@given(st.lists(cell, min_size=1, max_size=8), st.integers(min_value=-1, max_value=8))
def test_the_digest_is_the_first_released_one(cells: list[str], skip: int) -> None:
    raw = ["Record Id", "Full Name", "", "Email", "邮箱", "Phone", "Title", "Notes"][: len(cells)]
    header = _header(raw)
    skipped = None if skip < 0 else skip
    assert content_digest(header, cells, skipped) == _as_first_released(
        header.names, cells, skipped
    )


@functools.cache
def _columns() -> EntityColumns:
    return connector(Path(".")).columns("stakeholders")


def _header(raw: list[str]) -> Header:
    return Header(Path("stakeholders.csv"), _columns(), raw)


@given(st.lists(cell, min_size=1, max_size=10), st.integers(min_value=1, max_value=8))
def test_the_digest_of_a_whole_file_is_the_first_released_one(cells: list[str], width: int) -> None:
    raw = ["Record Id", "Full Name", "", "Email", "邮箱", "Phone", "", "Notes"][:width]
    header = _header(raw)
    assert Digests(header)(cells) == _as_first_released(header.names, cells, None)
