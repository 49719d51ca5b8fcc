"""The CSV connector: one file per entity, read incrementally, written atomically (or appended)."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sqlite3
import tempfile
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from connectors.csv.append import append
from connectors.csv.columns import EntityColumns, IdKind
from connectors.csv.dialect import Dialect, detect_dialect
from connectors.csv.filelock import writing
from connectors.csv.idindex import IdIndex, layout
from connectors.csv.oserrors import cannot, check_folder
from connectors.csv.pages import fetch_rows, list_pages, pull_pages
from connectors.csv.reader import FileReject, Table
from connectors.csv.settings import CsvSettings
from connectors.csv.snapshot import Snapshot
from connectors.csv.writer import rewrite
from crmbridge.cells import neutralise, restore
from crmbridge.connector import (
    Capabilities,
    ConnectorContext,
    ConnectorSettings,
    Cursor,
    Page,
    RemoteRecord,
    WriteRequest,
    WriteResult,
)
from crmbridge.errors import ConfigError, PermanentError
from crmbridge.mapping import CompiledMapping
from crmbridge.model import ENTITY_ORDER

__all__ = ["CsvConnector"]

log = logging.getLogger("crmbridge.connectors.csv")
T = TypeVar("T")


def _same(value: str) -> str:
    return value


class CsvConnector:
    """CSV files as a remote: see :mod:`connectors.csv` for the rules.

    ``mapping`` (a path or shipped name, as in a config's ``mapping:``) is the
    mapping whose header aliases and id columns the connector reads files
    with; without it the context's ``mapping`` is used, else the shipped
    ``csv`` mapping. With ``dry_run`` it leaves no trace in the folder: its
    change snapshots are kept in a temporary copy, removed on :meth:`close`,
    and an append a killed process left half-done is not undone yet.
    """

    type_name: ClassVar[str] = "csv"
    capabilities: ClassVar[Capabilities] = Capabilities(
        entities=ENTITY_ORDER,
        read=True,
        write=True,
        delete=True,
        incremental=True,
        push_notifications=False,
        fetch_by_ids=True,
        lists_records=True,
    )
    settings_model: ClassVar[type[ConnectorSettings]] = CsvSettings

    def __init__(
        self,
        name: str = "csv",
        settings: ConnectorSettings | None = None,
        context: ConnectorContext | None = None,
        *,
        mapping: str | None = None,
        dry_run: bool = False,
    ) -> None:
        if settings is not None and not isinstance(settings, CsvSettings):
            raise TypeError(f"CsvConnector takes CsvSettings, not {type(settings).__name__}")
        self.name = name
        self.settings = settings or CsvSettings()
        self.context = context or ConnectorContext()
        self.directory = Path(self.context.base_dir) / self.settings.directory
        self.batch_size = self.settings.batch_size
        self.concurrency = 1
        self.mapping = mapping or self.context.mapping
        self.dry_run = dry_run or self.context.dry_run
        self._scratch: Path | None = None
        self._compiled: CompiledMapping | None = None
        self._columns: dict[str, EntityColumns] = {}
        self._snapshots: dict[str, Snapshot] = {}
        self._indexes: dict[str, IdIndex] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._rejects: list[FileReject] = []
        self.restore: Callable[[str], str] = restore if self.settings.neutralise_formulas else _same
        self.neutralise: Callable[[str], str] = (
            neutralise if self.settings.neutralise_formulas else _same
        )

    @property
    def file_rejects(self) -> list[dict[str, Any]]:
        """Rows the last read of each file could not take: ``file``, ``line``, ``column``, ``reason``.

        These never reach the mapping (too few or too many cells, bytes that
        do not decode, an id already used higher up), so the engine cannot
        reject them; a migration report lists them beside the engine's rejects.
        """
        return [r.as_dict() for r in self._rejects]

    def _mapping(self) -> CompiledMapping:
        if self._compiled is None:
            from crmbridge.mapping.validate import load_connector_mapping

            self._compiled = load_connector_mapping(
                self.name,
                self.type_name,
                self.mapping,
                base_dir=self.context.base_dir,
                phone_region=self.context.phone_region,
                timezone=self.context.timezone,
            )
        return self._compiled

    def columns(self, entity: str) -> EntityColumns:
        """The columns the mapping gives ``entity``; :class:`ConfigError` if it does not map it."""
        found = self._columns.get(entity)
        if found is None:
            spec = self._mapping().spec
            if entity not in spec.entities:
                raise ConfigError(
                    f"the mapping maps no {entity}; it maps {', '.join(spec.entities)}",
                    path=str(spec.path),
                    connector=self.name,
                    entity=entity,
                )
            found = self._columns[entity] = EntityColumns.from_spec(spec.entities[entity])
        return found

    def path(self, entity: str) -> Path:
        """The file of ``entity``: ``files:``, else the mapping's ``remote:``, else ``<entity>.csv``."""
        name = self.settings.files.get(entity)
        if name is None:
            spec = self._mapping().spec.entities.get(entity)
            remote = spec.remote if spec is not None else None
            name = remote if remote and remote.lower().endswith((".csv", ".tsv", ".txt")) else None
        return self.directory / (name or f"{entity}.csv")

    def snapshot_path(self, entity: str) -> Path:
        """Where the change snapshot of ``entity`` is kept."""
        return self.directory / ".crmbridge" / f"{self.name}-{entity}.snapshot"

    def index_path(self, entity: str) -> Path:
        """Where the id index of ``entity``'s file is kept (see :mod:`connectors.csv.idindex`)."""
        return self.directory / ".crmbridge" / f"{self.name}-{entity}.ids"

    def _index(self, entity: str) -> IdIndex:
        """The id index of ``entity``'s file: in a dry run, a new one outside the folder."""
        found = self._indexes.get(entity)
        if found is None:
            path = self.index_path(entity)
            if self.dry_run:
                path = self._scratch_folder() / path.name
            found = self._indexes[entity] = IdIndex(path)
        return found

    def _scratch_folder(self) -> Path:
        """A folder of this connector's own, for a dry run's copies; removed on close."""
        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix="crmbridge-dry-run-"))
        return self._scratch

    @contextmanager
    def _refused(self, doing: str, path: Path, entity: str) -> Iterator[None]:
        """An :class:`OSError` while ``doing`` something to ``path`` fails the run, naming it."""
        try:
            yield
        except OSError as exc:
            raise cannot(doing, path, exc, connector=self.name, entity=entity) from None

    @contextmanager
    def _keeping(self, entity: str) -> Iterator[None]:
        """A failure of the change snapshot's database fails the run, naming its file."""
        try:
            yield
        except sqlite3.Error as exc:
            raise PermanentError(
                f"{self.snapshot_path(entity)}: cannot keep the change snapshot: {exc}",
                connector=self.name,
                entity=entity,
            ) from None

    async def _check_folder(self, *, create: bool) -> None:
        """:class:`ConfigError` unless ``directory`` is a folder (made first when ``create``)."""
        await asyncio.to_thread(
            check_folder,
            self.directory,
            key=f"connectors.{self.name}.directory",
            create=create,
            connector=self.name,
            path=self.context.config_path,
        )

    async def _folder_to_read(self) -> bool:
        """Whether there is a ``directory`` to read: :class:`ConfigError` if it is missing,
        unless this connector serves a migration's target (then ``False``)."""
        if self.context.migration_target and not self.directory.exists():
            return False
        await self._check_folder(create=False)
        return True

    async def _recover(self, entity: str, path: Path) -> None:
        """Undo an append a killed process left half-done, before the file is read or written.

        Not in a dry run, which changes no file: it reads such a file's cut-off
        last row as a row that cannot be read.
        """
        if self.dry_run:
            return
        async with self._locks.setdefault(entity, asyncio.Lock()):
            with self._refused("check the file for an unfinished append", path, entity):
                await asyncio.to_thread(self._locked, path, self._index(entity).recover, path)

    async def open(self) -> None:
        """Load the mapping, so a bad one fails before any file is touched."""
        self._mapping()

    async def close(self) -> None:
        """Close the snapshot and id index files."""
        for snapshot in self._snapshots.values():
            snapshot.close()
        self._snapshots.clear()
        for index in self._indexes.values():
            index.close()
        self._indexes.clear()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def _snapshot(self, entity: str) -> Snapshot:
        """The change snapshot of ``entity``: in a dry run, a copy outside the folder."""
        found = self._snapshots.get(entity)
        if found is None:
            path = self.snapshot_path(entity)
            if self.dry_run:
                path = _copy_of(path, self._scratch_folder() / path.name)
            found = self._snapshots[entity] = Snapshot(path)
        return found

    def _dialect(self, entity: str, path: Path) -> Dialect:
        conf = self.settings
        recognised = self.columns(entity).recognised
        return detect_dialect(path, conf.encoding, conf.delimiter, recognised)

    def _new_dialect(self) -> Dialect:
        conf = self.settings
        encoding = conf.write_encoding or (
            conf.encoding if conf.encoding != "auto" else "utf-8-sig"
        )
        delimiter = conf.delimiter if conf.delimiter != "auto" else ","
        return Dialect(encoding, delimiter)

    def _open_table(self, entity: str, path: Path) -> Table:
        table = Table.open(path, self._dialect(entity, path), self.columns(entity))
        if table.header is not None:
            try:
                table.header.check_known()
            except BaseException:
                table.close()
                raise
        return table

    async def _readable(self, entity: str) -> tuple[Path, os.stat_result] | None:
        """The entity's file and its status once it is safe to read; ``None`` when there is
        nothing to read (a migration target's folder not made yet, no file, an empty one)."""
        if not await self._folder_to_read():
            return None
        path = self.path(entity)
        await self._recover(entity, path)
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise cannot("read the file", path, exc, connector=self.name, entity=entity) from None
        return None if stat.st_size == 0 else (path, stat)

    async def read_changes(self, entity: str, cursor: Cursor | None) -> AsyncGenerator[Page, None]:
        """Pages of the rows added, changed or removed since ``cursor`` (``None``: every row).

        A missing or empty file has no rows and removes none; an unchanged
        file (same modification time and size as the cursor's) yields nothing.
        A ``directory`` that is not there is a :class:`ConfigError`: most
        likely a typo, which reading as empty would hide; for a migration's
        target, which the migration makes, it has no rows. When the file the
        cursor read is gone or emptied, one empty page says it was read: the
        rows it could not read before are settled.
        """
        readable = await self._readable(entity)
        if readable is None:
            if cursor and cursor.get("file_mtime_ns") is not None:
                self._rejects = [r for r in self._rejects if r.entity != entity]
                yield Page(cursor={**cursor, "file_mtime_ns": None, "size": None})
            return
        path, stat = readable
        if cursor and (cursor.get("file_mtime_ns"), cursor.get("size")) == (
            stat.st_mtime_ns,
            stat.st_size,
        ):
            return
        with self._refused("read the file", path, entity):
            table = await asyncio.to_thread(self._open_table, entity, path)
        try:
            with self._refused("read the file", path, entity), self._keeping(entity):
                snapshot = await asyncio.to_thread(self._snapshot, entity)
                base = cursor or {}
                run = await asyncio.to_thread(
                    snapshot.begin, base.get("snapshot"), base.get("generation")
                )
                self._rejects = [r for r in self._rejects if r.entity != entity]
                before = len(self._rejects)
                pages = pull_pages(
                    table,
                    run,
                    page_size=self.settings.page_size,
                    restore=self.restore,
                    modified=datetime.fromtimestamp(stat.st_mtime, UTC),
                    cursor={
                        "snapshot": run.lineage,
                        "generation": run.gen,
                        "file_mtime_ns": stat.st_mtime_ns,
                        "size": stat.st_size,
                    },
                    rejects=self._rejects,
                    entity=entity,
                )
                notes = table.header.notes() if table.header is not None else []
                async for page in _in_threads(pages):
                    page.warnings.extend(notes)  # with the first page, once
                    notes = []
                    yield page
            if len(self._rejects) > before:
                log.warning(
                    "%s: %d rows could not be read and were left out (first: line %d, %s)",
                    path,
                    len(self._rejects) - before,
                    self._rejects[before].line,
                    self._rejects[before].reason,
                )
        finally:
            table.close()

    async def write(self, entity: str, requests: Sequence[WriteRequest]) -> list[WriteResult]:
        """Apply one batch to the entity's file: appended if it only creates, else rewritten.

        A missing ``directory`` is created; one that cannot be is a :class:`ConfigError`.
        """
        path = self.path(entity)
        columns = self.columns(entity)
        await self._check_folder(create=True)
        lock = self._locks.setdefault(entity, asyncio.Lock())
        async with lock:
            return await asyncio.to_thread(
                self._locked, path, self._write_batch, entity, path, columns, requests
            )

    @staticmethod
    def _locked(path: Path, work: Callable[..., T], *args: Any) -> T:
        """``work(*args)`` holding the file's lock against other processes."""
        with writing(path):
            return work(*args)

    def _write_batch(
        self,
        entity: str,
        path: Path,
        columns: EntityColumns,
        requests: Sequence[WriteRequest],
    ) -> list[WriteResult]:
        """Undo a cut-off append, then append the batch when it only creates, else rewrite
        the file: all under one hold of its lock."""
        index = self._index(entity)
        with self._refused("read the file", path, entity):
            index.recover(path)
            dialect = self._dialect(entity, path) if path.exists() and path.stat().st_size else None
        common: dict[str, Any] = {
            "write_encoding": self.settings.write_encoding,
            "neutralise": self.neutralise,
            "restore": self.restore,
        }
        if dialect is not None:
            appended = append(path, columns, requests, dialect=dialect, index=index, **common)
            if appended is not None:
                return appended
        return rewrite(path, columns, requests, dialect=dialect or self._new_dialect(), **common)

    async def list_records(self, entity: str) -> AsyncGenerator[Page, None]:
        """Pages of every row of the entity's file, keeping no snapshot (none from a missing file).

        A migration lists its target this way to find the rows it already holds.
        """
        readable = await self._readable(entity)
        if readable is None:
            return
        path, stat = readable
        with self._refused("read the file", path, entity):
            table = await asyncio.to_thread(self._open_table, entity, path)
        try:
            with self._refused("read the file", path, entity):
                pages = list_pages(
                    table,
                    page_size=self.settings.page_size,
                    restore=self.restore,
                    modified=datetime.fromtimestamp(stat.st_mtime, UTC),
                    entity=entity,
                )
                async for page in _in_threads(pages):
                    yield page
        finally:
            table.close()

    async def still_held(self, entity: str, linked: Mapping[str, str]) -> set[str] | None:
        """Those of ``linked``'s external ids whose rows the entity's file still holds, looked
        up in its id index (rebuilt with one pass when the file changed); none from a
        missing file, or one with no header. A row that cannot be read but shows its id
        is held.

        A row is found by its id column when that holds ids (``Record Id``,
        ``crmbridge_id``); in a file without one, by its record's crmbridge id.
        ``None`` when the id is a value a person may edit (organisations'
        ``Account Name``: a renamed row would read as gone), when neither column is
        in the file (a changed row cannot be told from a removed one), or when its
        header cannot be read.
        """
        readable = await self._readable(entity)
        if readable is None:
            return set()
        path = readable[0]
        async with self._locks.setdefault(entity, asyncio.Lock()):
            with self._refused("read the file", path, entity):
                if self.dry_run:  # which takes no lock: it would make the lock file
                    return await asyncio.to_thread(self._held, entity, path, linked)
                return await asyncio.to_thread(self._locked, path, self._held, entity, path, linked)

    def _held(self, entity: str, path: Path, linked: Mapping[str, str]) -> set[str] | None:
        index = self._index(entity)
        stat = os.stat(path)
        try:
            table = self._open_table(entity, path)
        except ConfigError:  # a header the push would refuse too, saying why
            return None
        with table:
            header = table.header
            if header is None:
                return set()
            if header.id_kind is IdKind.FIELD:
                return None  # a name a person may edit: its row renamed reads as gone
            by_record = header.id_index is None
            if by_record and not header.key_indices:
                return None
            state = index.state()
            if state is None or not state.same_file(stat, layout(header)):
                index.rebuild(stat, header, table.rows())
        if by_record:
            known = index.known(linked.values())
            return {external_id for external_id, record_id in linked.items() if record_id in known}
        # the index holds cells as the file has them: an id beginning like a formula may
        # have been written with the quote that keeps a spreadsheet from running it
        cells = {external_id: self.neutralise(external_id) for external_id in linked}
        known = index.known([*cells, *cells.values()])
        return {external_id for external_id, cell in cells.items() if {external_id, cell} & known}

    async def fetch(self, entity: str, external_ids: Sequence[str]) -> list[RemoteRecord]:
        """The rows with these ids (streaming the file once); none from a missing file."""
        readable = await self._readable(entity)
        if readable is None:
            return []
        path, stat = readable
        modified = datetime.fromtimestamp(stat.st_mtime, UTC)

        def read() -> list[RemoteRecord]:
            with self._open_table(entity, path) as table:
                return fetch_rows(table, set(external_ids), restore=self.restore, modified=modified)

        with self._refused("read the file", path, entity):
            return await asyncio.to_thread(read)


def _copy_of(source: Path, copy: Path) -> Path:
    """``copy`` holding what the SQLite file ``source`` holds (nothing if it is not there).

    The bytes are copied, its write-ahead log with them: opening ``source``
    itself, even read-only, would leave SQLite's shared-memory file beside it.
    """
    for suffix in ("", "-wal"):
        with suppress(FileNotFoundError):
            shutil.copyfile(f"{source}{suffix}", f"{copy}{suffix}")
    return copy


async def _in_threads(pages: Iterator[T]) -> AsyncIterator[T]:
    """Run each step of a blocking iterator in a worker thread, so the event loop stays free.

    A step still running in its thread when the reading is cancelled (a run interrupted) is
    waited for before the iterator is closed: it reads files the connector closes next, and
    SQLite closed under a running statement crashes the process.
    """
    done = object()
    step: asyncio.Future[Any] | None = None
    try:
        while True:
            step = asyncio.ensure_future(asyncio.to_thread(next, pages, done))
            item = await asyncio.shield(step)
            if item is done:
                return
            yield item
    finally:
        if step is not None and not step.done():
            await asyncio.wait([step])
        close = getattr(pages, "close", None)
        if close is not None:
            close()
