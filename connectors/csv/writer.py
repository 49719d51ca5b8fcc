"""Writing a batch into a CSV file: one streamed, atomic rewrite.

The old file is read row by row into a temporary file in the same folder:
updated rows are changed in place (their other cells, mapped or not, kept),
deleted rows left out, the others copied as they are; new rows go at the
end. The temporary file is flushed to disk and renamed over the old one, so
a reader (or a crash) sees the old file or the new one, never half of one.
If the file changed while it was being rewritten (someone saved it), the
rewrite is abandoned with a :class:`~crmbridge.errors.TransientError` and
the batch is sent again on the next run. A file or folder the system
refuses (no room left, no right to write there) fails the batch with a
:class:`~crmbridge.errors.PermanentError` naming the file; the old file is
left as it was, with no temporary file beside it.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import json
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.csv.columns import EntityColumns, Header, IdKind
from connectors.csv.dialect import Dialect
from connectors.csv.oserrors import cannot, reason
from connectors.csv.reader import Row, RowIds, Table, content_digest, is_derived
from connectors.csv.swap import file_version, replace_if_unchanged
from crmbridge.connector import WriteOp, WriteOutcome, WriteRequest, WriteResult
from crmbridge.errors import PermanentError, TransientError

__all__ = ["rewrite"]


@dataclass(slots=True)
class _Change:
    """One create or update: its request and the cells it sets."""

    request: WriteRequest
    cells: dict[int, str] = field(default_factory=dict)
    done: bool = False


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False, default=str)


class Batch:
    """The requests of one batch, resolved against the file's header."""

    def __init__(
        self,
        header: Header,
        requests: Sequence[WriteRequest],
        encoding: str,
        neutralise: Callable[[str], str],
    ) -> None:
        self.header = header
        self.results: dict[str, WriteResult] = {}
        self.updates: dict[str, _Change] = {}
        self.deletes: dict[str, WriteRequest] = {}
        self.creates: list[_Change] = []
        changes: list[_Change] = []
        for req in requests:
            if req.op is WriteOp.DELETE:
                self.deletes[req.external_id or ""] = req
                continue
            change = self._resolve(req, encoding, neutralise)
            if change is not None:
                changes.append(change)
        self.by_key: dict[str, _Change] = {}
        for change in changes:
            req = change.request
            if req.op is WriteOp.UPDATE:
                self.updates[req.external_id or ""] = change
            elif req.key in self.by_key:  # the same create twice in one batch: one row
                self.by_key[req.key].cells.update(change.cells)
            else:
                self.by_key[req.key] = change
                self.creates.append(change)
        self.by_stated: dict[str, _Change] = {}
        if header.id_index is not None:
            for c in self.creates:
                stated = c.cells.get(header.id_index, "").strip()
                if stated:
                    self.by_stated.setdefault(stated, c)

    def _resolve(
        self, req: WriteRequest, encoding: str, neutralise: Callable[[str], str]
    ) -> _Change | None:
        header = self.header
        change = _Change(req)
        for key, value in req.data.items():
            if key.startswith("$"):
                continue
            text = _text(value)
            index = header.column_for(key)
            if index is None:
                skip = header.id_index is not None and key in header.columns.remote_id
                if not text or skip:
                    continue
                index = header.add(key)
            try:
                text.encode(encoding)
            except UnicodeEncodeError as exc:
                what = text[exc.start : exc.end]
                self.reject(
                    req,
                    "UNENCODABLE",
                    f"{what!r} (U+{ord(what[0]):04X}) cannot be written in {encoding}, the "
                    f"file's encoding; save the file as UTF-8 to hold it",
                    key,
                )
                return None
            change.cells[index] = neutralise(text)
        return change

    def reject(self, req: WriteRequest, code: str, message: str, column: str | None) -> None:
        self.results[req.key] = WriteResult(
            req.key, WriteOutcome.REJECTED, req.external_id, None, code, column, message
        )

    def match_create(self, cells: list[str]) -> _Change | None:
        """A create this batch sends again for a row the file has (a replay, or the same id)."""
        index = self.header.id_index
        stated = cells[index].strip() if index is not None else ""
        found = self.by_stated.get(stated) if stated else None
        for index in self.header.key_indices:
            if found is not None:
                break
            value = cells[index].strip()
            found = self.by_key.get(value) if value else None
        return found if found is not None and not found.done else None


def fill_id(header: Header, cells: list[str], key: str) -> None:
    """Give a row the push writes its crmbridge id where its id or crmbridge id cell is empty."""
    for index in header.key_indices:
        if not cells[index].strip():
            cells[index] = key


def rewrite(
    path: Path,
    columns: EntityColumns,
    requests: Sequence[WriteRequest],
    *,
    dialect: Dialect,
    write_encoding: str | None,
    neutralise: Callable[[str], str],
    restore: Callable[[str], str],
) -> list[WriteResult]:
    """Apply one batch to ``path`` (created if missing) and return one result per request."""
    if not requests:
        return []
    try:
        exists = path.exists()
        table = Table.open(path, dialect, columns, keep_raw=True) if exists else None
    except OSError as exc:
        raise cannot("read the file", path, exc) from None
    try:
        # the file this rewrite reads, not whatever the path names a moment later: a save
        # landing between the open and a stat of the path would be overwritten unnoticed
        before = os.fstat(table.handle.fileno()) if table is not None else None
        header = table.header if table is not None else None
        if header is None:
            header = Header(path, columns, columns.new_header())
        header.check_known()
        if header.id_index is None and columns.pure_id is not None:
            header.add(columns.pure_id)
        encoding = write_encoding or dialect.writing(written_texts(requests))
        batch = Batch(header, requests, encoding, neutralise)
        return _stream(path, table, header, batch, dialect, encoding, before, restore)
    finally:
        if table is not None:
            table.close()


def _stream(
    path: Path,
    table: Table | None,
    header: Header,
    batch: Batch,
    dialect: Dialect,
    encoding: str,
    before: os.stat_result | None,
    restore: Callable[[str], str],
) -> list[WriteResult]:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise cannot("create the folder", path.parent, exc) from None
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    width = len(header.raw)
    ids = RowIds(header, restore)
    results = batch.results
    changed = False
    try:
        try:
            out = temp.open("x", encoding=encoding, errors="surrogateescape", newline="")
        except OSError as exc:
            refused = isinstance(exc, PermissionError) or exc.errno == errno.EROFS
            raise PermanentError(
                f"{path}: cannot rewrite the file: cannot create a file in {path.parent} "
                f"({reason(exc, temp)})" + ("; the folder must be writable" if refused else "")
            ) from None
        with out:
            if dialect.sep_line:
                out.write(f"sep={dialect.delimiter}{dialect.newline}")
            writer = csv.writer(
                out,
                delimiter=dialect.delimiter,
                lineterminator=dialect.newline,
                quoting=dialect.quoting,
            )
            writer.writerow(header.raw)
            pad = width - (table.width if table is not None else width)
            pure = header.id_kind is IdKind.PURE
            open_end: Row | None = None
            unread: list[Row] = []
            for row in table.rows() if table is not None else ():
                if row.problem is not None:
                    out.write(_terminated(row.raw, dialect.newline))  # kept as it is
                    open_end = row if row.open_end else None
                    unread.append(row)
                    continue
                cells = row.cells + [""] * pad
                stated = ids.stated(cells)
                row_id = stated or ids.derive(cells)
                if row_id in batch.deletes:
                    req = batch.deletes.pop(row_id)
                    results[req.key] = WriteResult(req.key, WriteOutcome.DELETED, row_id)
                    changed = True
                    continue
                filled = pure and not stated
                if filled:
                    cells[header.id_index or 0] = row_id  # the id it had, now kept in the file
                change = batch.updates.pop(row_id, None)
                made = batch.match_create(cells) if change is None and batch.by_key else None
                if made is not None:
                    # a row an earlier attempt made (or a person added with this id): adopted,
                    # never written again, so a person's edit since is kept for the next pull
                    made.done = True
                    key = made.request.key
                    results[key] = WriteResult(
                        key,
                        WriteOutcome.CREATED,
                        _id_after(ids, header, cells),
                        None,
                        "ALREADY_CREATED",
                    )
                if change is not None:
                    for index, value in change.cells.items():
                        cells[index] = value
                    fill_id(header, cells, change.request.key)
                    change.done = changed = True
                    results[change.request.key] = WriteResult(
                        change.request.key, WriteOutcome.UPDATED, _id_after(ids, header, cells)
                    )
                elif not filled:
                    extra = dialect.delimiter * (pad + row.padded) if pad else ""
                    out.write(_terminated(row.raw, dialect.newline, extra))
                    continue
                writer.writerow(cells)
            for change in batch.creates:
                if change.done:
                    continue
                if open_end is not None:
                    batch.reject(
                        change.request,
                        "FILE_ENDS_IN_QUOTE",
                        f"{path}: line {open_end.line} opens a quote the file never closes, so "
                        "a row added after it would be read as part of it; close the quote",
                        None,
                    )
                    continue
                cells = [""] * width
                for index, value in change.cells.items():
                    cells[index] = value
                fill_id(header, cells, change.request.key)
                results[change.request.key] = WriteResult(
                    change.request.key, WriteOutcome.CREATED, ids(cells)
                )
                change.done = changed = True
                writer.writerow(cells)
            out.flush()
            os.fsync(out.fileno())
        missing = [(ext, c.request) for ext, c in batch.updates.items()]
        for ext, req in [*missing, *batch.deletes.items()]:
            hiding = _hiding(ext, unread)
            if hiding:  # the row may be one crmbridge cannot read: not gone, only hidden
                batch.reject(req, "ROW_UNREADABLE", _hidden(ext, path, hiding), None)
            else:
                batch.reject(req, "NOT_FOUND", f"no row with id {ext} in {path}", None)
        if changed:
            _replace(temp, path, before)
        else:
            temp.unlink()
    except BaseException as exc:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise cannot("rewrite the file", path, exc) from None
        raise
    try:
        stamp = datetime.fromtimestamp(os.stat(path).st_mtime, UTC) if changed else None
    except OSError as exc:
        raise cannot("read the file just written", path, exc) from None
    return [
        WriteResult(r.key, r.outcome, r.external_id, stamp, r.code, r.field, r.message)
        if r.outcome is not WriteOutcome.REJECTED
        else r
        for r in results.values()
    ]


def _hiding(ext: str, unread: Sequence[Row]) -> list[Row]:
    """The unreadable rows that may be the row with id ``ext``.

    A stated id is written in its row, so only a row whose text holds it can
    be that row; an id derived from a row's content could be any of them.
    """
    if is_derived(ext):
        return list(unread)
    return [row for row in unread if ext in row.raw]


def _hidden(ext: str, path: Path, rows: Sequence[Row]) -> str:
    """Why a change to a row not found waits, when rows the file cannot read may hold it."""
    lines = [row.line for row in rows]
    where = ", ".join(str(n) for n in lines[:5]) + (", ..." if len(lines) > 5 else "")
    why = (
        "; a quote left open takes the rows after it in"
        if any(r.spans or r.open_end for r in rows)
        else ""
    )
    return (
        f"no readable row with id {ext} in {path}, which has rows it cannot read that may "
        f"hold it (line {where}{why}): the change waits until they are mended"
    )


def written_texts(requests: Sequence[WriteRequest]) -> Iterator[str]:
    """Every value a batch writes, as text."""
    for req in requests:
        for value in (req.data or {}).values():
            if value is not None:
                yield str(value)


def _terminated(raw: str, newline: str, extra: str = "") -> str:
    """A row's text as read, with ``extra`` (empty cells) before its line end, which it gets."""
    body = raw.rstrip("\r\n")
    end = raw[len(body) :] or newline
    return body + extra + end


def _id_after(ids: RowIds, header: Header, cells: list[str]) -> str:
    """A written row's id: its id cell, else the id its new content derives."""
    stated = ids.stated(cells)
    if stated:
        return stated
    return "row-" + content_digest(header, cells, header.id_index).hex()


def _replace(temp: Path, path: Path, before: os.stat_result | None) -> None:
    if before is not None:
        os.chmod(temp, before.st_mode & 0o7777)
    try:
        if before is None:
            os.replace(temp, path)
        elif not replace_if_unchanged(temp, path, lambda name: _is_file_read(name, before)):
            raise TransientError(
                f"{path} changed while it was being written; the batch is sent again"
            )
    except PermissionError as exc:
        raise TransientError(
            f"{path}: cannot replace the file ({exc.strerror}); is it open in another program?",
            retry_after=60,
        ) from None
    _sync_folder(path.parent)


def _is_file_read(name: Path, before: os.stat_result) -> bool:
    """Whether ``name`` is still the file the rewrite read (the rewrite holds it open)."""
    try:
        now = os.stat(name)
    except FileNotFoundError:
        return False
    return file_version(now) == file_version(before)


def _sync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # not possible on every platform; the rename itself is atomic
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
