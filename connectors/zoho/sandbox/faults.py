"""Fault injection: the ``--faults SPEC`` grammar and the seeded injector that applies it.

Grammar (whitespace ignored, items separated by commas)::

    SPEC    := ITEM ("," ITEM)*                  an empty SPEC injects nothing
    ITEM    := KIND ":" TRIGGER ("@" MOD)*
    KIND    := 5xx | 500 | 502 | 503 | 504       a server error (5xx picks one of the four)
             | 429                               TOO_MANY_REQUESTS, as if a limit were hit
             | reset                             the TCP connection is dropped, no response
             | timeout                           the response is held back (MOD = how long)
             | token_expiry                      every live access token dies -> 401 INVALID_TOKEN
             | partial                           single records of a write batch are rejected (207)
    TRIGGER := RATE                              probability per API request, 0 < RATE <= 1
             | every=N                           the N-th, 2N-th, ... API request
             | at=N[+N...]                       exactly these API requests (1-based)
    MOD     := DURATION                          2s, 500ms, 1.5s (timeout stall; default 30s)
             | after                             run the request first, then fail (reset, 5xx,
                                                 timeout): the write is applied, the answer lost
             | read | write                      only reads (GET, COQL, search) or only writes
             | CODE                              partial: the per-record error code (default
                                                 INVALID_DATA on insert/delete, RECORD_LOCKED on
                                                 update/upsert), e.g. partial:0.1@DUPLICATE_DATA

For ``partial`` the trigger counts *records* written instead of requests. Only API calls
under ``/crm/`` count as requests; the token endpoint and ``/__sandbox`` never fail.
When several items fire on one request, the first in SPEC order wins. Random draws come
from one ``random.Random(seed)``, so a run with the same seed and the same request order
injects the same faults.

Example: ``5xx:0.05,reset:0.02@after@write,timeout:0.01@2s,429:0.1,token_expiry:every=500,partial:0.1``
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Fault", "FaultInjector", "FaultSpec", "FaultSpecError", "parse_faults"]

Kind = Literal[
    "5xx", "500", "502", "503", "504", "429", "reset", "timeout", "token_expiry", "partial"
]
KINDS: tuple[Kind, ...] = (
    "5xx",
    "500",
    "502",
    "503",
    "504",
    "429",
    "reset",
    "timeout",
    "token_expiry",
    "partial",
)
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s)$")
_CODE = re.compile(r"^[A-Z][A-Z_]+$")
DEFAULT_TIMEOUT_S = 30.0


class FaultSpecError(ValueError):
    """A ``--faults`` string that does not follow the grammar."""


@dataclass(frozen=True, slots=True)
class Fault:
    """One parsed item of a fault spec."""

    kind: Kind
    rate: float | None = None
    every: int | None = None
    at: frozenset[int] = frozenset()
    delay_s: float = DEFAULT_TIMEOUT_S
    after: bool = False
    scope: Literal["any", "read", "write"] = "any"
    code: str | None = None

    def fires(self, n: int, rng: random.Random) -> bool:
        """Whether this fault hits the ``n``-th counted event (draws from ``rng`` for rates)."""
        if self.rate is not None:
            return rng.random() < self.rate
        if self.every is not None:
            return n % self.every == 0
        return n in self.at


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """A parsed spec: the items in the order given, and the text they came from."""

    faults: tuple[Fault, ...] = ()
    text: str = ""

    def __str__(self) -> str:
        return self.text

    @property
    def request_faults(self) -> tuple[Fault, ...]:
        """Items that act on whole requests (all but ``partial``)."""
        return tuple(f for f in self.faults if f.kind != "partial")

    @property
    def partial(self) -> tuple[Fault, ...]:
        """The ``partial`` items."""
        return tuple(f for f in self.faults if f.kind == "partial")


def _parse_item(item: str) -> Fault:
    head, _, trigger_and_mods = item.partition(":")
    kind = head.strip().lower()
    if kind not in KINDS:
        raise FaultSpecError(f"unknown fault kind {head!r} in {item!r}; one of {', '.join(KINDS)}")
    if not trigger_and_mods:
        raise FaultSpecError(f"fault {item!r} needs a trigger: RATE, every=N or at=N[+N...]")
    trigger, *mods = (part.strip() for part in trigger_and_mods.split("@"))
    rate: float | None = None
    every: int | None = None
    at: frozenset[int] = frozenset()
    try:
        if trigger.startswith("every="):
            every = int(trigger.removeprefix("every="))
            if every < 1:
                raise FaultSpecError(f"every= must be >= 1 in {item!r}")
        elif trigger.startswith("at="):
            at = frozenset(int(n) for n in trigger.removeprefix("at=").split("+"))
            if min(at) < 1:
                raise FaultSpecError(f"at= counts from 1 in {item!r}")
        else:
            rate = float(trigger)
            if not 0 < rate <= 1:
                raise FaultSpecError(f"rate must be in (0, 1] in {item!r}")
    except ValueError as exc:
        if isinstance(exc, FaultSpecError):
            raise
        raise FaultSpecError(f"bad trigger {trigger!r} in {item!r}") from None
    delay_s = DEFAULT_TIMEOUT_S
    after = False
    scope: Literal["any", "read", "write"] = "any"
    code: str | None = None
    for mod in mods:
        if m := _DURATION.match(mod):
            delay_s = float(m[1]) / (1000 if m[2] == "ms" else 1)
        elif mod == "after":
            after = True
        elif mod in ("read", "write"):
            scope = "read" if mod == "read" else "write"
        elif _CODE.match(mod) and kind == "partial":
            code = mod
        else:
            raise FaultSpecError(f"unknown modifier @{mod} in {item!r}")
    return Fault(kind, rate, every, at, delay_s, after, scope, code)


def parse_faults(text: str) -> FaultSpec:
    """Parse a ``--faults`` string; raises :class:`FaultSpecError` with the offending item."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    return FaultSpec(tuple(_parse_item(item) for item in items), ",".join(items))


@dataclass(slots=True)
class FaultInjector:
    """Applies a :class:`FaultSpec` to the stream of requests and written records."""

    spec: FaultSpec
    rng: random.Random
    requests: int = 0
    records: int = 0
    fired: dict[str, int] = field(default_factory=dict)

    def next_request(self, *, is_write: bool) -> Fault | None:
        """Count one API request and return the fault to inject into it, if any."""
        self.requests += 1
        hit: Fault | None = None
        for fault in self.spec.request_faults:
            if fault.scope != "any" and (fault.scope == "write") != is_write:
                continue
            # every item draws on every request so one item's outcome never shifts another's
            if fault.fires(self.requests, self.rng) and hit is None:
                hit = fault
        if hit is not None:
            self.fired[hit.kind] = self.fired.get(hit.kind, 0) + 1
        return hit

    def reject_record(self, op: str) -> str | None:
        """Count one written record; return the Zoho error code to reject it with, if any."""
        self.records += 1
        for fault in self.spec.partial:
            if fault.fires(self.records, self.rng):
                self.fired["partial"] = self.fired.get("partial", 0) + 1
                if fault.code:
                    return fault.code
                return "RECORD_LOCKED" if op in ("update", "upsert") else "INVALID_DATA"
        return None

    def pick_status(self, fault: Fault) -> int:
        """The HTTP status of a server-error fault (``5xx`` picks one at random)."""
        if fault.kind == "5xx":
            return self.rng.choice((500, 502, 503, 504))
        return int(fault.kind)
