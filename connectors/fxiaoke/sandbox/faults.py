"""Fault injection: the ``--faults SPEC`` grammar and the seeded injector that applies it.

Grammar (whitespace ignored, items separated by commas)::

    SPEC    := ITEM ("," ITEM)*                  an empty SPEC injects nothing
    ITEM    := KIND ":" TRIGGER ("@" MOD)*
    KIND    := busy                              errorCode -1  (system busy), HTTP 200
             | syserr                            errorCode -2  (system error), HTTP 200
             | svc                               errorCode 50009 (service error / timeout)
             | limit                             errorCode 14001 (call limit exceeded)
             | freq                              errorCode 30004 (frequency exceeded)
             | quota                             errorCode 30002 (daily quota used up)
             | token_expiry                      every live token dies -> the call gets 20016
             | 5xx | 500 | 502 | 503 | 504       a gateway error page (5xx picks one)
             | reset                             the TCP connection is dropped, no response
             | timeout                           the response is held back (MOD = how long)
    TRIGGER := RATE                              probability per business call, 0 < RATE <= 1
             | every=N                           the N-th, 2N-th, ... business call
             | at=N[+N...]                       exactly these business calls (1-based)
    MOD     := DURATION                          2s, 500ms, 1.5s (timeout stall; default 30s)
             | after                             run the call first, then fail: a write is
                                                 applied but its answer is lost
             | read | write                      only reads (query, get, describe) or writes

Only business calls (paths under ``/cgi/`` other than the two token endpoints) count;
the token endpoints and ``/__sandbox`` never fail. When several items fire on one call,
the first in SPEC order wins. Random draws come from one ``random.Random(seed)``, so a
run with the same seed and the same call order injects the same faults.

Example: ``busy:0.05,limit:at=3,reset:0.02@after@write,timeout:0.01@2s,token_expiry:every=500``
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "ERROR_CODE_FAULTS",
    "KINDS",
    "Fault",
    "FaultInjector",
    "FaultSpec",
    "FaultSpecError",
    "parse_faults",
]

Kind = Literal[
    "busy",
    "syserr",
    "svc",
    "limit",
    "freq",
    "quota",
    "token_expiry",
    "5xx",
    "500",
    "502",
    "503",
    "504",
    "reset",
    "timeout",
]
KINDS: tuple[Kind, ...] = (
    "busy",
    "syserr",
    "svc",
    "limit",
    "freq",
    "quota",
    "token_expiry",
    "5xx",
    "500",
    "502",
    "503",
    "504",
    "reset",
    "timeout",
)
#: kinds answered as HTTP 200 with this errorCode
ERROR_CODE_FAULTS: dict[str, int] = {
    "busy": -1,
    "syserr": -2,
    "svc": 50009,
    "limit": 14001,
    "freq": 30004,
    "quota": 30002,
}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s)$")
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

    def fires(self, n: int, rng: random.Random) -> bool:
        """Whether this fault hits the ``n``-th business call (draws from ``rng`` for rates)."""
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


def _trigger(trigger: str, item: str) -> tuple[float | None, int | None, frozenset[int]]:
    try:
        if trigger.startswith("every="):
            every = int(trigger.removeprefix("every="))
            if every < 1:
                raise FaultSpecError(f"every= must be >= 1 in {item!r}")
            return None, every, frozenset()
        if trigger.startswith("at="):
            at = frozenset(int(n) for n in trigger.removeprefix("at=").split("+"))
            if min(at) < 1:
                raise FaultSpecError(f"at= counts from 1 in {item!r}")
            return None, None, at
        rate = float(trigger)
    except FaultSpecError:
        raise
    except ValueError:
        raise FaultSpecError(f"bad trigger {trigger!r} in {item!r}") from None
    if not 0 < rate <= 1:
        raise FaultSpecError(f"rate must be in (0, 1] in {item!r}")
    return rate, None, frozenset()


def _parse_item(item: str) -> Fault:
    head, _, rest = item.partition(":")
    kind = head.strip().lower()
    if kind not in KINDS:
        raise FaultSpecError(f"unknown fault kind {head!r} in {item!r}; one of {', '.join(KINDS)}")
    if not rest:
        raise FaultSpecError(f"fault {item!r} needs a trigger: RATE, every=N or at=N[+N...]")
    trigger, *mods = (part.strip() for part in rest.split("@"))
    rate, every, at = _trigger(trigger, item)
    delay_s = DEFAULT_TIMEOUT_S
    after = False
    scope: Literal["any", "read", "write"] = "any"
    for mod in mods:
        if m := _DURATION.match(mod):
            delay_s = float(m[1]) / (1000 if m[2] == "ms" else 1)
        elif mod == "after":
            after = True
        elif mod == "read":
            scope = "read"
        elif mod == "write":
            scope = "write"
        else:
            raise FaultSpecError(f"unknown modifier @{mod} in {item!r}")
    return Fault(kind, rate, every, at, delay_s, after, scope)


def parse_faults(text: str) -> FaultSpec:
    """Parse a ``--faults`` string; raises :class:`FaultSpecError` naming the bad item."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    return FaultSpec(tuple(_parse_item(item) for item in items), ",".join(items))


@dataclass(slots=True)
class FaultInjector:
    """Applies a :class:`FaultSpec` to the stream of business calls."""

    spec: FaultSpec
    rng: random.Random
    calls: int = 0
    fired: dict[str, int] = field(default_factory=dict)

    def next_call(self, *, is_write: bool) -> Fault | None:
        """Count one business call and return the fault to inject into it, if any."""
        self.calls += 1
        hit: Fault | None = None
        for fault in self.spec.faults:
            if fault.scope != "any" and (fault.scope == "write") != is_write:
                continue
            # every item draws on every call so one item's outcome never shifts another's
            if fault.fires(self.calls, self.rng) and hit is None:
                hit = fault
        if hit is not None:
            self.fired[hit.kind] = self.fired.get(hit.kind, 0) + 1
        return hit

    def pick_status(self, fault: Fault) -> int:
        """The HTTP status of a gateway-error fault (``5xx`` picks one at random)."""
        if fault.kind == "5xx":
            return self.rng.choice((500, 502, 503, 504))
        return int(fault.kind)
