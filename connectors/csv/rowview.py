"""A CSV row as a read-only mapping over its cells, made without building a dict."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from crmbridge.connector import FILE_KEY, LINE_KEY

__all__ = ["Columns", "RowView"]

_MISSING: Any = object()


class Columns:
    """The named columns of one file's header (``Header.index``: name -> cell), as views read them."""

    __slots__ = ("index", "keys", "names", "positions", "width")

    def __init__(self, header_index: Mapping[str, int]) -> None:
        #: how many named columns the header had (a rewrite that adds one makes new Columns)
        self.width = len(header_index)
        # a column named as the row's file or line gives way to them, as it always did
        kept = {n: i for n, i in header_index.items() if n not in (FILE_KEY, LINE_KEY)}
        self.names = tuple(kept)
        #: every key a row view holds, in :meth:`RowView.json_row` order
        self.keys = (*self.names, FILE_KEY, LINE_KEY)
        #: where each name's cell is in a row view's cells (the named ones, in ``names`` order)
        self.index = {name: at for at, name in enumerate(self.names)}
        positions = tuple(kept.values())
        #: which of a file row's cells a view keeps; ``None``: all of them, as they are
        self.positions = None if positions == tuple(range(len(positions))) else positions


def _as_dict(keys: tuple[str, ...], values: list[Any]) -> dict[str, Any]:
    return dict(zip(keys, values, strict=True))


class RowView(Mapping[str, Any]):
    """One row's cells by column name, with its file and line under ``FILE_KEY``/``LINE_KEY``.

    ``cells`` holds the named columns' cells in ``columns.names`` order. It pickles as the
    plain dict it reads as, so a worker process gets a dict.
    """

    __slots__ = ("cells", "columns", "file", "line")

    def __init__(self, columns: Columns, cells: list[str], file: str, line: int) -> None:
        self.columns = columns
        self.cells = cells
        self.file = file
        self.line = line

    def __getitem__(self, key: str) -> Any:
        found = self.get(key, _MISSING)
        if found is _MISSING:
            raise KeyError(key)
        return found

    def get(self, key: str, default: Any = None) -> Any:
        """The cell of column ``key`` (or the row's file or line), else ``default``."""
        at = self.columns.index.get(key)
        if at is not None:
            return self.cells[at]
        if key == FILE_KEY:
            return self.file
        if key == LINE_KEY:
            return self.line
        return default

    def __contains__(self, key: object) -> bool:
        return key in self.columns.index or key in (FILE_KEY, LINE_KEY)

    def __iter__(self) -> Iterator[str]:
        yield from self.columns.names
        yield FILE_KEY
        yield LINE_KEY

    def __len__(self) -> int:
        return len(self.columns.names) + 2

    @property
    def crmbridge_keys(self) -> tuple[str, ...]:
        """Its keys, shared by every row of the file (see :class:`~crmbridge.connector.Shaped`)."""
        return self.columns.keys

    def json_row(self) -> tuple[tuple[str, ...], list[Any]]:
        """Its keys (shared by every row of the file) and values, as the dict it reads as
        holds them (see :class:`~crmbridge.connector.JsonRow`); it pickles as that dict too."""
        names, cells = self.columns.names, self.cells
        if len(cells) == len(names):
            return self.columns.keys, [*cells, self.file, self.line]
        # cells past the named ones (a column with a blank name at the end of the header)
        # have no key
        kept = min(len(cells), len(names))
        return (*names[:kept], FILE_KEY, LINE_KEY), [*cells[:kept], self.file, self.line]

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return _as_dict, self.json_row()
