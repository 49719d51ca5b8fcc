"""The webhook connector's config section."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from crmbridge.connector import ConnectorSettings
from crmbridge.signatures import Algorithm, Encoding, decode_standard_secret

__all__ = ["RetrySettings", "WebhookSettings"]


class RetrySettings(BaseModel):
    """How an outbound delivery is retried.

    ``attempts`` tries happen in-process, ``first_s`` apart, doubling with
    jitter up to ``max_s``; then the message waits in the dead-letter file and
    is tried again on later runs after each delay of ``later`` (from minutes to
    hours); after those it is dead until ``crmbridge webhooks redeliver``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    attempts: int = Field(4, ge=1, le=20)
    first_s: float = Field(1.0, ge=0)
    max_s: float = Field(30.0, ge=0)
    retry_after_cap_s: float = Field(60.0, ge=0)
    later: tuple[float, ...] = (60.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0)


class WebhookSettings(ConnectorSettings):
    """Settings of a generic webhook peer.

    Inbound (``POST /webhooks/<name>``): ``signature`` selects the check —
    ``standard`` (Standard Webhooks, ``whsec_`` secrets), ``hmac`` (an HMAC of
    the body in ``header``, ``algorithm``, ``encoding``, after ``prefix``:
    GitHub is ``header: X-Hub-Signature-256, prefix: "sha256="``, Shopify
    ``header: X-Shopify-Hmac-Sha256, encoding: base64``) or ``none``, which
    must be said explicitly. ``secret`` is one secret or a list (rotation: all
    are accepted; the first signs outbound messages).

    Records sit at ``records_path`` (an object or a list of objects), the event
    type at ``event_type_path`` (``stakeholder.updated``: its first part names
    the mapping's ``remote``, ``.deleted`` deletes); a record whose
    ``deleted_flag`` is true is deleted too. ``entity`` is used when an event
    has no type. The delivery id comes from the ``webhook-id`` header
    (standard), else ``id_header``, else ``id_path`` in the body, else the
    body's SHA-256.

    Outbound: hub changes are POSTed to ``url`` as signed Standard Webhooks
    messages of up to ``batch_size`` records.
    """

    secret: SecretStr | list[SecretStr] | None = None
    signature: Literal["standard", "hmac", "none"] = "standard"
    header: str = "webhook-signature"
    algorithm: Algorithm = "sha256"
    encoding: Encoding = "hex"
    prefix: str = ""
    tolerance_s: int = Field(300, ge=1)
    records_path: str = "data"
    event_type_path: str = "type"
    id_path: str | None = None
    id_header: str | None = None
    timestamp_path: str | None = "timestamp"
    deleted_flag: str = "deleted"
    entity: str | None = None
    url: str | None = None
    allow_http: bool = False
    batch_size: int = Field(100, ge=1, le=10_000)
    concurrency: int = Field(4, ge=1, le=64)
    timeout_s: float = Field(15.0, gt=0)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    dead_letters: str | None = None

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("url must be an http(s) URL")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> WebhookSettings:
        secrets = self.secrets()
        if self.signature != "none" and not secrets:
            raise ValueError(
                f"signature: {self.signature} needs a `secret` (or say `signature: none` "
                "to accept unsigned deliveries)"
            )
        if self.signature == "standard":
            for secret in secrets:
                decode_standard_secret(secret)
        if self.url is not None:
            if not secrets:
                raise ValueError("outbound deliveries to `url` are signed: give a whsec_ `secret`")
            for secret in secrets:
                decode_standard_secret(secret)
        if self.url is not None and self.url.startswith("http://") and not self.allow_http:
            host = self.url[len("http://") :].split("/", 1)[0].rsplit(":", 1)[0]
            if host not in ("localhost", "127.0.0.1", "[::1]"):
                raise ValueError(
                    "url must be https:// (http:// only for localhost, or with allow_http: true)"
                )
        return self

    def secrets(self) -> list[str]:
        """The configured secrets as plain strings, first (signing) one first."""
        if self.secret is None:
            return []
        items = self.secret if isinstance(self.secret, list) else [self.secret]
        return [s.get_secret_value() for s in items if s.get_secret_value()]
