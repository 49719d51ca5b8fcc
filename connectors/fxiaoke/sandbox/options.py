"""The knobs of one Fxiaoke sandbox instance."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from connectors.fxiaoke.sandbox.faults import FaultSpec, parse_faults

__all__ = ["SandboxOptions", "utc_now"]


def utc_now() -> datetime:
    """The real clock (aware UTC); the default ``SandboxOptions.clock``."""
    return datetime.now(UTC)


@dataclass(slots=True)
class SandboxOptions:
    """Everything a sandbox is built from; the defaults give a quiet, fault-free tenant.

    Credentials are fixed so tests and rehearsal configs can name them. ``clock`` is
    injectable (e.g. ``crmbridge.testing.FakeClock``) so token lifetimes and rate
    windows can be crossed without sleeping.
    """

    host: str = "127.0.0.1"
    port: int = 8791
    app_id: str = "FSAID_sandbox0001"
    app_secret: str = "sandbox-app-secret"
    permanent_code: str = "sandbox-permanent-code"
    corp_id: str = "FSCID_SANDBOX0001"
    #: the enterprise account the client-credentials grant answers as ``ea`` (x-fs-ea)
    ea: str = "fs-sandbox"
    #: apiName of the one custom object served on the ``/cgi/crm/custom/...`` paths
    custom_object: str = "RequirementChange__c"
    #: seconds a token lives (Fxiaoke: 7200)
    token_lifetime_s: int = 7200
    #: the token endpoint hands back the live token until this many seconds are left
    token_renew_window_s: int = 600
    #: a token dies after this many business calls (0: only its lifetime counts)
    token_max_calls: int = 0
    #: token-endpoint calls allowed per minute before 14001 (Fxiaoke says 10; 0: no limit)
    token_calls_per_minute: int = 0
    #: calls per endpoint per ``rate_window_s`` before ``rate_limit_code`` (0: no limit)
    rate_limit: int = 100
    rate_window_s: float = 20.0
    rate_limit_code: int = 14001
    #: calls per second across all endpoints before 30004 (0: no limit)
    per_second_limit: int = 0
    #: business calls per day (resets 00:00 Asia/Shanghai) before 30002; 0 = no pack
    #: bought (30003 on every call); None = unlimited
    daily_quota: int | None = None
    latency_ms: float = 0.0
    faults: FaultSpec | str = ""
    seed: int = 0
    seed_accounts: int = 0
    seed_contacts: int = 0
    seed_activities: int = 0
    seed_custom: int = 0
    #: ``data/query`` leaves invalidated records out unless a filter names ``life_status``
    query_hides_invalid: bool = True
    #: largest ``search_query_info.limit`` accepted
    max_limit: int = 100
    #: largest ``search_query_info.offset`` accepted (10013 beyond it)
    max_offset: int = 10_000
    #: a custom-object create answers ``dataId`` (its doc page shows none: set False to
    #: make a connector find its record by crmbridge_id__c instead)
    custom_create_returns_id: bool = True
    #: writes sent without ``triggerWorkFlow: false`` get touched by a workflow
    #: (system user -10000) right after, as a tenant's field-update rules would
    workflow_on_write: bool = False
    #: answer 10006 to calls without ``?thirdTraceId=`` (unknown whether Fxiaoke does)
    require_third_trace_id: bool = False
    #: unknown fields in create/update bodies are rejected (False: silently dropped)
    strict_fields: bool = True
    control_api: bool = True
    clock: Callable[[], datetime] = utc_now

    def fault_spec(self) -> FaultSpec:
        """``faults`` parsed (a string is parsed on each call)."""
        return self.faults if isinstance(self.faults, FaultSpec) else parse_faults(self.faults)
