"""The ``--faults SPEC`` grammar every sandbox shares, and the seeded injector's core.

Each sandbox names its own kinds and says what they do to a call; the grammar and
the draws are the same::

    SPEC    := ITEM ("," ITEM)*                  an empty SPEC injects nothing
    ITEM    := KIND ":" TRIGGER ("@" MOD)*       KIND: one of the sandbox's kinds
    TRIGGER := RATE                              probability per counted call, 0 < RATE <= 1
             | every=N                           the N-th, 2N-th, ... counted call
             | at=N[+N...]                       exactly these counted calls (1-based)
    MOD     := DURATION                          2s, 500ms, 1.5s (``delay_s``; default 30s)
             | after                             run the call first, then fail
             | read | write                      only reads or only writes (``scope``)
             | CODE                              ``[A-Z][A-Z_]+``, only on the kinds a
                                                 sandbox lets carry an error code

Whitespace is ignored. Random draws come from one ``random.Random``, so the same seed
and the same order of calls inject the same faults.
"""

from __future__ import annotations

import random
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Fault", "FaultInjector", "FaultSpec", "FaultSpecError", "parse_fault_spec"]

Scope = Literal["any", "read", "write"]
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s)$")
_CODE = re.compile(r"^[A-Z][A-Z_]+$")
DEFAULT_TIMEOUT_S = 30.0


class FaultSpecError(ValueError):
    """A ``--faults`` string that does not follow the grammar."""


@dataclass(frozen=True, slots=True)
class Fault:
    """One parsed item of a fault spec."""

    kind: str
    rate: float | None = None
    every: int | None = None
    at: frozenset[int] = frozenset()
    delay_s: float = DEFAULT_TIMEOUT_S
    after: bool = False
    scope: Scope = "any"
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


def _parse_item(item: str, kinds: Collection[str], code_kinds: Collection[str]) -> Fault:
    head, _, rest = item.partition(":")
    kind = head.strip().lower()
    if kind not in kinds:
        raise FaultSpecError(f"unknown fault kind {head!r} in {item!r}; one of {', '.join(kinds)}")
    if not rest:
        raise FaultSpecError(f"fault {item!r} needs a trigger: RATE, every=N or at=N[+N...]")
    trigger, *mods = (part.strip() for part in rest.split("@"))
    rate, every, at = _trigger(trigger, item)
    delay_s = DEFAULT_TIMEOUT_S
    after = False
    scope: Scope = "any"
    code: str | None = None
    for mod in mods:
        if m := _DURATION.match(mod):
            delay_s = float(m[1]) / (1000 if m[2] == "ms" else 1)
        elif mod == "after":
            after = True
        elif mod == "read":
            scope = "read"
        elif mod == "write":
            scope = "write"
        elif kind in code_kinds and _CODE.match(mod):
            code = mod
        else:
            raise FaultSpecError(f"unknown modifier @{mod} in {item!r}")
    return Fault(kind, rate, every, at, delay_s, after, scope, code)


def parse_fault_spec(
    text: str, kinds: Collection[str], *, code_kinds: Collection[str] = ()
) -> FaultSpec:
    """Parse ``text`` allowing ``kinds`` (``@CODE`` only on ``code_kinds``).

    Raises :class:`FaultSpecError` naming the offending item.
    """
    items = [item.strip() for item in text.split(",") if item.strip()]
    return FaultSpec(tuple(_parse_item(item, kinds, code_kinds) for item in items), ",".join(items))


@dataclass(slots=True)
class FaultInjector:
    """The draws shared by every sandbox's injector; subclasses count their own calls."""

    spec: FaultSpec
    rng: random.Random
    fired: dict[str, int] = field(default_factory=dict)

    def first_hit(self, faults: Iterable[Fault], n: int, *, is_write: bool) -> Fault | None:
        """The first of ``faults`` (in scope) that hits the ``n``-th call, counted as fired."""
        hit: Fault | None = None
        for fault in faults:
            if fault.scope != "any" and (fault.scope == "write") != is_write:
                continue
            # every item draws on every call so one item's outcome never shifts another's
            if fault.fires(n, self.rng) and hit is None:
                hit = fault
        if hit is not None:
            self.note_fired(hit.kind)
        return hit

    def note_fired(self, kind: str) -> None:
        """Count one fault of ``kind`` as fired."""
        self.fired[kind] = self.fired.get(kind, 0) + 1

    def pick_status(self, fault: Fault) -> int:
        """The HTTP status of a ``5xx``/``500``/``502``/... fault (``5xx`` picks one)."""
        if fault.kind == "5xx":
            return self.rng.choice((500, 502, 503, 504))
        return int(fault.kind)
