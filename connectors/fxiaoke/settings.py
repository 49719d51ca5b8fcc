"""The ``fxiaoke`` connector's config section and the tenant clouds' API hosts."""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator

from crmbridge.connector import ConnectorSettings

__all__ = ["CLOUD_HOSTS", "DEFAULT_BASE_URL", "FxiaokeSettings"]

#: The OpenAPI gateway of the default cloud (纷享云); ``www.fxiaoke.com`` is not the gateway.
DEFAULT_BASE_URL = "https://open.fxiaoke.com"

#: Gateways by cloud, as the manual's cloud page lists them; a tenant uses its own cloud's.
CLOUD_HOSTS: dict[str, str] = {
    "fxiaoke": "https://open.fxiaoke.com",
    "huawei": "https://open-hwcloud.fxiaoke.com",
    "alibaba": "https://open-ale.fxiaoke.com",
    "frankfurt": "https://open-hws.fxiaoke.com",
    "hongkong": "https://open-ksc.sharecrm.com",
    "north_america": "https://open-na.sharecrm.com",
}


class FxiaokeSettings(ConnectorSettings):
    """Settings of a ``type: fxiaoke`` connector.

    ``base_url`` is the tenant cloud's gateway (default ``open.fxiaoke.com``);
    ``app_id``, ``app_secret`` and ``permanent_code`` come from the self-built
    app's page in the admin console; ``user_id`` is the employee every call
    acts as (a CRM administrator, so the sync sees every record): an
    ``FSUID_…`` open user id with ``auth: legacy``, the CRM employee id
    (``1000``) with ``auth: current``. ``auth`` picks the convention:
    ``current`` (``/oauth2.0/token``, bearer token and ``x-fs-*`` headers) or
    ``legacy`` (``/cgi/corpAccessToken/get/V2``, credentials in every body).

    ``requirement_change_object`` is the apiName Fxiaoke generated for the
    custom object holding requirement changes (``object_Nyeoj__c``);
    ``objects`` overrides the object of any entity or mapping remote.
    ``crmbridge_id_field`` is the custom text field holding the crmbridge id
    on every synced object. ``trigger_workflow`` / ``trigger_approval_flow``
    let our writes start the tenant's workflows and approvals (default: no).
    ``dedupe_creates`` says when a create is looked up by the crmbridge id
    first: ``auto`` when it may have been sent before, and always unless the
    id field is unique in Fxiaoke; ``always``; or ``resent`` (only when it
    may have been sent before). ``hard_delete`` deletes an invalidated record
    (else it stays in the recycle bin). ``deletions_scan_every_s`` is how
    often a run lists every id of an object to find records deleted in
    Fxiaoke, which has no deletion feed (0: every run). ``rate_limit_calls``
    per ``rate_limit_window_s`` is the client-side ceiling per endpoint;
    ``quota_timezone`` the zone whose midnight resets the daily call quota.
    """

    base_url: str = DEFAULT_BASE_URL
    app_id: str
    app_secret: SecretStr
    permanent_code: SecretStr
    user_id: str
    auth: Literal["current", "legacy"] = "current"
    requirement_change_object: str | None = None
    objects: dict[str, str] = Field(default_factory=dict)
    crmbridge_id_field: str = "crmbridge_id__c"
    trigger_workflow: bool = False
    trigger_approval_flow: bool = False
    dedupe_creates: Literal["auto", "always", "resent"] = "auto"
    hard_delete: bool = True
    deletions_scan_every_s: int = Field(default=21_600, ge=0)
    overlap_s: int = Field(default=60, ge=0)
    page_size: int = Field(default=100, ge=1, le=100)
    concurrency: int = Field(default=5, ge=1, le=50)
    rate_limit_calls: int = Field(default=100, ge=1)
    rate_limit_window_s: float = Field(default=20.0, gt=0)
    quota_timezone: str = "Asia/Shanghai"
    timeout_s: float = Field(default=30.0, gt=0)
    connect_timeout_s: float = Field(default=10.0, gt=0)
    max_retries: int = Field(default=5, ge=0)
    backoff_s: float = Field(default=1.0, ge=0)
    max_backoff_s: float = Field(default=60.0, ge=0)

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        value = CLOUD_HOSTS.get(value, value)
        if not value.startswith(("https://", "http://")):
            raise ValueError(
                "must be an http(s) URL, e.g. https://open.fxiaoke.com, or a cloud name: "
                + ", ".join(CLOUD_HOSTS)
            )
        return value.rstrip("/")

    @field_validator("requirement_change_object")
    @classmethod
    def _custom(cls, value: str | None) -> str | None:
        if value is not None and not value.endswith("__c"):
            raise ValueError("a custom object's apiName ends with __c (e.g. object_Nyeoj__c)")
        return value

    @field_validator("quota_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    def object_for(self, entity: str, remote: str) -> str:
        """The Fxiaoke apiName of ``entity`` whose mapping names ``remote``."""
        if entity == "requirement_changes" and self.requirement_change_object:
            return self.objects.get(remote) or self.requirement_change_object
        return self.objects.get(remote) or self.objects.get(entity) or remote
