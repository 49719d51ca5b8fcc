"""The ``zoho`` connector's config section, data centres and edition limits."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator

from crmbridge.connector import ConnectorSettings

__all__ = [
    "ACCOUNTS_URLS",
    "API_URLS",
    "EDITION_CONCURRENCY",
    "HEAVY_CONCURRENCY",
    "ZohoSettings",
]

DataCentre = Literal["com", "eu", "in", "com.au", "jp", "com.cn", "sa", "ca"]
Edition = Literal["free", "standard", "professional", "enterprise", "ultimate"]

#: Zoho Accounts (OAuth) server per data centre (SDK ``crm/api/dc/*_data_center.py``).
ACCOUNTS_URLS: dict[str, str] = {
    "com": "https://accounts.zoho.com",
    "eu": "https://accounts.zoho.eu",
    "in": "https://accounts.zoho.in",
    "com.au": "https://accounts.zoho.com.au",
    "jp": "https://accounts.zoho.jp",
    "com.cn": "https://accounts.zoho.com.cn",
    "sa": "https://accounts.zoho.sa",
    "ca": "https://accounts.zohocloud.ca",
}

#: Production API host per data centre; only used until a token response names ``api_domain``.
API_URLS: dict[str, str] = {
    "com": "https://www.zohoapis.com",
    "eu": "https://www.zohoapis.eu",
    "in": "https://www.zohoapis.in",
    "com.au": "https://www.zohoapis.com.au",
    "jp": "https://www.zohoapis.jp",
    "com.cn": "https://www.zohoapis.com.cn",
    "sa": "https://www.zohoapis.sa",
    "ca": "https://www.zohoapis.ca",
}

#: Concurrent API calls allowed per user and app, by edition (Zoho API limits page).
EDITION_CONCURRENCY: dict[str, int] = {
    "free": 5,
    "standard": 10,
    "professional": 15,
    "enterprise": 20,
    "ultimate": 25,
}

#: Concurrent "heavy" calls (writes of more than 10 records, COQL) allowed in every edition.
HEAVY_CONCURRENCY = 10


class ZohoSettings(ConnectorSettings):
    """Settings of a ``type: zoho`` connector.

    ``data_centre`` picks the accounts server (``accounts_url`` overrides it,
    e.g. for the local sandbox); the API host comes from the token response's
    ``api_domain`` unless ``api_url`` is set (Zoho sandbox orgs:
    ``https://sandbox.zohoapis.com``). ``api_version`` defaults to ``v7``: every
    behaviour the connector relies on (``If-Modified-Since`` on Get Records,
    ``page_token``, COQL's 2,000-row pages) is documented on the v7 pages, while
    the newest v8 Get Records parameter list no longer shows
    ``If-Modified-Since``. ``edition`` sets the concurrency cap (free 5,
    standard 10, professional 15, enterprise 20, ultimate 25) unless
    ``concurrency`` is given. ``modules`` overrides the module of an entity or
    of a mapping's remote object (``requirement_changes: Change_Requests``).
    ``trigger`` lists the automations Zoho runs on our writes (default none:
    no workflow ping-pong). ``credit_budget`` caps the API credits one run may
    spend; ``read_mode`` chooses Get Records, COQL or (``auto``) whichever
    needs fewer calls. ``notify_token`` is the token of the notification
    channel ``crmbridge zoho watch`` set up; callbacks to
    ``/webhooks/<connector>`` are verified against it, and the daemon renews
    the channels carrying it ``channel_renew_margin_s`` before they expire.
    ``notes_deletions_every_s`` is how often a run checks for deleted Notes,
    which Zoho's deletion feed does not list (0: every run).
    """

    data_centre: DataCentre = "com"
    client_id: str
    client_secret: SecretStr
    refresh_token: SecretStr
    accounts_url: str | None = None
    api_url: str | None = None
    api_version: str = "v7"
    edition: Edition = "standard"
    concurrency: int | None = Field(default=None, ge=1, le=25)
    modules: dict[str, str] = Field(default_factory=dict)
    crmbridge_id_field: str = "crmbridge_id"
    trigger: list[Literal["workflow", "approval", "blueprint", "pathfinder", "orchestration"]] = (
        Field(default_factory=list)
    )
    credit_budget: int | None = Field(default=None, ge=1)
    overlap_s: int = Field(default=60, ge=0)
    page_size: int = Field(default=200, ge=1, le=200)
    read_mode: Literal["auto", "records", "coql"] = "auto"
    timeout_s: float = Field(default=30.0, gt=0)
    connect_timeout_s: float = Field(default=10.0, gt=0)
    max_retries: int = Field(default=5, ge=0)
    backoff_s: float = Field(default=1.0, ge=0)
    max_backoff_s: float = Field(default=60.0, ge=0)
    notify_token: SecretStr | None = None
    channel_renew_margin_s: int = Field(default=86_400, ge=60)
    notes_deletions_every_s: int = Field(default=3600, ge=0)

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        major = value.removeprefix("v").split(".", 1)[0]
        if not value.startswith("v") or not major.isdigit() or int(major) < 3:
            raise ValueError("api_version must be v3 or later, e.g. v7 or v8")
        return value

    @field_validator("accounts_url", "api_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    def accounts_base(self) -> str:
        """The accounts server to ask for tokens."""
        return self.accounts_url or ACCOUNTS_URLS[self.data_centre]

    def max_concurrency(self) -> int:
        """Concurrent calls allowed: ``concurrency`` or the edition's cap."""
        return self.concurrency or EDITION_CONCURRENCY[self.edition]
