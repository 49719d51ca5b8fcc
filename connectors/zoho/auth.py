"""OAuth 2.0 against Zoho Accounts: the refresh-token grant, a cached access token, grant codes.

Zoho answers token failures with **HTTP 200** and only an ``error`` key, so a
response is judged by whether it holds an ``access_token``. Parameters go in an
``application/x-www-form-urlencoded`` body, never in the URL, so secrets stay
out of proxy and server logs. Nothing here logs a secret or a token.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from connectors.zoho.settings import ZohoSettings
from crmbridge.errors import AuthError, TransientError

__all__ = ["AccessToken", "TokenManager", "exchange_grant_code", "parse_expiry"]

log = logging.getLogger(__name__)

#: refresh when less than this many seconds of the token's life remain
REFRESH_MARGIN_S = 60.0


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A live access token, the API host it is for, and when it lapses (monotonic seconds)."""

    value: str
    api_domain: str | None
    expires_at: float


def parse_expiry(body: dict[str, Any]) -> float:
    """Seconds the token lives; old responses gave ``expires_in`` in ms (with ``expires_in_sec``)."""
    if isinstance(body.get("expires_in_sec"), int | float):
        return float(body["expires_in_sec"])
    raw = body.get("expires_in")
    seconds = float(raw) if isinstance(raw, int | float) else 3600.0
    return seconds / 1000 if seconds > 86_400 else seconds


def _auth_error(settings: ZohoSettings, error: str, connector: str | None) -> AuthError:
    server = settings.accounts_base()
    if error == "invalid_client":
        hint = (
            f"Zoho Accounts at {server} refused client_id/client_secret (invalid_client): check "
            "client_id and client_secret, and that data_centre (or accounts_url) is the data "
            "centre the client was registered in"
        )
    elif error == "invalid_code":
        hint = (
            f"Zoho Accounts at {server} refused the refresh_token (invalid_code): it was revoked, "
            "replaced (a user keeps at most 20) or belongs to another data centre or org; run "
            "`crmbridge zoho auth --grant-code CODE` for a new refresh_token and check data_centre"
        )
    else:
        hint = f"Zoho Accounts at {server} refused the token request ({error}); check refresh_token"
    return AuthError(hint, connector=connector)


async def _token_request(
    client: httpx.AsyncClient, settings: ZohoSettings, form: dict[str, str], connector: str | None
) -> dict[str, Any]:
    url = f"{settings.accounts_base()}/oauth/v2/token"
    try:
        response = await client.post(url, data=form)
    except httpx.TransportError as exc:
        raise TransientError(
            f"Zoho Accounts unreachable: {type(exc).__name__}", retry_after=30, connector=connector
        ) from None
    if response.status_code == 429 or response.status_code >= 500:
        raise TransientError(
            f"Zoho Accounts answered HTTP {response.status_code}",
            retry_after=60,
            connector=connector,
        )
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict) or not body.get("access_token"):
        error = str(body.get("error") or "no access_token") if isinstance(body, dict) else ""
        error = error or "no access_token"
        if "access denied" in error.lower() or "too many" in error.lower():
            # token minting is throttled (≤10 per 10 min per refresh token): wait, do not fail
            raise TransientError(f"Zoho Accounts: {error}", retry_after=600, connector=connector)
        log.warning("zoho token request refused: %s", error)
        raise _auth_error(settings, error, connector)
    return body


class TokenManager:
    """Holds one access token, refreshed before it lapses, one refresh at a time.

    ``token()`` returns a live token; concurrent callers wait on one refresh
    (an :class:`asyncio.Lock`), so a burst of calls mints one token, not many
    (Zoho allows about ten per ten minutes per refresh token).
    ``invalidate(value)`` drops a token the API called ``INVALID_TOKEN``;
    a token already replaced by another caller is left alone.
    """

    def __init__(
        self,
        settings: ZohoSettings,
        client: httpx.AsyncClient,
        *,
        connector: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.client = client
        self.connector = connector
        self.clock = clock
        self.refreshes = 0
        self._current: AccessToken | None = None
        self._lock = asyncio.Lock()

    @property
    def current(self) -> AccessToken | None:
        """The cached token, live or not."""
        return self._current

    def _live(self) -> AccessToken | None:
        token = self._current
        if token is not None and token.expires_at - self.clock() > REFRESH_MARGIN_S:
            return token
        return None

    async def token(self) -> AccessToken:
        """A token with more than a minute to live, refreshing it first if needed."""
        token = self._live()
        if token is not None:
            return token
        async with self._lock:
            token = self._live()
            if token is None:
                token = await self._refresh()
            return token

    def invalidate(self, value: str) -> None:
        """Forget ``value`` if it is still the cached token."""
        if self._current is not None and self._current.value == value:
            self._current = None

    async def _refresh(self) -> AccessToken:
        s = self.settings
        body = await _token_request(
            self.client,
            s,
            {
                "grant_type": "refresh_token",
                "client_id": s.client_id,
                "client_secret": s.client_secret.get_secret_value(),
                "refresh_token": s.refresh_token.get_secret_value(),
            },
            self.connector,
        )
        self.refreshes += 1
        domain = body.get("api_domain")
        self._current = AccessToken(
            str(body["access_token"]),
            str(domain).rstrip("/") if domain else None,
            self.clock() + parse_expiry(body),
        )
        log.debug("zoho access token refreshed (%d so far)", self.refreshes)
        return self._current


async def exchange_grant_code(
    settings: ZohoSettings,
    code: str,
    *,
    redirect_uri: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> str:
    """Exchange a one-time grant code (Self Client or web flow) for a refresh token.

    What ``crmbridge zoho auth --grant-code CODE`` calls; the caller stores the
    returned token as the ``refresh_token`` setting. Raises :class:`AuthError`
    naming the setting to fix (an expired or reused code is ``invalid_code``).
    """
    form = {
        "grant_type": "authorization_code",
        "client_id": settings.client_id,
        "client_secret": settings.client_secret.get_secret_value(),
        "code": code,
    }
    if redirect_uri:
        form["redirect_uri"] = redirect_uri
    async with httpx.AsyncClient(
        transport=transport, timeout=settings.timeout_s, follow_redirects=False
    ) as client:
        try:
            body = await _token_request(client, settings, form, None)
        except AuthError as exc:
            if "invalid_code" in exc.message:
                raise AuthError(
                    "Zoho Accounts refused the grant code (invalid_code): grant codes are "
                    "one-time and live for minutes; make a new one in the API console of the "
                    f"data centre {settings.data_centre!r} (or accounts_url) and try again"
                ) from None
            raise
    refresh = body.get("refresh_token")
    if not refresh:
        raise AuthError(
            "Zoho Accounts returned no refresh_token: ask for offline access "
            "(access_type=offline, prompt=consent) when making the grant code"
        )
    return str(refresh)
