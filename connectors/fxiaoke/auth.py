"""Tokens for the Fxiaoke OpenAPI, in either convention, cached for their life.

- ``current``: ``POST /oauth2.0/token`` with ``{appId, appSecret,
  permanentCode, grantType: "app_secret"}`` gives ``accessToken`` and ``ea``;
  calls then carry ``authorization: Bearer``, ``x-fs-ea`` and ``x-fs-userid``.
- ``legacy``: ``POST /cgi/corpAccessToken/get/V2`` with ``{appId, appSecret,
  permanentCode}`` gives ``corpAccessToken`` and ``corpId``; calls then carry
  ``corpAccessToken``, ``corpId`` and ``currentOpenUserId`` in their body.

A token lives 7,200 s; the endpoint hands out the same one for its first
6,600 s and a new one after that (the old staying valid to the end), so a
token is kept until 550 s are left (6,650 s of age, inside the window both
the manual and its transcriptions give) and then renewed. The token endpoint
takes at most 10 calls a minute and no concurrent ones: one refresh runs at a
time under an :class:`asyncio.Lock`, and callers wait for it. The token is
also kept in ``shared`` (the engine's per-process ``ConnectorContext.shared``,
under a :class:`threading.Lock`) so the next run of the process starts from it
instead of minting one. Its expiry is monotonic time, which is per process,
as ``shared`` is. Secrets and tokens are never logged.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from connectors.fxiaoke.codes import (
    BAD_CREDENTIALS,
    BUSY,
    DAILY_QUOTA,
    NO_QUOTA,
    NOT_AUTHORISED,
    THROTTLED,
    DailyQuotaExhausted,
    error_code,
    next_midnight,
)
from connectors.fxiaoke.limiter import WindowLimiter
from connectors.fxiaoke.settings import FxiaokeSettings
from crmbridge.errors import AuthError, ConfigError, TransientError

__all__ = [
    "CURRENT_PATH",
    "LEGACY_PATH",
    "REFRESH_LEFT_S",
    "Token",
    "TokenManager",
    "credentials_error",
]

log = logging.getLogger(__name__)

CURRENT_PATH = "/oauth2.0/token"
LEGACY_PATH = "/cgi/corpAccessToken/get/V2"
#: renew a token once this many seconds of its life are left
REFRESH_LEFT_S = 550.0
_DEFAULT_LIFE_S = 7200.0


@dataclass(frozen=True, slots=True)
class Token:
    """A live token: ``ea`` (current convention) or ``corp_id`` (legacy), and its expiry (monotonic)."""

    value: str
    expires_at: float
    life_s: float
    ea: str | None = None
    corp_id: str | None = None

    def __repr__(self) -> str:
        return f"Token(ea={self.ea!r}, corp_id={self.corp_id!r}, expires_at={self.expires_at})"


def credentials_error(
    settings: FxiaokeSettings, code: int, trace: str | None, connector: str | None
) -> Exception:
    """The error for a refused credential, authorisation or quota-purchase ``code``, naming the setting."""
    where = f"{settings.base_url} (errorCode {code}, traceId {trace})"
    if code in BAD_CREDENTIALS:
        return AuthError(
            f"Fxiaoke refused the app credentials at {where}: check app_id, app_secret and "
            "permanent_code (from the self-built app's page in the admin console) and base_url "
            "(the tenant's cloud)",
            connector=connector,
        )
    if code in NOT_AUTHORISED:
        return AuthError(
            f"the Fxiaoke app app_id={settings.app_id} is disabled or not authorised by the "
            f"tenant at {where}: an administrator must enable it and grant it the CRM data",
            connector=connector,
        )
    if code == NO_QUOTA:
        return ConfigError(
            f"the Fxiaoke tenant has bought no OpenAPI call quota ({where}): an administrator "
            "must order an OpenAPI pack before app_id can call the API",
            key="app_id",
            connector=connector,
        )
    return AuthError(
        f"Fxiaoke refused the token request at {where}: check app_id, app_secret, "
        "permanent_code and base_url",
        connector=connector,
    )


class TokenManager:
    """One cached token per connector instance, renewed near its end, one refresh at a time.

    ``invalidate(value)`` drops a token the API answered 20016 to (unless
    another caller already replaced it); ``refreshes`` counts token calls.
    """

    def __init__(
        self,
        settings: FxiaokeSettings,
        http: httpx.AsyncClient,
        *,
        limiter: WindowLimiter | None = None,
        connector: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        shared: dict[str, Any] | None = None,
        lock: threading.Lock | None = None,
    ) -> None:
        self.settings = settings
        self.http = http
        self.limiter = limiter
        self.connector = connector
        self.clock = clock
        self.now = now
        self.refreshes = 0
        self._shared: dict[str, Any] = {} if shared is None else shared
        self._shared_lock = lock or threading.Lock()
        # a token is only good for the credentials and convention that minted it
        self._key = (settings.base_url, settings.auth, settings.app_id, settings.user_id)
        self._current: Token | None = self._from_shared()
        self._lock = asyncio.Lock()  # single flight within this run's event loop

    def _from_shared(self) -> Token | None:
        with self._shared_lock:
            return self._held()

    def _held(self) -> Token | None:
        """The token shared for these credentials (the caller holds the shared lock)."""
        held = self._shared.get("token")
        if isinstance(held, tuple) and len(held) == 2 and held[0] == self._key:
            token = held[1]
            return token if isinstance(token, Token) else None
        return None

    def _to_shared(self, token: Token) -> None:
        with self._shared_lock:
            self._shared["token"] = (self._key, token)

    @property
    def current(self) -> Token | None:
        """The cached token, live or not."""
        return self._current

    def _live(self) -> Token | None:
        token = self._fresh(self._current)
        if token is None:  # another run of this process may have renewed it meanwhile
            token = self._fresh(self._from_shared())
            if token is not None:
                self._current = token
        return token

    def _fresh(self, token: Token | None) -> Token | None:
        if token is None:
            return None
        margin = min(REFRESH_LEFT_S, token.life_s / 2)
        return token if token.expires_at - self.clock() > margin else None

    async def token(self) -> Token:
        """A token with more than its renewal margin to live, fetching one first if needed."""
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
            with self._shared_lock:
                held = self._held()
                if held is not None and held.value == value:
                    self._shared.pop("token", None)
            self._current = None

    async def _refresh(self) -> Token:
        s = self.settings
        form: dict[str, str] = {
            "appId": s.app_id,
            "appSecret": s.app_secret.get_secret_value(),
            "permanentCode": s.permanent_code.get_secret_value(),
        }
        path = LEGACY_PATH
        if s.auth == "current":
            form["grantType"] = "app_secret"
            path = CURRENT_PATH
        if self.limiter is not None:
            await self.limiter.acquire(path)
        body = await self._post(path, form)
        code = error_code(body)
        trace = str(body.get("traceId")) if body.get("traceId") else None
        if code != 0:
            raise self._failure(code, trace)
        value = body.get("accessToken" if s.auth == "current" else "corpAccessToken")
        if not isinstance(value, str) or not value:
            raise AuthError(
                f"Fxiaoke's token answer at {s.base_url}{path} held no token (traceId {trace}); "
                "check base_url and auth (current or legacy)",
                connector=self.connector,
            )
        raw = body.get("expiresIn")
        life = float(raw) if isinstance(raw, int | float) and raw > 0 else _DEFAULT_LIFE_S
        self.refreshes += 1
        self._current = Token(
            value,
            self.clock() + life,
            life,
            ea=str(body["ea"]) if body.get("ea") else None,
            corp_id=str(body["corpId"]) if body.get("corpId") else None,
        )
        if s.auth == "current" and not self._current.ea:
            raise AuthError(
                f"Fxiaoke's token answer held no ea (enterprise account) (traceId {trace}); "
                "try auth: legacy",
                connector=self.connector,
            )
        self._to_shared(self._current)
        log.debug("fxiaoke %s token obtained (%d so far)", s.auth, self.refreshes)
        return self._current

    def _failure(self, code: int | None, trace: str | None) -> Exception:
        if code is None:
            return AuthError(
                f"Fxiaoke's token endpoint at {self.settings.base_url} gave no errorCode: "
                "check base_url (the OpenAPI gateway, e.g. https://open.fxiaoke.com)",
                connector=self.connector,
            )
        log.warning("fxiaoke token request refused: errorCode %s (traceId %s)", code, trace)
        if code in BUSY or code in THROTTLED:
            return TransientError(
                f"Fxiaoke's token endpoint is busy (errorCode {code}, traceId {trace})",
                retry_after=60,
                connector=self.connector,
            )
        if code == DAILY_QUOTA:
            until = next_midnight(self.now(), self.settings.quota_timezone)
            return DailyQuotaExhausted(until, connector=self.connector)
        return credentials_error(self.settings, code, trace, self.connector)

    async def _post(self, path: str, form: dict[str, str]) -> dict[str, Any]:
        url = f"{self.settings.base_url}{path}"
        try:
            response = await self.http.post(
                url, params={"thirdTraceId": str(uuid.uuid4())}, json=form
            )
        except httpx.TransportError as exc:
            raise TransientError(
                f"Fxiaoke's token endpoint is unreachable: {type(exc).__name__}",
                retry_after=30,
                connector=self.connector,
            ) from None
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientError(
                f"Fxiaoke's token endpoint answered HTTP {response.status_code}",
                retry_after=60,
                connector=self.connector,
            )
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict):
            raise ConfigError(
                f"{url} answered HTTP {response.status_code} without an OpenAPI body: base_url "
                "must be the tenant cloud's OpenAPI gateway (e.g. https://open.fxiaoke.com, "
                "not www.fxiaoke.com)",
                key="base_url",
                connector=self.connector,
            )
        return body
