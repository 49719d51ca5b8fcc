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

The grammar and the draws are :mod:`connectors._sandbox.faults`, shared with the other
sandboxes; the kinds, their error codes and what counts as a business call are Fxiaoke's.
"""

from __future__ import annotations

from dataclasses import dataclass

from connectors._sandbox.faults import (
    Fault,
    FaultSpec,
    FaultSpecError,
    parse_fault_spec,
)
from connectors._sandbox.faults import FaultInjector as _Injector

__all__ = [
    "ERROR_CODE_FAULTS",
    "KINDS",
    "Fault",
    "FaultInjector",
    "FaultSpec",
    "FaultSpecError",
    "parse_faults",
]

#: kinds answered as HTTP 200 with this errorCode
ERROR_CODE_FAULTS: dict[str, int] = {
    "busy": -1,
    "syserr": -2,
    "svc": 50009,
    "limit": 14001,
    "freq": 30004,
    "quota": 30002,
}
KINDS: tuple[str, ...] = (
    *ERROR_CODE_FAULTS,
    "token_expiry",
    "5xx",
    "500",
    "502",
    "503",
    "504",
    "reset",
    "timeout",
)


def parse_faults(text: str) -> FaultSpec:
    """Parse a ``--faults`` string; raises :class:`FaultSpecError` naming the bad item."""
    return parse_fault_spec(text, KINDS)


@dataclass(slots=True)
class FaultInjector(_Injector):
    """Applies a :class:`FaultSpec` to the stream of business calls."""

    calls: int = 0

    def next_call(self, *, is_write: bool) -> Fault | None:
        """Count one business call and return the fault to inject into it, if any."""
        self.calls += 1
        return self.first_hit(self.spec.faults, self.calls, is_write=is_write)
