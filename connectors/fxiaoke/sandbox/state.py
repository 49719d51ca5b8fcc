"""``SandboxState``: the whole fake tenant in memory — employees, records, tokens, counters.

Handlers and the control API change records only through its methods, so times,
versions and life status stay consistent. The state is single-threaded: it lives
on the server's event loop.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from connectors.fxiaoke.sandbox.faults import FaultInjector
from connectors.fxiaoke.sandbox.options import SandboxOptions
from connectors.fxiaoke.sandbox.schema import ObjectDef, build_objects

__all__ = ["SYSTEM_USER", "Convention", "Employee", "SandboxState", "StoredRecord", "Token"]

Json = dict[str, Any]
Convention = Literal["legacy", "current"]
#: the id workflows and other system actions write as (fact sheet §6)
SYSTEM_USER = "-10000"


@dataclass(frozen=True, slots=True)
class Employee:
    """A CRM employee: the ``1000``-style id (current convention) and the legacy openUserId."""

    employee_id: str
    open_user_id: str
    name: str
    mobile: str

    def ref(self) -> Json:
        """The ``__r`` expansion of an employee field."""
        return {"id": self.employee_id, "name": self.name, "openUserId": self.open_user_id}


@dataclass(slots=True)
class StoredRecord:
    """One record. ``values`` holds the object's own fields as stored (numbers as strings,
    employee fields as employee ids); system fields are attributes."""

    id: str
    api_name: str
    values: Json
    owner: list[str]
    created_by: str
    last_modified_by: str
    create_time: int
    last_modified_time: int
    life_status: str = "normal"
    life_status_before_invalid: str | None = None
    lock_status: str = "0"
    version: int = 1
    record_type: str = "default__c"
    data_own_department: list[str] = field(default_factory=lambda: ["1000"])


@dataclass(slots=True)
class Token:
    """A token of one convention: legacy corpAccessToken or current Bearer accessToken."""

    value: str
    convention: Convention
    issued_at: datetime
    expires_at: datetime
    calls: int = 0


class SandboxState:
    """The fake tenant. Create one per app; ``create_app`` does."""

    def __init__(self, options: SandboxOptions) -> None:
        self.options = options
        self.objects: dict[str, ObjectDef] = build_objects(options.custom_object)
        self.rng = random.Random(options.seed)
        self.faults = FaultInjector(options.fault_spec(), random.Random(options.seed + 1))
        self.admin = Employee(
            "1000", "FSUID_5A1C0E3B7D9F4A2E8C6B1D3F5E7A9C0B", "Sandbox Admin", "13800000000"
        )
        self.remote_user = Employee(
            "1001", "FSUID_0B9C7A5E3F1D2B4C6E8A0D1F3B5C7E9A", "李娜 Li Na", "13800000001"
        )
        self.employees = {e.employee_id: e for e in (self.admin, self.remote_user)}
        self._by_open_id = {e.open_user_id: e for e in self.employees.values()}
        self.clock_offset = timedelta()
        self._machine = self.rng.getrandbits(40)
        self.reset()

    def reset(self) -> None:
        """Forget every record, token and counter (the seeded data is the caller's job)."""
        self.records: dict[str, dict[str, StoredRecord]] = {name: {} for name in self.objects}
        self._counter = 0
        self.tokens: dict[str, Token] = {}
        self.current_token: dict[Convention, Token] = {}
        self.counters: dict[str, int] = {}
        self.endpoint_counters: dict[str, int] = {}
        self.rate_windows: dict[str, deque[float]] = {}
        self.second_window: deque[float] = deque()
        self.token_window: deque[float] = deque()
        self.quota_day = ""
        self.quota_used = 0
        self.journal: deque[Json] = deque(maxlen=500)
        self.third_trace_ids: set[str] = set()
        self.in_flight = 0

    # -- time, ids, counters ---------------------------------------------------------
    def now(self) -> datetime:
        """The sandbox clock: ``options.clock`` plus whatever ``/__sandbox/time`` added."""
        return self.options.clock() + self.clock_offset

    def now_ms(self) -> int:
        """The clock as epoch milliseconds (Fxiaoke's time format)."""
        return int(self.now().timestamp() * 1000)

    def new_id(self, at_ms: int | None = None) -> str:
        """A 24-hex ``_id`` in the style of a MongoDB ObjectId: increasing with time."""
        self._counter += 1
        seconds = (self.now_ms() if at_ms is None else at_ms) // 1000
        return f"{seconds & 0xFFFFFFFF:08x}{self._machine:010x}{self._counter & 0xFFFFFF:06x}"

    def count(self, name: str, n: int = 1) -> None:
        """Bump counter ``name``."""
        self.counters[name] = self.counters.get(name, 0) + n

    # -- employees --------------------------------------------------------------------
    def employee(self, ref: Any) -> Employee | None:
        """The employee named by a ``1000``-style id or a ``FSUID_`` openUserId."""
        text = str(ref)
        return self.employees.get(text) or self._by_open_id.get(text)

    def user_id(self, employee_id: str, convention: Convention) -> str:
        """How an employee id appears on the wire: FSUID_ in legacy, ``1000`` in current."""
        emp = self.employees.get(employee_id)
        if emp is None or convention == "current":
            return employee_id
        return emp.open_user_id

    # -- records ------------------------------------------------------------------------
    def get(self, api_name: str, record_id: str) -> StoredRecord | None:
        """A record (invalidated ones included) by ``_id``."""
        return self.records[api_name].get(record_id)

    def insert(
        self,
        api_name: str,
        values: Json,
        user: str,
        *,
        owner: list[str] | None = None,
        create_time: int | None = None,
        created_by: str | None = None,
    ) -> StoredRecord:
        """Create a record from validated ``values``."""
        now = self.now_ms()
        created = create_time if create_time is not None else now
        rec = StoredRecord(
            id=self.new_id(created),
            api_name=api_name,
            values=values,
            owner=owner or [user],
            created_by=created_by or user,
            last_modified_by=user,
            create_time=created,
            last_modified_time=max(now, created),
        )
        self.records[api_name][rec.id] = rec
        return rec

    def touch(self, rec: StoredRecord, user: str) -> None:
        """Mark a record modified by ``user`` now."""
        rec.last_modified_by = user
        rec.last_modified_time = self.now_ms()
        rec.version += 1

    def update(self, rec: StoredRecord, values: Json, user: str) -> list[str]:
        """Apply validated ``values`` (a partial update); return the fields that changed."""
        changed = [k for k, v in values.items() if rec.values.get(k) != v]
        for key, value in values.items():
            if value is None:
                rec.values.pop(key, None)
            else:
                rec.values[key] = value
        self.touch(rec, user)
        return changed

    def invalidate(self, rec: StoredRecord, user: str) -> None:
        """作废: into the recycle bin, previous status kept."""
        if rec.life_status != "invalid":
            rec.life_status_before_invalid = rec.life_status
            rec.life_status = "invalid"
            self.touch(rec, user)

    def recover(self, rec: StoredRecord, user: str) -> None:
        """Back from the recycle bin to the status it had."""
        if rec.life_status == "invalid":
            rec.life_status = rec.life_status_before_invalid or "normal"
            rec.life_status_before_invalid = None
            self.touch(rec, user)

    def delete(self, rec: StoredRecord) -> None:
        """Remove a record for good."""
        self.records[rec.api_name].pop(rec.id, None)

    # -- tokens -------------------------------------------------------------------------
    def issue_token(self, convention: Convention) -> Token:
        """The live token of ``convention`` while it has time left, else a new one.

        Fxiaoke hands back the same token during the first 6600 of its 7200 s and a
        new one (the old staying valid) after that (fact sheet §2c).
        """
        now = self.now()
        live = self.current_token.get(convention)
        window = timedelta(seconds=self.options.token_renew_window_s)
        if live is not None and live.value in self.tokens and live.expires_at - now > window:
            return live
        value = f"{self.rng.getrandbits(128):032X}"
        token = Token(
            value,
            convention,
            now,
            now + timedelta(seconds=self.options.token_lifetime_s),
        )
        self.tokens[value] = token
        self.current_token[convention] = token
        return token

    def check_token(self, value: str, convention: Convention) -> bool:
        """Whether ``value`` is a live token of ``convention``; counts the call against it."""
        token = self.tokens.get(value)
        if token is None or token.convention != convention:
            return False
        if token.expires_at <= self.now():
            del self.tokens[value]
            return False
        limit = self.options.token_max_calls
        if limit and token.calls >= limit:
            del self.tokens[value]
            return False
        token.calls += 1
        return True

    def expire_tokens(self) -> int:
        """Kill every live token; return how many died."""
        n = len(self.tokens)
        self.tokens.clear()
        self.current_token.clear()
        return n
