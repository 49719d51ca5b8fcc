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

The grammar and the draws are :mod:`connectors._sandbox.faults`, shared with the other
sandboxes; the kinds, what counts as a request and the ``partial`` codes are Zoho's.
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

__all__ = ["Fault", "FaultInjector", "FaultSpec", "FaultSpecError", "parse_faults"]

KINDS = ("5xx", "500", "502", "503", "504", "429", "reset", "timeout", "token_expiry", "partial")


def parse_faults(text: str) -> FaultSpec:
    """Parse a ``--faults`` string; raises :class:`FaultSpecError` with the offending item."""
    return parse_fault_spec(text, KINDS, code_kinds=("partial",))


@dataclass(slots=True)
class FaultInjector(_Injector):
    """Applies a :class:`FaultSpec` to the stream of requests and written records."""

    requests: int = 0
    records: int = 0

    def next_request(self, *, is_write: bool) -> Fault | None:
        """Count one API request and return the fault to inject into it, if any."""
        self.requests += 1
        whole = (f for f in self.spec.faults if f.kind != "partial")
        return self.first_hit(whole, self.requests, is_write=is_write)

    def reject_record(self, op: str) -> str | None:
        """Count one written record; return the Zoho error code to reject it with, if any."""
        self.records += 1
        for fault in self.spec.faults:
            if fault.kind == "partial" and fault.fires(self.records, self.rng):
                self.note_fired("partial")
                if fault.code:
                    return fault.code
                return "RECORD_LOCKED" if op in ("update", "upsert") else "INVALID_DATA"
        return None
