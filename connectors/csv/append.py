"""The fast path of a write: a batch that only creates new rows is appended, not rewritten.

A batch qualifies when every request is a create, the file exists with a
header and an id column, none of the batch's ids or crmbridge ids is in the
file yet (looked up in the :class:`~connectors.csv.idindex.IdIndex`, not by
reading the file), every row gets an id, no value needs a column the header
lacks, the file keeps its encoding (no ``write_encoding`` to re-encode to),
its encoding has no state or byte-order mark to repeat, it ends with a line
break, and it has no row the rewrite would give an id. Anything else
returns ``None`` and the batch is rewritten as before, with the same
outcome the append would have had.

The rows are formatted in memory with the file's delimiter and line ending,
encoded without a byte-order mark, and appended with one ``write`` and an
``fsync``, after an intent was committed to the index: see
:mod:`connectors.csv.idindex` for how a cut-off append is undone. A file
replaced or changed while the batch was being appended raises a
:class:`~crmbridge.errors.TransientError`, and the batch is sent again;
one the system refuses to append to (no room left, say) raises a
:class:`~crmbridge.errors.PermanentError` naming it, once the bytes the
append did write were taken off again.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from connectors.csv.columns import EntityColumns, Header
from connectors.csv.dialect import Dialect
from connectors.csv.idindex import FileState, IdIndex, key_cells, layout
from connectors.csv.oserrors import cannot
from connectors.csv.reader import RowIds, Table
from connectors.csv.swap import file_version
from connectors.csv.writer import Batch, fill_id, written_texts
from crmbridge.connector import WriteOp, WriteOutcome, WriteRequest, WriteResult
from crmbridge.errors import TransientError

__all__ = ["append"]

log = logging.getLogger("crmbridge.connectors.csv")

_STATEFUL = ("iso2022", "hz", "utf_7", "utf-7")


def append(
    path: Path,
    columns: EntityColumns,
    requests: Sequence[WriteRequest],
    *,
    dialect: Dialect,
    write_encoding: str | None,
    neutralise: Callable[[str], str],
    restore: Callable[[str], str],
    index: IdIndex,
) -> list[WriteResult] | None:
    """Append a create-only batch to ``path``; ``None`` when it must be rewritten instead."""
    try:
        return _append(path, columns, requests, dialect, write_encoding, neutralise, restore, index)
    except OSError as exc:
        raise cannot("append to the file", path, exc) from None


def _append(
    path: Path,
    columns: EntityColumns,
    requests: Sequence[WriteRequest],
    dialect: Dialect,
    write_encoding: str | None,
    neutralise: Callable[[str], str],
    restore: Callable[[str], str],
    index: IdIndex,
) -> list[WriteResult] | None:
    if not requests or any(req.op is not WriteOp.CREATE for req in requests):
        return None
    if write_encoding is not None and (
        codecs.lookup(write_encoding).name != codecs.lookup(dialect.encoding).name
    ):
        return None
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    if stat.st_size == 0:
        return None
    codec = _bare_codec(path, dialect.encoding)
    if codec is None or not _ends_with_line_break(path, stat.st_size, codec):
        return None
    if write_encoding is None and dialect.writing(written_texts(requests)) != dialect.encoding:
        return None  # the first text beyond ASCII: the rewrite puts a BOM at the start
    with Table.open(path, dialect, columns) as table:
        header = table.header
        if header is None or header.id_index is None:
            return None
        header.check_known()
        probe = Header(path, columns, list(header.raw))
        batch = Batch(probe, requests, dialect.encoding, neutralise)
        if len(probe.raw) != len(header.raw):
            return None  # a value needs a column the header lacks: the rewrite adds it
        rows: list[tuple[str, list[str]]] = []
        for change in batch.creates:
            cells = [""] * len(header.raw)
            for column, value in change.cells.items():
                cells[column] = value
            fill_id(header, cells, change.request.key)
            if not cells[header.id_index].strip():
                return None  # a row without an id gets a derived one: the rewrite numbers those
            rows.append((change.request.key, cells))
        if not rows:
            return list(batch.results.values())  # every request was rejected: nothing to write
        state = index.state()
        shape = layout(header)
        if state is None or not state.same_file(stat, shape):
            state = index.rebuild(stat, header, table.rows())
    if state.needs_fill:
        return None
    wanted = [key for key, _ in rows] + [v for _, cells in rows for v in key_cells(header, cells)]
    if index.known(wanted):
        return None  # a replay, or an id the file has: the rewrite updates those rows
    text = io.StringIO(newline="")
    writer = csv.writer(
        text, delimiter=dialect.delimiter, lineterminator=dialect.newline, quoting=dialect.quoting
    )
    writer.writerows(cells for _, cells in rows)
    data = text.getvalue().encode(codec)
    grown = _write(path, stat, data, index)
    index.finish_append(
        (v for _, cells in rows for v in key_cells(header, cells)), FileState.of(grown, shape)
    )
    stamp = datetime.fromtimestamp(grown.st_mtime, UTC)
    ids = RowIds(header, restore)
    for key, cells in rows:
        batch.results[key] = WriteResult(key, WriteOutcome.CREATED, ids.stated(cells), stamp)
    return list(batch.results.values())


def _write(path: Path, before: os.stat_result, data: bytes, index: IdIndex) -> os.stat_result:
    """Append ``data`` in one write after recording the intent; the file's stat after it."""
    index.begin_append(before.st_ino, before.st_size, before.st_size + len(data))
    try:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        except PermissionError as exc:
            raise TransientError(
                f"{path}: cannot append to the file ({exc.strerror}); is it open in another program?",
                retry_after=60,
            ) from None
        try:
            opened = os.fstat(fd)
            if file_version(opened) != file_version(before):
                raise TransientError(f"{path} changed before it was appended to; sent again")
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        after = os.stat(path)
        if (after.st_ino, after.st_size) != (before.st_ino, before.st_size + len(data)):
            raise TransientError(f"{path} changed while it was being appended to; sent again")
        return after
    except Exception:
        # the process lives on: undo a partial append now (a killed one is undone on next use)
        try:
            index.recover(path)
        except Exception:
            log.exception("%s: could not undo an unfinished append yet", path)
        raise


def _bare_codec(path: Path, encoding: str) -> str | None:
    """The codec appended text is encoded with: the file's, without a byte-order mark.

    ``None`` for a codec with state an append cannot resume (ISO-2022, HZ,
    UTF-7) or a UTF-16/32 file whose byte order is unknown.
    """
    name = codecs.lookup(encoding).name
    if name.startswith(_STATEFUL):
        return None
    if name == "utf-8-sig":
        return "utf-8"
    if name in ("utf-16", "utf-32"):
        with path.open("rb") as handle:
            head = handle.read(4)
        little, big = (
            (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
            if name == "utf-16"
            else (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)
        )
        if head.startswith(little):
            return f"{name}-le"
        if head.startswith(big):
            return f"{name}-be"
        return None
    return name


def _ends_with_line_break(path: Path, size: int, codec: str) -> bool:
    """Whether the file's last row is closed (a file saved without a final line break is not)."""
    end = "\n".encode(codec)
    with path.open("rb") as handle:
        handle.seek(max(0, size - len(end)))
        return handle.read() == end
