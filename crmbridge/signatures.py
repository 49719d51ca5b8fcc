"""Signing and verifying webhooks: Standard Webhooks, plain HMAC headers, shared tokens.

Pure functions of their inputs (the clock is a parameter). Every failure is a
:class:`SignatureError` whose message says what is wrong in terms a sender
can act on and never contains a secret, a signature or a token.

- **Standard Webhooks** 1.0 (symmetric): ``webhook-id``, ``webhook-timestamp``
  and ``webhook-signature: v1,<base64>`` (a space-separated list), the HMAC-SHA256
  of ``{id}.{timestamp}.{body}`` keyed with the base64 bytes of a ``whsec_`` secret;
  several secrets (rotation) and several signatures are accepted, entries of
  other versions ignored, the timestamp must be within ``tolerance_s``.
- **HMAC header** (GitHub ``X-Hub-Signature-256: sha256=<hex>``, Shopify
  ``X-Shopify-Hmac-Sha256: <base64>``): the HMAC of the raw body keyed with the
  secret's UTF-8 bytes, in hex or base64, after an optional prefix.
- **Tokens** (a Zoho notification channel's ``token``, bearer tokens):
  constant-time equality.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Literal

__all__ = [
    "Algorithm",
    "Encoding",
    "SignatureError",
    "decode_standard_secret",
    "hmac_signature",
    "sign_standard",
    "standard_headers",
    "tokens_match",
    "verify_hmac",
    "verify_standard",
    "verify_zoho_notification",
]

Algorithm = Literal["sha256", "sha1", "sha512"]
Encoding = Literal["hex", "base64"]

WEBHOOK_ID = "webhook-id"
WEBHOOK_TIMESTAMP = "webhook-timestamp"
WEBHOOK_SIGNATURE = "webhook-signature"

_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_MAX_SIGNATURE_HEADER = 4096


class SignatureError(Exception):
    """A delivery does not verify; the message is safe to log and to send back."""


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def decode_standard_secret(secret: str) -> bytes:
    """The key bytes of a Standard Webhooks secret (``whsec_`` + base64, prefix optional).

    Raises :class:`ValueError` (naming no part of the secret) when it is not base64.
    """
    text = secret.removeprefix("whsec_")
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a Standard Webhooks secret must be whsec_ followed by base64") from None
    if not key:
        raise ValueError("a Standard Webhooks secret must not be empty")
    return key


def _standard_mac(key: bytes, msg_id: str, timestamp: str, body: bytes) -> bytes:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return hmac.new(key, signed, hashlib.sha256).digest()


def sign_standard(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` entry ``v1,<base64>`` for one message and one secret."""
    mac = _standard_mac(decode_standard_secret(secret), msg_id, str(int(timestamp)), body)
    return "v1," + base64.b64encode(mac).decode()


def standard_headers(
    secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The three Standard Webhooks headers, signed with every secret (dual signing on rotation)."""
    if "." in msg_id:
        raise ValueError("a webhook id must not contain '.'")
    return {
        WEBHOOK_ID: msg_id,
        WEBHOOK_TIMESTAMP: str(int(timestamp)),
        WEBHOOK_SIGNATURE: " ".join(sign_standard(s, msg_id, timestamp, body) for s in secrets),
    }


def _b64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def verify_standard(
    secrets: Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    tolerance_s: float = 300,
) -> str:
    """Verify a Standard Webhooks delivery; returns its ``webhook-id``.

    ``now`` is the current Unix time. Raises :class:`SignatureError`.
    """
    lowered = _lower(headers)
    msg_id = lowered.get(WEBHOOK_ID, "")
    stamp = lowered.get(WEBHOOK_TIMESTAMP, "")
    header = lowered.get(WEBHOOK_SIGNATURE, "")
    if not msg_id or not stamp or not header:
        raise SignatureError(
            "missing webhook-id, webhook-timestamp or webhook-signature header "
            "(a Standard Webhooks delivery is expected)"
        )
    if not _TIMESTAMP.fullmatch(stamp):
        raise SignatureError("webhook-timestamp must be whole Unix seconds")
    if abs(now - int(stamp)) > tolerance_s:
        raise SignatureError(
            f"webhook-timestamp is more than {int(tolerance_s)} s away from this server's clock "
            "(a replay, or a clock to fix)"
        )
    if len(header) > _MAX_SIGNATURE_HEADER:
        raise SignatureError("webhook-signature header is too long")
    given = [
        mac
        for version, _, value in (entry.partition(",") for entry in header.split())
        if version == "v1" and (mac := _b64(value)) is not None
    ]
    keys = _keys(secrets, decode_standard_secret)
    if not any(
        hmac.compare_digest(_standard_mac(key, msg_id, stamp, body), mac)
        for key in keys
        for mac in given
    ):
        raise SignatureError("no webhook-signature entry matches a configured secret")
    return msg_id


def _keys(secrets: Iterable[str], decode: Callable[[str], bytes]) -> list[bytes]:
    keys: list[bytes] = []
    for secret in secrets:
        try:
            keys.append(decode(secret))
        except ValueError:
            continue
    if not keys:
        raise SignatureError("no usable secret is configured for this connector")
    return keys


def hmac_signature(
    secret: str, body: bytes, *, algorithm: Algorithm = "sha256", encoding: Encoding = "hex"
) -> str:
    """The HMAC of ``body`` keyed with ``secret``'s UTF-8 bytes, hex or base64 encoded."""
    mac = hmac.new(secret.encode(), body, algorithm).digest()
    return mac.hex() if encoding == "hex" else base64.b64encode(mac).decode()


def verify_hmac(
    secrets: Sequence[str],
    value: str | None,
    body: bytes,
    *,
    header: str,
    algorithm: Algorithm = "sha256",
    encoding: Encoding = "hex",
    prefix: str = "",
) -> None:
    """Verify an HMAC-of-the-body header value (GitHub, Shopify and alike).

    Decoded bytes are compared, so hex case and base64 padding do not matter.
    Raises :class:`SignatureError`.
    """
    if not value:
        raise SignatureError(f"missing {header} header")
    if len(value) > _MAX_SIGNATURE_HEADER:
        raise SignatureError(f"{header} header is too long")
    if prefix:
        if not value.startswith(prefix):
            raise SignatureError(f"{header} must start with {prefix!r}")
        value = value[len(prefix) :]
    given: bytes | None
    if encoding == "hex":
        try:
            given = bytes.fromhex(value.strip())
        except ValueError:
            given = None
    else:
        given = _b64(value.strip())
    if given is None:
        raise SignatureError(f"{header} is not {encoding}")
    keys = _keys(secrets, _utf8_key)
    if not any(hmac.compare_digest(hmac.new(k, body, algorithm).digest(), given) for k in keys):
        raise SignatureError(f"{header} does not match a configured secret")


def _utf8_key(secret: str) -> bytes:
    if not secret:
        raise ValueError("empty secret")
    return secret.encode()


def tokens_match(expected: Iterable[str], given: str | None) -> bool:
    """Whether ``given`` equals one of the ``expected`` tokens (constant time, empty never matches)."""
    if not given:
        return False
    raw = given.encode()
    found = False
    for token in expected:
        if token and hmac.compare_digest(token.encode(), raw):
            found = True
    return found


def verify_zoho_notification(tokens: Sequence[str], body: bytes) -> str:
    """Verify a Zoho CRM notification callback by its echoed channel ``token``; returns a dedupe id.

    Zoho sends no delivery id and no signature, so the id is derived from
    ``channel_id``, ``server_time``, ``operation`` and the sorted ``ids``.
    Raises :class:`SignatureError` (bad token) or :class:`ValueError` (not a
    notification body).
    """
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ValueError("the body is not JSON") from None
    if not isinstance(payload, dict):
        raise ValueError("a Zoho notification is a JSON object")
    token = payload.get("token")
    if not tokens_match(tokens, token if isinstance(token, str) else None):
        raise SignatureError("the notification's channel token does not match notify_token")
    ids = payload.get("ids")
    if not isinstance(ids, list):
        raise ValueError("a Zoho notification carries an `ids` list")
    key = json.dumps(
        [
            str(payload.get("channel_id")),
            str(payload.get("server_time")),
            str(payload.get("operation")),
            sorted(str(i) for i in ids),
        ]
    )
    return "zoho_" + hashlib.sha256(key.encode()).hexdigest()[:40]
