"""A pull as pages: the rows added, changed or removed since the base snapshot; every row; by id."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from datetime import datetime

from connectors.csv.reader import Digests, FileReject, Row, RowIds, Table, is_derived
from connectors.csv.rowview import RowView
from connectors.csv.snapshot import RowState, SnapshotRun
from crmbridge.connector import (
    FILE_KEY,
    LINE_KEY,
    Cursor,
    Deletion,
    Page,
    RemoteRecord,
    Unreadable,
)

__all__ = ["FILE_KEY", "LINE_KEY", "fetch_rows", "list_pages", "pull_pages"]


def _record(
    table: Table, row: Row, row_id: str, restore: Callable[[str], str], modified: datetime
) -> RemoteRecord:
    assert table.header is not None
    columns = table.columns
    cells = row.cells
    if columns.positions is not None:
        cells = [cells[i] for i in columns.positions]
    # only a cell starting with ' can be one the exporter neutralised: one scan of the
    # joined row tells whether there is any (a false alarm only costs the careful pass)
    if "\x1f'" in "\x1f" + "\x1f".join(cells):
        cells = [restore(cell) if cell[:1] == "'" else cell for cell in cells]
    return RemoteRecord(row_id, RowView(columns, cells, table.name, row.line), modified)


def pull_pages(
    table: Table,
    run: SnapshotRun,
    *,
    page_size: int,
    restore: Callable[[str], str],
    modified: datetime,
    cursor: Cursor,
    rejects: list[FileReject],
    entity: str,
) -> Iterator[Page]:
    """Pages of the rows that differ from the base, then the removed rows as deletions.

    Only the last page carries ``cursor``, and the new generation is complete
    before it is handed out, so the engine moves to it only once everything
    was applied. Rows that cannot be read (added to ``rejects``) ride on the
    next page as ``unreadable``, so the run keeps them as rejects.
    """
    reported = len(rejects)

    def report(page: Page) -> Page:
        """``page`` carrying the rows found unreadable since the last page."""
        nonlocal reported
        page.unreadable.extend(_unreadable(r) for r in rejects[reported:])
        reported = len(rejects)
        return page

    pending: Page | None = None
    for page in _changes(table, run, page_size, restore, modified, rejects, entity):
        if pending is not None:
            yield report(pending)
        pending = page
    run.finish()
    last = pending or Page()
    last.cursor = cursor
    yield report(last)


def _unreadable(reject: FileReject) -> Unreadable:
    where = {FILE_KEY: reject.file, LINE_KEY: reject.line}
    return Unreadable(reject.reason, reject.external_id, reject.column, where)


def _changes(
    table: Table,
    run: SnapshotRun,
    page_size: int,
    restore: Callable[[str], str],
    modified: datetime,
    rejects: list[FileReject],
    entity: str,
) -> Iterator[Page]:
    header = table.header
    if header is None:
        rows: Iterator[Row] = iter(())
    else:
        rows = table.rows()
    ids = RowIds(header, restore) if header is not None else None
    path = str(table.path)
    chunk: list[tuple[Row, str]] = []

    digest = Digests(header) if header is not None else None

    def flush() -> Page | None:
        assert digest is not None
        states = run.add([(rid, digest(row.cells), row.line) for row, rid in chunk])
        page = Page()
        for (row, rid), (state, first) in zip(chunk, states, strict=True):
            if state is RowState.DUPLICATE:
                reason = f"the id {rid!r} is also on line {first}; this row is left out"
                rejects.append(FileReject(path, row.line, _id_name(table), reason, entity, rid))
            elif state is not RowState.SAME:
                page.records.append(_record(table, row, rid, restore, modified))
                if row.note is not None:
                    page.warnings.append(row.note)
        chunk.clear()
        return page if page.records else None

    unread: list[str] = []  # the ids of the rows that could not be read, as far as they can be
    for row in rows:
        if row.problem is not None:
            stated = ids.stated(row.cells) if ids is not None else ""
            rejects.append(
                FileReject(path, row.line, row.column, row.problem, entity, stated or None)
            )
            # a bad row across several lines took the rows on them in: whose they were is unknown
            unread.append("" if row.spans else stated)
            continue
        assert ids is not None
        chunk.append((row, ids(row.cells)))
        if len(chunk) >= page_size and (page := flush()) is not None:
            yield page
    if chunk and (page := flush()) is not None:
        yield page
    if unread and run.keep(unread):
        first = next(r for r in rejects if r.file == path and r.entity == entity)
        yield Page(
            warnings=[
                f"{path}: no removed rows are reported while line {first.line} cannot be read "
                "(whose row it is cannot be told); mend it and the next pull reports them"
            ]
        )
    for gone in run.removed(page_size):
        yield Page(deletions=[Deletion(rid, modified, is_derived(rid)) for rid in gone])


def _id_name(table: Table) -> str | None:
    header = table.header
    if header is None or header.id_index is None:
        return None
    return header.names[header.id_index]


def fetch_rows(
    table: Table,
    wanted: Collection[str],
    *,
    restore: Callable[[str], str],
    modified: datetime,
) -> list[RemoteRecord]:
    """The records whose ids are in ``wanted`` (the first row of an id that repeats)."""
    if table.header is None:
        return []
    ids = RowIds(table.header, restore)
    found: dict[str, RemoteRecord] = {}
    for row in table.rows():
        if row.problem is not None:
            continue
        rid = ids(row.cells)
        if rid in wanted and rid not in found:
            found[rid] = _record(table, row, rid, restore, modified)
    return list(found.values())


def list_pages(
    table: Table,
    *,
    page_size: int,
    restore: Callable[[str], str],
    modified: datetime,
    entity: str,
) -> Iterator[Page]:
    """Pages of every row of the file, each with the rows found unreadable on its stretch.

    Keeps nothing for a later read: no snapshot is compared or written.
    """
    if table.header is None:
        return
    ids = RowIds(table.header, restore)
    path = str(table.path)
    page = Page()
    for row in table.rows():
        if row.problem is not None:
            stated = ids.stated(row.cells) or None
            page.unreadable.append(
                _unreadable(FileReject(path, row.line, row.column, row.problem, entity, stated))
            )
        else:
            page.records.append(_record(table, row, ids(row.cells), restore, modified))
        if len(page.records) >= page_size:
            yield page
            page = Page()
    if page.records or page.unreadable:
        yield page
