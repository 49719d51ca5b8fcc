"""``SandboxState``: the whole fake org in memory — records, deleted log, tokens, channels.

Handlers and the control API mutate it only through its methods, so indexes
(unique fields), the deleted log and the change version stay consistent. The
state is single-threaded: it lives on the server's event loop.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from connectors.zoho.sandbox.errors import invalid_module
from connectors.zoho.sandbox.faults import FaultInjector
from connectors.zoho.sandbox.options import SandboxOptions
from connectors.zoho.sandbox.schema import MODULES, ORG_PREFIX, ModuleDef

__all__ = [
    "AccessToken",
    "Change",
    "Channel",
    "DeletedEntry",
    "PageCursor",
    "SandboxState",
    "StoredRecord",
    "User",
]

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class User:
    """A CRM user (Owner / Created_By / Modified_By)."""

    id: str
    name: str
    email: str

    def ref(self, *, email: bool = True) -> Json:
        """``{name, id[, email]}`` as Zoho returns user lookups."""
        out: Json = {"name": self.name, "id": self.id}
        if email:
            out["email"] = self.email
        return out


@dataclass(slots=True)
class StoredRecord:
    """One live record. ``values`` holds writable fields as stored (lookups as ``{"id"}``)."""

    id: str
    module: str
    created: datetime
    modified: datetime
    owner: User
    created_by: User
    modified_by: User
    values: Json = field(default_factory=dict)
    se_module: str | None = None  # module of What_Id / Parent_Id


@dataclass(frozen=True, slots=True)
class DeletedEntry:
    """One item of ``GET /{Module}/deleted``."""

    id: str
    module: str
    display_name: str | None
    type: Literal["recycle", "permanent"]
    deleted_time: datetime
    deleted_by: User | None
    created_by: User | None


@dataclass(slots=True)
class AccessToken:
    """A live access token and the refresh token that minted it."""

    token: str
    refresh_token: str
    expires_at: datetime


@dataclass(slots=True)
class PageCursor:
    """Where a ``page_token`` chain stands: keyset position and what it is bound to."""

    binding: tuple[Any, ...]
    last_key: tuple[Any, ...]
    served: int
    expires_at: datetime


@dataclass(slots=True)
class Channel:
    """A notification channel (``/actions/watch``)."""

    channel_id: str
    events: list[str]
    notify_url: str
    token: str | None
    expiry: datetime
    return_affected_field_values: bool = False
    notify_on_related_action: bool = True
    notification_condition: Any = None
    renewals: int = 0
    """How many times the channel was enabled or updated again after it was first made."""


@dataclass(frozen=True, slots=True)
class Change:
    """What one write did to one module, for notifications."""

    module: str
    operation: Literal["insert", "update", "delete"]
    ids: list[str]
    affected: dict[str, list[str]]
    values: dict[str, Json]


class SandboxState:
    """The fake org. Create one per app; ``create_app`` does."""

    def __init__(self, options: SandboxOptions) -> None:
        self.options = options
        self.tz = options.tz
        self.rng = random.Random(options.seed)
        self.faults = FaultInjector(options.fault_spec(), random.Random(options.seed + 1))
        self.admin = User(str(ORG_PREFIX + 411001), "Sandbox Admin", "admin@sandbox.crmbridge.test")
        self.remote_user = User(
            str(ORG_PREFIX + 411002), "李娜 Li Na", "li.na@sandbox.crmbridge.test"
        )
        self.users = {u.id: u for u in (self.admin, self.remote_user)}
        self.records: dict[str, dict[str, StoredRecord]] = {m: {} for m in MODULES}
        self.deleted: dict[str, list[DeletedEntry]] = {m: [] for m in MODULES}
        self._unique: dict[tuple[str, str], dict[str, str]] = {}
        self._next_id = 524_001
        self.tags: dict[str, str] = {}
        self.version = 0
        self._sorted_cache: dict[tuple[str, str, bool], tuple[int, list[StoredRecord]]] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.refresh_tokens: dict[str, deque[str]] = {options.refresh_token: deque()}
        self.grant_codes: set[str] = set(options.grant_codes)
        self.page_tokens: dict[str, PageCursor] = {}
        self.channels: dict[str, Channel] = {}
        self.in_flight = 0
        self.counters: dict[str, int] = {}
        self.endpoint_counters: dict[str, int] = {}
        self.notifications_sent = 0
        self.notifications_failed = 0
        self.last_trigger: list[str] | None = None
        #: the notifications.Notifier once the app has started (typed loosely: no import cycle)
        self.notifier: object | None = None

    # -- time and ids ---------------------------------------------------------------
    def now(self) -> datetime:
        """The clock at one-second resolution (Zoho's Modified_Time granularity)."""
        return self.options.clock().replace(microsecond=0)

    def fmt(self, dt: datetime) -> str:
        """``yyyy-MM-ddTHH:mm:ss±HH:MM`` in the user's time zone."""
        return dt.astimezone(self.tz).replace(microsecond=0).isoformat()

    def new_id(self) -> str:
        """A fresh record id: a 19-digit numeric string, increasing."""
        self._next_id += self.rng.randint(1, 7)
        return str(ORG_PREFIX + self._next_id)

    def tag_id(self, name: str) -> str:
        """The id of the tag called ``name`` (Zoho matches tag names regardless of case)."""
        key = name.casefold()
        if key not in self.tags:
            self.tags[key] = str(ORG_PREFIX + 700_001 + len(self.tags))
        return self.tags[key]

    def count(self, name: str, n: int = 1) -> None:
        """Bump counter ``name``."""
        self.counters[name] = self.counters.get(name, 0) + n

    # -- modules and records --------------------------------------------------------
    def module(self, name: str, *, wrapped: bool = False) -> ModuleDef:
        """The module called ``name`` or 400 INVALID_MODULE."""
        mod = MODULES.get(name)
        if mod is None:
            raise invalid_module(wrapped=wrapped)
        return mod

    def get(self, module: str, record_id: str) -> StoredRecord | None:
        """A live record by id."""
        return self.records[module].get(record_id)

    def find_unique(self, module: str, field_name: str, value: Any) -> str | None:
        """Id of the live record whose ``field_name`` equals ``value`` (case-insensitive)."""
        if value is None or value == "":
            return None
        index = self._unique.get((module, field_name))
        if index is None:
            index = self._build_index(module, field_name)
        return index.get(str(value).casefold())

    def _build_index(self, module: str, field_name: str) -> dict[str, str]:
        index: dict[str, str] = {}
        for rec in self.records[module].values():
            value = rec.values.get(field_name)
            if value not in (None, ""):
                index.setdefault(str(value).casefold(), rec.id)
        self._unique[(module, field_name)] = index
        return index

    def _unindex(self, rec: StoredRecord) -> None:
        for (module, field_name), index in self._unique.items():
            value = rec.values.get(field_name)
            if module == rec.module and value not in (None, ""):
                key = str(value).casefold()
                if index.get(key) == rec.id:
                    del index[key]

    def _index(self, rec: StoredRecord) -> None:
        for (module, field_name), index in self._unique.items():
            value = rec.values.get(field_name)
            if module == rec.module and value not in (None, ""):
                index.setdefault(str(value).casefold(), rec.id)

    def insert(
        self, module: str, values: Json, user: User, *, se_module: str | None = None
    ) -> StoredRecord:
        """Create a record with already-validated ``values``."""
        now = self.now()
        owner = self.users.get(str((values.pop("Owner", None) or {}).get("id")), user)
        rec = StoredRecord(self.new_id(), module, now, now, owner, user, user, values, se_module)
        self.records[module][rec.id] = rec
        self._index(rec)
        self.version += 1
        return rec

    def update(
        self, rec: StoredRecord, values: Json, user: User, *, se_module: str | None = None
    ) -> list[str]:
        """Apply validated ``values``; return the api names of the fields whose value changed."""
        owner_ref = values.pop("Owner", None)
        changed = [k for k, v in values.items() if rec.values.get(k) != v]
        if owner_ref and owner_ref.get("id") != rec.owner.id and owner_ref.get("id") in self.users:
            rec.owner = self.users[owner_ref["id"]]
            changed.append("Owner")
        if se_module is not None and se_module != rec.se_module:
            rec.se_module = se_module
        if not changed and not self.options.bump_on_noop:
            return []
        self._unindex(rec)
        rec.values.update(values)
        self._index(rec)
        rec.modified = self.now()
        rec.modified_by = user
        self.version += 1
        return changed

    def delete(self, rec: StoredRecord, user: User) -> DeletedEntry:
        """Move a record to the recycle bin (what the API's DELETE does)."""
        self._unindex(rec)
        del self.records[rec.module][rec.id]
        entry = DeletedEntry(
            rec.id, rec.module, self.display_name(rec), "recycle", self.now(), user, rec.created_by
        )
        if MODULES[rec.module].deleted_api:
            self.deleted[rec.module].append(entry)
        self.version += 1
        return entry

    def purge(self, module: str, ids: Iterable[str] | None = None) -> int:
        """Empty the recycle bin (all or ``ids``): entries become ``permanent``, names gone."""
        n = 0
        wanted = set(ids) if ids is not None else None
        for i, e in enumerate(self.deleted[module]):
            if e.type == "recycle" and (wanted is None or e.id in wanted):
                self.deleted[module][i] = DeletedEntry(
                    e.id, module, None, "permanent", self.now(), None, None
                )
                n += 1
        return n

    def display_name(self, rec: StoredRecord) -> str | None:
        """What Zoho shows as the record's name (lookups' ``name``, deleted ``display_name``)."""
        if rec.module == "Contacts":
            first, last = rec.values.get("First_Name") or "", rec.values.get("Last_Name") or ""
            if _is_cjk(first + last):  # Chinese names read family name first, unspaced
                return f"{last}{first}" or None
            return " ".join(p for p in (first, last) if p) or None
        value = rec.values.get(MODULES[rec.module].display_field)
        return None if value is None else str(value)

    def sorted_records(self, module: str, sort_by: str, descending: bool) -> list[StoredRecord]:
        """Live records in ``sort_by`` order with id as tie-break (cached per change version)."""
        key = (module, sort_by, descending)
        cached = self._sorted_cache.get(key)
        if cached and cached[0] == self.version:
            return cached[1]
        rows = sorted(
            self.records[module].values(), key=lambda r: sort_key(r, sort_by), reverse=descending
        )
        self._sorted_cache[key] = (self.version, rows)
        return rows

    # -- tokens -----------------------------------------------------------------------
    def mint_access_token(self, refresh_token: str) -> AccessToken:
        """A new access token for ``refresh_token``; the 31st live one evicts the oldest."""
        token = AccessToken(
            f"1000.{self.rng.getrandbits(128):032x}.{self.rng.getrandbits(128):032x}",
            refresh_token,
            self.now() + timedelta(seconds=self.options.token_lifetime_s),
        )
        live = self.refresh_tokens[refresh_token]
        live.append(token.token)
        while len(live) > 30:
            self.access_tokens.pop(live.popleft(), None)
        self.access_tokens[token.token] = token
        return token

    def mint_refresh_token(self) -> str:
        """A new refresh token."""
        token = f"1000.{self.rng.getrandbits(128):032x}.{self.rng.getrandbits(128):032x}"
        self.refresh_tokens[token] = deque()
        return token

    def expire_access_tokens(self) -> int:
        """Kill every live access token (refresh tokens stay valid); return how many died."""
        n = len(self.access_tokens)
        self.access_tokens.clear()
        for live in self.refresh_tokens.values():
            live.clear()
        return n

    def check_access_token(self, token: str) -> bool:
        """Whether ``token`` is live now."""
        found = self.access_tokens.get(token)
        return found is not None and found.expires_at > self.options.clock()


def _is_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def sort_key(rec: StoredRecord, sort_by: str) -> tuple[Any, ...]:
    """The ordering key of ``rec`` for ``sort_by`` (id always breaks ties, numerically)."""
    if sort_by == "Modified_Time":
        return (rec.modified, int(rec.id))
    if sort_by == "Created_Time":
        return (rec.created, int(rec.id))
    return (int(rec.id),)
