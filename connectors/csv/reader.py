"""Reading a CSV file row by row: its header, its rows with line numbers, their ids and hashes.

Nothing here holds the whole file: :meth:`Table.rows` streams it through the
:mod:`csv` module, so quoted newlines, quotes and delimiters inside cells
read right and memory stays flat however long the file is.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TextIO

from connectors.csv.columns import EntityColumns, Header
from connectors.csv.dialect import Dialect
from connectors.csv.rowview import Columns
from crmbridge.errors import PermanentError

__all__ = ["Digests", "FileReject", "Row", "RowIds", "Table", "content_digest", "is_derived"]

FIELD_LIMIT: Final = 64 * 1024 * 1024
_UNDECODABLE: Final = re.compile("[\x00\udc80-\udcff]")
"""A byte the file's codec could not decode, or a NUL (no spreadsheet cell holds one)."""


# not frozen (read-only by convention): one is made per record of a bulk sync, and a frozen
# dataclass's __init__ costs four times as much
@dataclass(slots=True, unsafe_hash=True)
class Row:
    """One row as the file holds it: raw cells (formula quotes not removed), where it starts.

    ``problem`` says why a row cannot be read (wrong number of cells, bytes
    that do not decode); such a row is reported and kept as it is on a rewrite.
    """

    line: int
    cells: list[str]
    problem: str | None = None
    column: str | None = None
    raw: str = ""
    """the row's text as in the file, when the table keeps it (for a rewrite)"""
    spans: bool = False
    """a bad row read across several lines: a quote left open took the rows after it in"""
    open_end: bool = False
    """the file ends inside this row's open quote: rows added after it would be read into it"""
    note: str | None = None
    """a doubt about a row that was read: a quoted cell holding what look like rows"""
    padded: int = 0
    """empty cells added to the row as read: its file line stops short of unnamed columns"""


@dataclass(frozen=True, slots=True)
class FileReject:
    """A row the connector could not read: where it is and why."""

    file: str
    line: int
    column: str | None
    reason: str
    entity: str = ""
    external_id: str | None = None
    """the row's id, where it could be read"""

    def as_dict(self) -> dict[str, Any]:
        """The reject as a plain dict (``file``, ``line``, ``column``, ``reason``, ``entity``)."""
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column or "",
            "reason": self.reason,
            "entity": self.entity,
        }


class Digests:
    """:func:`content_digest` for the rows of one header, its column order worked out once."""

    __slots__ = ("header", "order")

    def __init__(self, header: Header) -> None:
        self.header = header
        keys = [name or f"#{i}" for i, name in enumerate(header.names)]
        # the digest sorts cells by (name, value): with names all different, by name alone
        self.order: list[tuple[int, str]] | None = (
            sorted(((i, f"{key}\x1f") for i, key in enumerate(keys)), key=lambda p: keys[p[0]])
            if len(set(keys)) == len(keys)
            else None
        )

    def __call__(self, cells: list[str]) -> bytes:
        """The row's :func:`content_digest`."""
        if self.order is None or len(cells) < len(self.order):
            return content_digest(self.header, cells)
        text = "".join([f"{prefix}{value}\x1e" for i, prefix in self.order if (value := cells[i])])
        return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()


def _spanning(problem: str, start: int, end: int) -> str:
    return (
        f"{problem}: it runs from line {start} to line {end}, so a quote opened there is "
        "probably not closed; the rows on those lines are not read until it is"
    )


def content_digest(header: Header, cells: list[str], skip: int | None = None) -> bytes:
    """A hash of a row's non-empty cells by column name: blind to column order and added columns."""
    names = header.names
    width = len(names)
    parts = sorted(
        (names[i] or f"#{i}", value)
        for i, value in enumerate(cells)
        if value and i != skip and i < width
    )
    # one encode and one update for the whole row: the same bytes as name, 0x1f, value,
    # 0x1e per cell (ids derived from it are stored, so it must never change)
    text = "".join([f"{name}\x1f{value}\x1e" for name, value in parts])
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()


_DERIVED: Final = re.compile(r"row-[0-9a-f]{16}(?:-\d+)?")


def is_derived(row_id: str) -> bool:
    """Whether ``row_id`` has the shape of an id derived from a row's content."""
    return _DERIVED.fullmatch(row_id) is not None


class RowIds:
    """The external id of each row, in file order.

    The id column's value when it has one; else ``row-<hash>`` of the row's
    content (a later identical row gets ``-2``, ``-3``, ...). Derived ids are
    remembered to number repeats, so they cost memory until a push writes ids
    into the file.
    """

    def __init__(self, header: Header, restore: Callable[[str], str]) -> None:
        self.header = header
        self.restore = restore
        self._derived: set[str] = set()

    def stated(self, cells: list[str]) -> str:
        """The id the row's id column holds ('' when it has none, or a short row lacks it)."""
        index = self.header.id_index
        return (
            self.restore(cells[index].strip()) if index is not None and index < len(cells) else ""
        )

    def __call__(self, cells: list[str]) -> str:
        """The row's external id."""
        return self.stated(cells) or self.derive(cells)

    def derive(self, cells: list[str]) -> str:
        """The ``row-<hash>`` id of a row without one."""
        base = "row-" + content_digest(self.header, cells, self.header.id_index).hex()
        row_id, n = base, 1
        while row_id in self._derived:
            n += 1
            row_id = f"{base}-{n}"
        self._derived.add(row_id)
        return row_id


def _undecodable(path: Path, line: int, exc: UnicodeDecodeError) -> str:
    """Why the file cannot be read on from ``line``, and what to do about it."""
    said = f"{path}: line {line}: cannot be read as {exc.encoding} ({exc.reason})"
    if "truncated" in exc.reason:
        return f"{said}: the file ends part way through a character, so it was cut short; copy it again"
    return f"{said}; declare the file's own encoding, or `encoding: auto`"


class _Lines:
    """The file's lines as the csv reader takes them, remembering those of the current row."""

    __slots__ = ("handle", "in_rows", "taken")

    def __init__(self, handle: TextIO) -> None:
        self.handle = handle
        self.taken: list[str] = []
        # once the header is read, a line that does not decode is a row's, named by its number
        self.in_rows = False

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        try:
            line = next(self.handle)
        except UnicodeDecodeError as exc:  # a UTF-16 or UTF-32 file cut short, or not one
            if self.in_rows:
                raise
            raise PermanentError(
                f"{self.handle.name}: cannot be read as {exc.encoding} ({exc.reason}); "
                "declare the file's own encoding, or `encoding: auto`"
            ) from None
        self.taken.append(line)
        return line

    def take(self) -> str:
        text = "".join(self.taken)
        self.taken.clear()
        return text


@dataclass(slots=True)
class Table:
    """One open CSV file: its dialect and header, its rows to stream once."""

    path: Path
    dialect: Dialect
    handle: TextIO
    header: Header | None
    _reader: Any = None
    width: int = 0
    _offset: int = 0
    _lines: _Lines | None = None
    _keep_raw: bool = False
    _columns: Columns | None = None
    _name: str = ""

    @classmethod
    def open(
        cls, path: Path, dialect: Dialect, columns: EntityColumns, *, keep_raw: bool = False
    ) -> Table:
        """Open ``path`` and read its header (``header`` is ``None`` for an empty file).

        With ``keep_raw`` every row also carries its text as in the file, so a
        rewrite copies the rows it does not change byte for byte. Raises
        :class:`~crmbridge.errors.ConfigError` for a duplicated header.
        """
        csv.field_size_limit(max(csv.field_size_limit(), FIELD_LIMIT))
        try:
            handle = path.open(encoding=dialect.encoding, errors="surrogateescape", newline="")
        except OSError as exc:
            raise PermanentError(f"{path}: cannot read the file: {exc.strerror}") from None
        table = cls(path, dialect, handle, None)
        try:
            table._start(columns, keep_raw)
        except BaseException:
            handle.close()
            raise
        return table

    def _start(self, columns: EntityColumns, keep_raw: bool) -> None:
        if self.dialect.sep_line:
            self.handle.readline()
            self._offset = 1
        # the lines of each row are kept until the next: a row strict reading refuses on one
        # line is read again leniently from them, and a rewrite copies rows as they were
        source = self._lines = _Lines(self.handle)
        self._keep_raw = keep_raw
        # strict: a quote left open to the end of the file is an error, not a cell that ends there
        self._reader = csv.reader(source, delimiter=self.dialect.delimiter, strict=True)
        try:
            for cells in self._reader:
                if any(c.strip() for c in cells):
                    self.header = Header(self.path, columns, list(cells))
                    self.width = len(cells)
                    return
        except csv.Error as exc:
            raise PermanentError(
                f"{self.path}: the header (line {self.line}) is not readable as CSV: {exc}"
            ) from None

    @property
    def columns(self) -> Columns:
        """The header's named columns (the table must have a header)."""
        assert self.header is not None
        index = self.header.index
        if self._columns is None or self._columns.width != len(index):
            self._columns = Columns(index)  # made again once a rewrite adds a column
        return self._columns

    @property
    def name(self) -> str:
        """``path`` as text, made once: every row read carries this one string."""
        if not self._name:
            self._name = str(self.path)
        return self._name

    @property
    def line(self) -> int:
        """The last physical line read so far."""
        return int(self._reader.line_num) + self._offset

    def close(self) -> None:
        """Close the file."""
        self.handle.close()

    def __enter__(self) -> Table:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def rows(self) -> Iterator[Row]:
        """The rows after the header; blank rows are skipped, unreadable ones carry a problem."""
        if self.header is None:
            return
        width = self.width  # the file's own, even once a rewrite adds columns
        names = self.header.names
        named = width  # the cells up to the last one with a header name
        while named > 1 and not names[named - 1]:
            named -= 1
        encoding = self.dialect.encoding
        lines = self._lines
        assert lines is not None
        lines.taken.clear()
        lines.in_rows = True
        keep = self._keep_raw
        reader, first = self._reader, self._offset + 1
        while True:
            start = reader.line_num + first
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                text = lines.take()
                raw = text if keep else ""
                end = max(self.line, start)
                # strict reading says so only for a quote still open where the file ends
                open_end = "end of data" in str(exc)
                if end > start or open_end:
                    problem = f"not readable as CSV: {exc}"
                    if end > start:
                        problem = _spanning(problem, start, end)
                    yield Row(start, [], problem, None, raw, end > start, open_end)
                    continue
                # one line with a stray quote (`"Liu" ,x`, `"Zhang "Tiger" Min"`): read as
                # lenient readers (Excel too) read it
                cells = next(csv.reader([text], delimiter=self.dialect.delimiter), [])
            except UnicodeDecodeError as exc:
                raise PermanentError(_undecodable(self.path, start, exc)) from None
            else:
                raw = lines.take() if keep else ""
                lines.taken.clear()
            if not any(cells):
                continue
            if len(cells) > width and not any(cells[width:]):
                cells = cells[:width]
            padded = 0
            if named <= len(cells) < width:  # short only by columns with no name (`a,b,,`)
                padded = width - len(cells)
                cells += [""] * padded
            if len(cells) != width:
                problem = f"has {len(cells)} cells where the header has {width}"
                if self.line > start:
                    problem = _spanning(problem, start, self.line)
                yield Row(start, cells, problem, None, raw, self.line > start)
                continue
            if _UNDECODABLE.search("".join(cells)):
                bad = next(i for i, c in enumerate(cells) if _UNDECODABLE.search(c))
                problem = (
                    "holds a NUL byte"
                    if "\x00" in cells[bad]
                    else f"holds bytes that are not valid {encoding} (declare `encoding:`?)"
                )
                yield Row(start, cells, problem, names[bad] or f"column {bad + 1}", raw)
                continue
            note = None
            if self.line > start:
                note = _swallowed(cells, self.dialect.delimiter, width, self.path, start, self.line)
            yield Row(start, cells, raw=raw, note=note, padded=padded)


def _swallowed(
    cells: Sequence[str], delimiter: str, width: int, path: Path, start: int, end: int
) -> str | None:
    """A warning when a row's quoted cell holds lines that each look like a row of their own.

    A stray quote (``"VIP``) that a later stray quote closes reads the rows
    between as one cell: the file is valid CSV, so only their shape tells.
    """
    if width < 3:
        return None
    for cell in cells:
        rest = cell.splitlines()[1:]
        if rest and all(line.count(delimiter) >= width - 1 for line in rest):
            return (
                f"{path.name}: the row on line {start} runs to line {end} inside one quoted "
                f"cell whose lines look like rows of their own (a quote left open on line "
                f"{start}?); they were read as one row: check that row"
            )
    return None
