"""Fxiaoke's ``errorCode`` values and what the connector does about each.

Every answer is HTTP 200 with an ``errorCode`` (0: success); the manual warns
on every page never to branch on ``errorMessage``, so nothing here reads it.
The published code table and the live gateway disagree on a few codes
(``10006``, ``10013``, ``20017``): those are read in context (which endpoint,
which request) rather than trusted alone.

::

    PermanentError
    +-- FxiaokeError           a business errorCode the caller decides about
    TransientError
    +-- DailyQuotaExhausted    errorCode 30002: no call succeeds before midnight
    +-- NotSent                the call certainly did no work: safe to send again
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from crmbridge.errors import PermanentError, TransientError

__all__ = [
    "BAD_CREDENTIALS",
    "BUSY",
    "DAILY_QUOTA",
    "NOT_AUTHORISED",
    "NO_QUOTA",
    "OFFSET_OUT_OF_RANGE",
    "PARAMETER",
    "THROTTLED",
    "TOKEN_EXPIRED",
    "UNKNOWN_USER",
    "DailyQuotaExhausted",
    "FxiaokeError",
    "NotSent",
    "error_code",
    "next_midnight",
]

#: the cached token is missing or expired: refresh once and send again
TOKEN_EXPIRED: Final = frozenset({20016, 20005})
#: system busy, system error, service timeout: back off and retry
BUSY: Final = frozenset({-1, -2, 50009})
#: call limit or per-second frequency exceeded: back off and retry
THROTTLED: Final = frozenset({14001, 30004})
#: the day's call quota is used up; it resets at 00:00
DAILY_QUOTA: Final = 30002
#: the tenant bought no OpenAPI quota at all
NO_QUOTA: Final = 30003
#: a wrong appId/appSecret/permanentCode (10006 is what the gateway answers a bad secret)
BAD_CREDENTIALS: Final = frozenset({10001, 10002, 10006, 10012, 11001, 11002, 11013, 20006, 20015})
#: the app lacks a permission, is disabled, or is not authorised by the tenant
NOT_AUTHORISED: Final = frozenset({15003, 20014, 20020, 20021, 20022, 20023})
#: the acting employee (``user_id``) does not exist
UNKNOWN_USER: Final = frozenset({11008, 20012})
#: "offset out of range 10000" on a query (the code table calls it "missing corpAccessToken")
OFFSET_OUT_OF_RANGE: Final = 10013
#: the request's parameters were refused
PARAMETER: Final = frozenset({15002, 32000})


class FxiaokeError(PermanentError):
    """Fxiaoke answered a call with a non-zero ``errorCode`` the client does not handle itself.

    Writes turn it into a rejected result for the record; reads let it end
    the run. ``trace_id`` is the server's ``traceId`` (quote it to support).
    """

    def __init__(
        self,
        message: str,
        *,
        code: int,
        trace_id: str | None = None,
        path: str | None = None,
        **context: Any,
    ) -> None:
        super().__init__(message, **context)
        self.code = code
        self.trace_id = trace_id
        self.path = path


class NotSent(TransientError):
    """A call that failed without doing any work: no connection made, HTTP 429 or a throttling code.

    Unlike any other :class:`TransientError` of a call, it proves a create
    made no record, so the create may be sent again at once.
    """


class DailyQuotaExhausted(TransientError):
    """The tenant's daily OpenAPI call quota is used up (errorCode 30002); ``until`` is when it resets.

    The client sends no further call once it has seen this: the run stops
    cleanly and the next one, after ``until``, goes on from its cursor.
    """

    def __init__(self, until: datetime, *, connector: str | None = None) -> None:
        wait = max(60.0, (until - datetime.now(UTC)).total_seconds())
        super().__init__(
            "Fxiaoke's daily OpenAPI call quota is used up (errorCode 30002); no call will "
            f"succeed until {until.isoformat()} (midnight, when it resets). Buy more OpenAPI "
            "packs or sync less often",
            retry_after=wait,
            connector=connector,
        )
        self.until = until


def next_midnight(now: datetime, zone: str) -> datetime:
    """The next 00:00 in ``zone`` after ``now``, as an aware datetime in that zone."""
    local = now.astimezone(ZoneInfo(zone))
    return (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


def error_code(body: Any) -> int | None:
    """The ``errorCode`` of an answer as an int; ``None`` when the body has none."""
    if not isinstance(body, dict):
        return None
    raw = body.get("errorCode")
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and raw.lstrip("-").isdigit():
        return int(raw)
    return None
