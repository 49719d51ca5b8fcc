"""HTTP to Zoho CRM: auth header, retries, concurrency caps and the API-credit count.

Every call goes through :meth:`ZohoClient.call`:

- ``Authorization: Zoho-oauthtoken <token>``; a 401 ``INVALID_TOKEN`` drops the
  token, refreshes once and sends again;
- at most ``concurrency`` calls in flight (the edition's cap) and at most 10
  heavy ones (writes of more than 10 records, COQL);
- 429, 5xx, timeouts and dropped connections are retried with exponential
  backoff and full jitter (tenacity), honouring ``Retry-After`` when sent;
  each retry and each 429 is reported to the engine's
  :class:`~crmbridge.connector.ApiEvents`;
  other 4xx answers go back to the caller, which reads Zoho's error body;
- credits are counted as Zoho bills them (1 per call; writes 1 per 10 records,
  at most 10), and a call that would pass ``credit_budget`` is not sent: the
  run stops with a :class:`TransientError`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
)

from connectors.zoho.auth import TokenManager
from connectors.zoho.settings import API_URLS, HEAVY_CONCURRENCY, ZohoSettings
from crmbridge.connector import NO_API_EVENTS, ApiEvents
from crmbridge.errors import AuthError, PermanentError, TransientError

__all__ = ["ZohoClient", "ZohoResponse", "write_credits"]

log = logging.getLogger(__name__)


def write_credits(records: int) -> int:
    """Credits a write of ``records`` records costs: 1 per 10, at most 10."""
    return max(1, min(10, -(-records // 10)))


@dataclass(frozen=True, slots=True)
class ZohoResponse:
    """A Zoho answer: HTTP status and JSON body (``None`` for 204/304 or a non-JSON body)."""

    status: int
    body: Any

    @property
    def empty(self) -> bool:
        """No content: 204, 304, or nothing to read."""
        return self.status in (204, 304) or self.body is None

    @property
    def code(self) -> str | None:
        """Zoho's top-level error code, if the body is a flat error."""
        if isinstance(self.body, dict) and isinstance(self.body.get("code"), str):
            return str(self.body["code"])
        return None

    @property
    def details(self) -> Mapping[str, Any]:
        """The flat error's ``details``."""
        details = self.body.get("details") if isinstance(self.body, dict) else None
        return details if isinstance(details, dict) else {}

    def message(self) -> str:
        """A one-line description of an error answer."""
        if isinstance(self.body, dict):
            text = self.body.get("message") or self.body.get("code")
            if text:
                return f"HTTP {self.status} {self.code or ''}: {text}".replace("  ", " ")
        return f"HTTP {self.status}"


class _Retry(Exception):
    """A failure worth sending again; ``retry_after`` from the server, if it said."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None


def _json(response: httpx.Response) -> Any:
    if response.status_code in (204, 304) or not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


class ZohoClient:
    """One connector instance's HTTP client to Zoho CRM and its accounts server.

    ``transport`` replaces the network (``httpx.ASGITransport`` over the
    sandbox, ``respx`` in tests); ``sleep`` and ``rng`` make backoff testable.
    ``api_calls`` counts HTTP requests sent to the API (retries included),
    ``credits_used`` the credits they cost; ``events`` hears of every retry
    and every 429.
    """

    def __init__(
        self,
        settings: ZohoSettings,
        *,
        connector: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
        events: ApiEvents = NO_API_EVENTS,
    ) -> None:
        self.settings = settings
        self.connector = connector
        self.events = events
        self.transport = transport
        self.sleep = sleep
        self.rng = rng
        self.api_calls = 0
        self.credits_used = 0
        self.retries: Counter[str] = Counter()
        self._http: httpx.AsyncClient | None = None
        self._tokens: TokenManager | None = None
        self._all = asyncio.Semaphore(settings.max_concurrency())
        self._heavy = asyncio.Semaphore(min(HEAVY_CONCURRENCY, settings.max_concurrency()))

    @property
    def tokens(self) -> TokenManager:
        """The access-token cache (after :meth:`open`)."""
        if self._tokens is None:
            raise RuntimeError("ZohoClient.open() was not called")
        return self._tokens

    @property
    def http(self) -> httpx.AsyncClient:
        """The underlying httpx client (after :meth:`open`)."""
        if self._http is None:
            raise RuntimeError("ZohoClient.open() was not called")
        return self._http

    async def open(self) -> None:
        """Create the HTTP client; no call is made until the first request."""
        if self._http is not None:
            return
        s = self.settings
        limit = s.max_concurrency()
        self._http = httpx.AsyncClient(
            transport=self.transport,
            timeout=httpx.Timeout(s.timeout_s, connect=s.connect_timeout_s),
            limits=httpx.Limits(max_connections=limit + 2, max_keepalive_connections=limit + 2),
            follow_redirects=False,
        )
        self._tokens = TokenManager(s, self._http, connector=self.connector)

    async def close(self) -> None:
        """Close the HTTP client."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def api_base(self) -> str:
        """``{api host}/crm/{version}``: ``api_url``, else the token's ``api_domain``."""
        s = self.settings
        token = self.tokens.current
        host = s.api_url or (token.api_domain if token else None) or API_URLS[s.data_centre]
        return f"{host}/crm/{s.api_version}"

    def check_budget(self, credits: int) -> None:
        """Raise :class:`TransientError` if ``credits`` more would pass ``credit_budget``."""
        budget = self.settings.credit_budget
        if budget is not None and self.credits_used + credits > budget:
            raise TransientError(
                f"credit_budget of {budget} Zoho API credits for this run would be passed "
                f"({self.credits_used} used); the run stops here and goes on later",
                retry_after=3600,
                connector=self.connector,
            )

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        heavy: bool = False,
        credits: int = 1,
        attempts: int | None = None,
    ) -> ZohoResponse:
        """Send one API call (``path`` under ``/crm/{version}``), retrying what may pass.

        ``attempts`` caps the tries (``1``: a create the caller must look up
        before sending again). Returns 2xx, 204/304 and 4xx answers other than 401/429 for the caller
        to read; raises :class:`AuthError`, or :class:`TransientError` once
        retries are spent.
        """
        s = self.settings
        self.check_budget(credits)
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(_Retry),
            stop=stop_after_attempt(attempts or s.max_retries + 1),
            wait=self._wait,
            sleep=self.sleep,
            before_sleep=self._retrying,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._send(method, path, params, json, headers, heavy, credits)
        except _Retry as exc:
            raise TransientError(
                f"Zoho CRM {method} {path} failed after {attempts or s.max_retries + 1} attempts: {exc}",
                retry_after=exc.retry_after or s.max_backoff_s,
                connector=self.connector,
            ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _retrying(self, state: RetryCallState) -> None:
        self.events.retried()

    def _wait(self, state: RetryCallState) -> float:
        s = self.settings
        exc = state.outcome.exception() if state.outcome else None
        told = exc.retry_after if isinstance(exc, _Retry) else None
        if told is not None:
            return float(min(told, s.max_backoff_s * 10))
        ceiling: float = min(s.max_backoff_s, s.backoff_s * 2.0 ** (state.attempt_number - 1))
        return ceiling * self.rng()  # full jitter

    async def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        body: Any,
        headers: Mapping[str, str] | None,
        heavy: bool,
        credits: int,
    ) -> ZohoResponse:
        refreshed = False
        while True:
            token = await self.tokens.token()
            sent = {"Authorization": f"Zoho-oauthtoken {token.value}", **(headers or {})}
            url = f"{self.api_base()}{path}"
            try:
                response = await self._limited(method, url, params, body, sent, heavy)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                self.retries[type(exc).__name__] += 1
                raise _Retry(f"{type(exc).__name__}: {exc}") from None
            status = response.status_code
            if status == 429:
                self.retries["429"] += 1
                self.events.rate_limited()
                raise _Retry("HTTP 429 (rate limit)", _retry_after(response))
            if status >= 500:
                self.retries[str(status)] += 1
                raise _Retry(f"HTTP {status}", _retry_after(response))
            answer = ZohoResponse(status, _json(response))
            if status == 401:
                if answer.code == "INVALID_TOKEN" and not refreshed:
                    self.tokens.invalidate(token.value)
                    refreshed = True
                    continue
                raise self._auth_failure(answer)
            self.credits_used += credits
            return answer

    async def _limited(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        body: Any,
        headers: Mapping[str, str],
        heavy: bool,
    ) -> httpx.Response:
        async with self._heavy if heavy else _NoLock(), self._all:
            self.api_calls += 1
            return await self.http.request(method, url, params=params, json=body, headers=headers)

    def _auth_failure(self, answer: ZohoResponse) -> AuthError:
        if answer.code == "OAUTH_SCOPE_MISMATCH":
            return AuthError(
                "the refresh_token lacks a scope this call needs (OAUTH_SCOPE_MISMATCH); make a "
                "new grant code with ZohoCRM.modules.ALL, ZohoCRM.settings.ALL, ZohoCRM.coql.READ, "
                "ZohoCRM.users.READ and ZohoCRM.notifications.ALL, then a new refresh_token",
                connector=self.connector,
            )
        if answer.code == "INVALID_TOKEN":
            return AuthError(
                "Zoho CRM refused a freshly minted access token (INVALID_TOKEN): the refresh_token "
                "belongs to another data centre or environment; check data_centre / api_url",
                connector=self.connector,
            )
        return AuthError(
            f"Zoho CRM refused the credentials ({answer.message()}); check refresh_token",
            connector=self.connector,
        )

    def permanent(self, answer: ZohoResponse, what: str, **context: Any) -> PermanentError:
        """A :class:`PermanentError` describing an unexpected answer to ``what``."""
        return PermanentError(f"{what}: {answer.message()}", connector=self.connector, **context)


class _NoLock:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None
