"""The knobs of one sandbox instance."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import httpx

from connectors.zoho.sandbox.faults import FaultSpec, parse_faults

__all__ = ["SandboxOptions", "utc_now"]


def utc_now() -> datetime:
    """The real clock (aware UTC); the default ``SandboxOptions.clock``."""
    return datetime.now(UTC)


@dataclass(slots=True)
class SandboxOptions:
    """Everything a sandbox is built from; all defaults give a quiet, fault-free Zoho.

    ``faults`` takes the ``--faults`` grammar (see :mod:`connectors.zoho.sandbox.faults`)
    or a parsed :class:`FaultSpec`. ``clock`` is injectable so tests can expire tokens
    and page tokens without sleeping. ``notify_transport`` replaces the network for
    notification callbacks (e.g. an ``httpx.MockTransport`` that records them).
    """

    host: str = "127.0.0.1"
    port: int = 8790
    #: the base URL handed out as ``api_domain``; None = the URL the request came in on
    api_domain: str | None = None
    latency_ms: float = 0.0
    #: concurrent API calls allowed before 429 (Zoho Standard edition: 10); 0 = unlimited
    concurrency: int = 10
    faults: FaultSpec | str = ""
    seed_records: int = 0
    seed: int = 0
    client_id: str = "1000.SANDBOXCLIENT"
    client_secret: str = "sandbox-secret"
    #: a refresh token that exists from the start, so clients can skip the grant step
    refresh_token: str = "1000.sandbox.refresh"
    #: one-time grant codes that exist from the start (more via POST /__sandbox/grant-codes)
    grant_codes: tuple[str, ...] = ("1000.sandbox.grant",)
    token_lifetime_s: int = 3600
    page_token_lifetime_s: int = 86400
    #: records reachable through one page_token chain (Zoho: 100,000)
    page_token_limit: int = 100_000
    #: the API user's time zone: every datetime is rendered with this offset
    utc_offset_minutes: int = 480
    #: seconds a created/edited record stays invisible to the Search API (Zoho's index lag)
    search_lag_s: float = 0.0
    #: a write that changes nothing still bumps Modified_Time (assume Zoho does)
    bump_on_noop: bool = True
    #: False makes GET /Notes answer 403 NOT_SUPPORTED like it does for non-admin users
    admin_user: bool = True
    #: serve the /__sandbox/* control endpoints
    control_api: bool = True
    clock: Callable[[], datetime] = utc_now
    notify_transport: httpx.AsyncBaseTransport | None = None
    notify_timeout_s: float = 10.0

    @property
    def tz(self) -> timezone:
        """The user's time zone as a fixed offset."""
        return timezone(timedelta(minutes=self.utc_offset_minutes))

    def fault_spec(self) -> FaultSpec:
        """``faults`` parsed (a string is parsed on each call)."""
        return self.faults if isinstance(self.faults, FaultSpec) else parse_faults(self.faults)
