"""Mapping and validation of pulled pages in a worker process, beside the hub's writes.

A big first sync spends about half its time turning remote records into
canonical content (the mapping, the model's validation, the identity keys)
and the other half matching and writing them in the hub. One process runs
both halves on one core; with a worker process the pull stage hands page
``N + 1`` to the worker and writes page ``N`` meanwhile, so both cores work.

The worker's results are a speculation the run checks, so the outcome is
the one a single process gives:

- the worker resolves relations from the links the run sent: those of the
  page's references, or, when the entities referred to have few enough
  links, all of them with the first page; it reports every lookup it made,
  and a record whose lookups the run's own resolver now answers differently
  (a parent linked by the page written meanwhile, a link gone since) is
  mapped again in the main process; so is one the worker found waiting for
  a parent;
- the validated content is used only for a record with no hub twin (a
  record merged into a twin is validated whole, as before); the worker
  hands it over with its identity keys and its link's shadow and hash,
  so creating such a record costs the run little more than the writes.

Mappers hold compiled functions that cannot be pickled: a
:class:`PortableMappers` carries a picklable ``rebuild`` that builds the
same mappers in the worker.
"""

from __future__ import annotations

import asyncio
import logging
import marshal
import multiprocessing
import pickle
import signal
import struct
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from crmbridge.connector import RemoteRecord
from crmbridge.errors import RecordRejected
from crmbridge.heap import tune
from crmbridge.lifetime import die_with_parent
from crmbridge.model import content_hash, identity_index_keys
from crmbridge.sync.balance import Balance
from crmbridge.sync.matcher import identity_keys
from crmbridge.sync.ports import EntityMapper, RelationPending
from crmbridge.sync.values import said_fields, validated_content

__all__ = [
    "Answer",
    "Fresh",
    "PagePreparer",
    "PortableMappers",
    "Prepared",
    "Shipped",
    "fresh_record",
    "page_request",
    "received",
]

log = logging.getLogger("crmbridge.sync")

MIN_PAGE = 200
"""Smaller pages are mapped in the main process: shipping them costs more than it saves."""

Lookup = tuple[tuple[str, str], str | None]


class PortableMappers(dict[str, EntityMapper]):
    """Mappers by entity that can be built again in another process.

    ``rebuild`` is a picklable callable returning the same mappers;
    ``workers`` is how many worker processes a run may use for them (0: none);
    ``files`` the mapping files they were compiled from.
    """

    def __init__(
        self,
        mappers: Mapping[str, EntityMapper],
        rebuild: Callable[[], Mapping[str, EntityMapper]],
        workers: int,
        *,
        files: Sequence[Path] = (),
    ) -> None:
        super().__init__(mappers)
        self.rebuild = rebuild
        self.workers = workers
        self.files = tuple(files)


class Rejection(NamedTuple):
    """A :class:`RecordRejected` as plain, picklable values."""

    message: str
    code: str
    field: str | None

    def error(self, entity: str) -> RecordRejected:
        """The exception again."""
        return RecordRejected(self.message, code=self.code, entity=entity, field=self.field)


class Fresh(NamedTuple):
    """A record with no hub twin, ready to write: what a first sync writes of it.

    ``content`` and ``digest`` are the record's validated content and its
    hash, ``index_keys`` its identity keys in the hub; ``remote`` the fields
    the remote record holds, as stored (its link's shadow), with
    ``remote_hash``; ``record_id`` the crmbridge id it carries, if any. Both
    are JSON, encoded (see :class:`~crmbridge.encoded.Encoded`).
    """

    content: bytes
    digest: str
    index_keys: tuple[tuple[str, str], ...]
    remote: bytes
    remote_hash: str
    record_id: str | None


class Prepared(NamedTuple):
    """What the worker made of one remote record (a tuple: a page of them unpickles fast).

    ``flat`` is the canonical values, or ``None`` with ``rejected`` when the
    mapping refused the record; ``keys`` its identity keys; ``fresh`` the
    record ready to write when it has no hub twin (or ``invalid``: why its
    values fail validation); ``lookups`` every relation it resolved.
    """

    flat: dict[str, Any] | None
    rejected: Rejection | None
    keys: list[tuple[str, str]]
    fresh: Fresh | None
    invalid: Rejection | None
    lookups: tuple[Lookup, ...]

    def holds(self, resolve: Callable[[str, str], str | None]) -> bool:
        """Whether every relation still resolves as the worker saw it."""
        return all(resolve(entity, ext) == found for (entity, ext), found in self.lookups)


class _Lookups:
    """A resolver over the links the run sent, noting each answer it gives."""

    def __init__(self, links: Mapping[tuple[str, str], str | None]) -> None:
        self.links = links
        self.seen: list[Lookup] = []

    def to_canonical(self, entity: str, external_id: str) -> str | None:
        found = self.links.get((entity, external_id))
        self.seen.append(((entity, external_id), found))
        return found

    def to_remote(self, entity: str, record_id: str) -> str | None:
        raise NotImplementedError("a pull worker maps remote records to the hub only")


_mappers: Mapping[str, EntityMapper] = {}
_known: dict[tuple[str, str], str | None] = {}
"""Every link the run sent so far (a request sends its page's, or a parent entity's whole
table once): an answer gone stale since is caught by :meth:`Prepared.holds` in the run."""


def _start(rebuild: Callable[[], Mapping[str, EntityMapper]], keep_on_hangup: bool) -> None:
    global _mappers
    die_with_parent()  # a run killed outright leaves no worker behind
    if keep_on_hangup:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # only asked where there is one
    tune()
    _mappers = rebuild()


def _rejection(exc: RecordRejected) -> Rejection:
    return Rejection(exc.message, exc.code, exc.field)


def prepare_records(
    mapper: EntityMapper,
    records: Sequence[tuple[str, Mapping[str, Any]]],
    links: Mapping[tuple[str, str], str | None],
    region: str | None,
) -> dict[str, Prepared | None]:
    """Map, key and validate ``(external id, data)`` pairs; ``None`` for one to map in the run."""
    out: dict[str, Prepared | None] = {}
    for ext, data in records:
        lookups = _Lookups(links)
        try:
            flat = mapper.to_canonical(data, lookups)
        except RelationPending:
            out[ext] = None
            continue
        except RecordRejected as exc:
            out[ext] = Prepared(None, _rejection(exc), [], None, None, tuple(lookups.seen))
            continue
        keys = identity_keys(mapper.entity, mapper.identity, flat, region)
        fresh: Fresh | None = None
        invalid: Rejection | None = None
        try:
            fresh = fresh_record(mapper, flat, region)
        except RecordRejected as exc:
            invalid = _rejection(exc)
        out[ext] = Prepared(flat, None, keys, fresh, invalid, tuple(lookups.seen))
    return out


def fresh_record(mapper: EntityMapper, flat: Mapping[str, Any], region: str | None) -> Fresh:
    """``flat`` as a new hub record and its link would store it (see :func:`remote_fields`).

    Raises :class:`RecordRejected` when its values do not validate.
    """
    content, digest = validated_content(mapper.entity, flat, phone_region=region)
    remote = said_fields(mapper.fields, flat, content)
    return Fresh(
        orjson.dumps(content),
        digest,
        tuple(identity_index_keys(mapper.entity, content)),
        orjson.dumps(remote),
        content_hash(remote),
        flat.get("id") or None,
    )


def page_request(
    entity: str,
    records: Sequence[RemoteRecord],
    links: Mapping[tuple[str, str], str | None],
    region: str | None,
) -> bytes:
    """A page as the worker takes it: the last record of each external id, encoded.

    A page whose records' data are all :class:`~crmbridge.connector.JsonRow`
    goes as JSON; any other, or one JSON cannot hold, is pickled: a record's
    data as it is when it pickles (a connector's own mapping type may pickle
    as a plain dict), else as a dict copy. Raises what pickling raises when
    even that fails.
    """
    latest = {r.external_id: r.data for r in records}
    try:
        return _as_json(entity, latest, links, region)
    except (AttributeError, TypeError):  # not JsonRows, or values JSON cannot carry
        pass
    try:
        return _PICKLED + pickle.dumps(
            (entity, list(latest.items()), dict(links), region), pickle.HIGHEST_PROTOCOL
        )
    except Exception:
        plain = [(ext, dict(data)) for ext, data in latest.items()]
        return _PICKLED + pickle.dumps(
            (entity, plain, dict(links), region), pickle.HIGHEST_PROTOCOL
        )


_PICKLED, _JSON = b"P", b"J"


def _as_json(
    entity: str,
    latest: Mapping[str, Any],
    links: Mapping[tuple[str, str], str | None],
    region: str | None,
) -> bytes:
    """The request as JSON; ``AttributeError`` when a record's data is not a
    :class:`~crmbridge.connector.JsonRow`, ``TypeError`` when JSON cannot carry it."""
    keys: dict[tuple[str, ...], int] = {}
    rows: list[tuple[str, int, list[Any]]] = []
    for ext, data in latest.items():
        names, values = data.json_row()
        at = keys.get(names)
        if at is None:
            at = keys[names] = len(keys)
        rows.append((ext, at, values))
    return _JSON + orjson.dumps(
        (entity, region, [(*ref, found) for ref, found in links.items()], list(keys), rows),
        # what JSON would give back as another type raises instead, so the page is pickled
        option=orjson.OPT_PASSTHROUGH_DATETIME
        | orjson.OPT_PASSTHROUGH_SUBCLASS
        | orjson.OPT_PASSTHROUGH_DATACLASS,
    )


def _read_request(
    request: bytes,
) -> tuple[str, list[tuple[str, Mapping[str, Any]]], dict[tuple[str, str], str | None], str | None]:
    """A :func:`page_request` again: entity, ``(external id, data)`` pairs, links, region."""
    if request[:1] == _PICKLED:
        done: tuple[Any, Any, Any, Any] = pickle.loads(request[1:])
        return done
    entity, region, links, keys, rows = orjson.loads(request[1:])
    keyed = [tuple(k) for k in keys]
    return (
        entity,
        [(ext, dict(zip(keyed[at], values, strict=True))) for ext, at, values in rows],
        {(e, x): found for e, x, found in links},
        region,
    )


def _ready() -> bool:
    """Nothing: the worker answers once it has started and built its mappers."""
    return True


Shipped = bytes
"""A page's :class:`Prepared` records as :func:`_prepare_in_worker` sends them back."""

_new_tuple = tuple.__new__
_MARSHALLED = b"M"
_TIMING = struct.Struct("<dd")


class Answer(NamedTuple):
    """The worker's answer for a page: its records, and when and how long it worked on them."""

    prepared: dict[str, Prepared | None]
    finished: float
    """:func:`time.monotonic` when the worker finished (one clock for every process)."""
    busy: float
    """CPU seconds the worker spent on the page."""


def _prepare_in_worker(request: bytes) -> Shipped:
    """A page's work, encoded: a plain tuple per record (``ext`` alone: map it in the run).

    The tuples go as :mod:`marshal` writes them: the run's process and the worker
    are one interpreter, and marshal writes and reads plain tuples, strings and
    dicts several times faster than pickle, which remembers every object it
    writes. A page holding a value marshal cannot write (a date a mapping made)
    is pickled instead.
    """
    started = time.process_time()
    entity, records, links, region = _read_request(request)
    _known.update(links)
    done = prepare_records(_mappers[entity], records, _known, region)
    plain = [
        ext
        if p is None
        else (
            ext,
            p.flat,
            p.rejected and tuple(p.rejected),
            p.keys,
            p.fresh and tuple(p.fresh),
            p.invalid and tuple(p.invalid),
            p.lookups,
        )
        for ext, p in done.items()
    ]
    try:
        body = _MARSHALLED + marshal.dumps(plain)
    except ValueError:  # a value marshal cannot write
        body = _PICKLED + pickle.dumps(plain, pickle.HIGHEST_PROTOCOL)
    return _TIMING.pack(time.monotonic(), time.process_time() - started) + body


def received(shipped: Shipped) -> Answer:
    """What :func:`_prepare_in_worker` shipped: :class:`Prepared` records by external id."""
    finished, busy = _TIMING.unpack_from(shipped)
    at = _TIMING.size
    body = memoryview(shipped)[at + 1 :]
    items: list[Any] = (
        marshal.loads(body) if shipped[at : at + 1] == _MARSHALLED else pickle.loads(body)
    )
    out: dict[str, Prepared | None] = {}
    for item in items:
        if isinstance(item, str):
            out[item] = None
            continue
        ext, flat, rejected, keys, fresh, invalid, lookups = item
        if fresh is not None:
            fresh = _new_tuple(Fresh, fresh)
        if rejected is not None:
            rejected = _new_tuple(Rejection, rejected)
        if invalid is not None:
            invalid = _new_tuple(Rejection, invalid)
        out[ext] = _new_tuple(Prepared, (flat, rejected, keys, fresh, invalid, lookups))
    return Answer(out, finished, busy)


@contextmanager
def _main_script_hidden() -> Iterator[None]:
    """Keep a process spawned meanwhile from running the parent's main script first.

    A spawned child runs the script its parent was started as (as ``__mp_main__``)
    before anything else, so that what the script defines can be unpickled there.
    The worker needs none of it: for the ``crmbridge`` command that script imports
    the whole command line, a second or more and some 30 MB before the worker
    can start. A main module run with ``-m`` is left alone (a child skips a
    ``__main__`` module itself).
    """
    main = sys.modules.get("__main__")
    script = getattr(main, "__file__", None)
    if main is None or script is None or getattr(main, "__spec__", None) is not None:
        yield
        return
    del main.__file__
    try:
        yield
    finally:
        main.__file__ = script


def _keeps_on_hangup() -> bool:
    """Whether this process outlives a SIGHUP (``crmbridge run`` logs it), so its worker must."""
    hangup = getattr(signal, "SIGHUP", None)  # none on Windows
    return hangup is not None and signal.getsignal(hangup) not in (signal.SIG_DFL, None)


class PagePreparer:
    """A worker process preparing pages for one run; started on the first page worth it.

    Starting a worker takes a moment (a new interpreter imports crmbridge and
    compiles the mappings): pages that come meanwhile are mapped in the run's
    own process, which would otherwise wait, unless ``wait_for_start`` is set.
    """

    wait_for_start = False
    """Hand every page worth it to the worker, waiting for it to start (the tests set it)."""

    def __init__(self, rebuild: Callable[[], Mapping[str, EntityMapper]]) -> None:
        self.rebuild = rebuild
        self.balance = Balance()
        """The part of each page the run maps itself (see :mod:`crmbridge.sync.balance`)."""
        self._pool: Executor | None = None
        self._started: Future[bool] | None = None
        self._broken = False

    def to_send(self, records: Sequence[RemoteRecord]) -> Sequence[RemoteRecord]:
        """The records of a page (one per external id) the worker should map: all but the
        last :attr:`balance` keeps for the run, and never too few to be worth sending."""
        kept = min(self.balance.kept(len(records)), max(0, len(records) - MIN_PAGE))
        return records[: len(records) - kept]

    def wants(self, records: Sequence[RemoteRecord]) -> bool:
        """Whether a page is big enough to ship to the worker, and the worker is up.

        The first page big enough starts the worker.
        """
        if self._broken or len(records) < MIN_PAGE:
            return False
        if self._pool is None:
            # spawn, not fork: the run's process has threads and open database connections
            self._pool = ProcessPoolExecutor(
                1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start,
                initargs=(self.rebuild, _keeps_on_hangup()),
            )
            with _main_script_hidden():  # the first submit starts the process
                self._started = self._pool.submit(_ready)
        assert self._started is not None
        if not self._started.done() and not self.wait_for_start:
            return False
        try:
            self._started.result()
        except Exception:
            log.warning("the mapping worker did not start; mapping here", exc_info=True)
            self.disable()
            return False
        return True

    @property
    def broken(self) -> bool:
        """Whether the worker failed this run (every page is mapped in the run since)."""
        return self._broken

    def disable(self) -> None:
        """Stop using the worker for the rest of the run (it failed)."""
        self._broken = True
        self.close()

    def submit(
        self,
        entity: str,
        records: Sequence[RemoteRecord],
        links: Mapping[tuple[str, str], str | None],
        region: str | None,
    ) -> asyncio.Future[Shipped]:
        """Start preparing a page (the last record of an external id counts); a future of it.

        Only after :meth:`wants` said yes.
        """
        assert self._pool is not None
        request = page_request(entity, records, links, region)
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self._pool, _prepare_in_worker, request)

    def close(self) -> None:
        """Stop the worker (it has nothing left to do)."""
        if self._pool is not None:
            # the run does not wait for the worker to exit (its interpreter takes a while to
            # tear down): the pool's own thread reaps it, and the interpreter waits for that
            # at its exit
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
            self._started = None
