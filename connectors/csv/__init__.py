"""CSV files as a two-way connector: one file per entity, real-world files welcome.

Config (``type: csv``; see :class:`CsvSettings`)::

    connectors:
      files:
        type: csv
        directory: data               # relative to the config file's folder
        files: {stakeholders: contacts.csv}   # else the mapping's remote:, else <entity>.csv
        encoding: auto                # or a codec: gb18030, utf-16, utf-8-sig, ...
        write_encoding: null          # null: keep each file's encoding (new files: UTF-8 + BOM)
        delimiter: auto               # , ; or tab, sniffed; or set it
        neutralise_formulas: true
        page_size: 1000               # records per page on a pull
        batch_size: 1000              # records per rewrite on a push

Reading
    UTF-8 with or without BOM, UTF-16/32 (BOM or not), GB18030/GBK and the
    rest of what charset-normalizer recognises, or a declared ``encoding``;
    delimiter sniffed (or Excel's ``sep=;`` line); quoted newlines; header
    names through the mapping's aliases (English, Chinese, Zoho export
    headers; matched case-insensitively), every cell given to the mapping as
    text. Every record's data also holds ``$file`` and ``$line`` (the line the
    row starts on), so a rejected record leads a person to it. A duplicated
    header, or a header none of whose columns the mapping knows, is a
    :class:`~crmbridge.errors.ConfigError` naming the file. A row that cannot
    be read at all (a wrong number of cells, bytes that do not decode, an id
    already used on an earlier line, a quote left open: the csv module reads
    strictly, so one open to the end of the file is an error, and the lines
    such a row takes in are named in its reason) is left out and reported on
    the page as :class:`~crmbridge.connector.Unreadable` (file, line, column, reason), so
    the run keeps it as an ``UNREADABLE`` reject like any other (and a
    migration lists it in its rejects file); the rest go on. The last read's
    are also in :attr:`CsvConnector.file_rejects`. Blank rows are skipped.

External ids
    A row's external id is the value of its id column: the first of the
    mapping's ``remote_id`` aliases the header has (``Record Id`` in a Zoho
    export, ``crmbridge_id`` in a crmbridge export, ``编号``; an
    organisation's ``Account Name``). A row without one gets
    ``row-<hash of its content>`` (``-2``, ``-3`` for identical rows). The
    first push that rewrites the file writes ids into it: a file lacking an id
    column gets one (``Record Id`` with the shipped mapping) and every empty
    id cell of such a pure id column is filled with the row's ``row-<hash>``
    (so existing links stay valid); when the id column is ``crmbridge_id``,
    the rows the push writes get their crmbridge id and the write result
    names it as the new external id, so the engine relinks. A created row's
    id is the one its data gives, else its crmbridge id. Until a row has an
    id, editing it by hand changes its id: the pull reports the old id
    removed and the row as a new one, which the engine matches by identity
    (email, phone, name) to the hub record of the old id and takes as that
    record under a new id, an edit (see
    :func:`crmbridge.sync.deletes.apply_remote_deletions`), never a delete.

Change detection
    Each pull reads the whole file and compares every row, by id and content
    hash, with a snapshot of the previous pull kept in
    ``<directory>/.crmbridge/<connector>-<entity>.snapshot`` (SQLite; see
    :mod:`connectors.csv.snapshot`): it yields only rows added or changed, and
    rows gone from the file as deletions — a file is always read in full, so a
    missing row is an explicit deletion (the job's ``deletes`` policy and
    mass-delete guard still apply). A row that cannot be read is not missing:
    it keeps its state from the snapshot, and while one cannot be told apart
    (no id to read, an id the snapshot never had, or lines a quote left open
    took in) the pull reports no deletions at all and says why in a warning.
    A deletion of a ``row-<hash>`` id is marked ``content_id``: with the new
    row an edit makes, the engine takes it as an edit. The cursor (``snapshot``, ``generation``,
    ``file_mtime_ns``, ``size``) comes only with the last page; a file whose
    modification time and size equal the cursor's is not read at all. A
    missing or empty (0-byte) file deletes nothing: it yields nothing, or one
    empty page when the cursor's file is gone (its unreadable rows settle); a
    missing ``directory`` is a :class:`~crmbridge.errors.ConfigError` naming
    ``connectors.<name>.directory`` (a mistyped folder must not read as no
    rows), as is a ``directory`` that is a file. A connector made with
    ``dry_run=True`` reads changes the same way but keeps its snapshots in a
    temporary copy, so the folder is left as it was. Our own
    writes are not remembered: the next pull reads the rows a push wrote, and
    the engine finds them equal to what it pushed.

Writing
    A batch is one streamed rewrite into a temporary file in the same folder,
    flushed to disk and renamed over the old file: never a half-written file.
    Rows keep their order and every column the mapping does not write; new
    rows go at the end; a file whose header quotes every name (Zoho's exports)
    gets its written rows fully quoted too; a file of plain ASCII read as
    UTF-8 gets a byte-order mark with the first text beyond ASCII written
    into it (Excel on a Chinese Windows reads UTF-8 without one as GBK); a value the mapping writes under an alias the file
    does not use goes to the alias it does use (``Mobile`` into ``手机``), and
    a column the file lacks is added at the end when a value needs it. A
    create whose crmbridge id (or external id) is already in the file adopts
    that row as it is (``ALREADY_CREATED``): a replayed batch never duplicates,
    nor undoes an edit a person made since. Deletes drop the row.
    A value the file's encoding cannot hold rejects its record. A missing
    ``directory`` is created; one that cannot be is a
    :class:`~crmbridge.errors.ConfigError` naming its key. No row is added
    after a last row whose quote the file leaves open (it would be read into
    it): those creates are rejected (``FILE_ENDS_IN_QUOTE``) until the quote
    is closed. One process writes a file at a time: each write holds an
    exclusive lock on ``.crmbridge/<file name>.lock``
    (:mod:`connectors.csv.filelock`), so two migrations into one folder never
    trim each other's appends.

What a file still holds
    ``still_held`` tells a migration which rows it sent are still in the
    file, from the id index (one pass when the file changed), by the id
    column. A missing, emptied or header-only file holds none; a row that
    cannot be read but shows its id is held. A file whose id is a value a
    person may edit (an organisation's name), one with no id column, or a
    header the push would refuse, cannot tell.

Folders and files the system refuses
    A file or folder that cannot be read or written (no right to, no room
    left, a file where a folder should be) fails the run with one line naming
    it and why (:mod:`connectors.csv.oserrors`), never a traceback; the batch
    being written stays in the outbox and is sent again by the next run.

Formulas
    With ``neutralise_formulas`` (the default) a written cell starting with
    ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a ``'`` in front,
    so a spreadsheet shows it instead of running it, and reading removes
    exactly that ``'`` (see :mod:`crmbridge.cells`): ``+8613800138000``
    and ``=SUM(A1)`` come back as they were, and a value that really starts
    with ``'`` does too.
"""

from __future__ import annotations

from connectors.csv.connector import CsvConnector
from connectors.csv.settings import CsvSettings

__all__ = ["CsvConnector", "CsvSettings"]
