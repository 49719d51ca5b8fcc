"""HTTP to the Fxiaoke OpenAPI: envelopes, trace ids, errorCode branching, retries, limits.

Every call goes through :meth:`FxiaokeClient.call`:

- ``POST {base_url}{path}?thirdTraceId=<fresh UUIDv4>`` with a JSON body
  ``{"data": ...}``, signed in the configured convention (headers, or the
  legacy fields beside ``data``);
- errorCode 20016/20005 (token expired) drops the token, fetches a new one
  once and sends again; a second one is an :class:`AuthError`;
- busy and throttling codes, HTTP 429/5xx, timeouts and dropped connections
  are retried with exponential backoff and full jitter (tenacity), each
  retry reported to the engine's :class:`~crmbridge.connector.ApiEvents`;
- errorCode 30002 (from any endpoint, the token one included) stops the
  instance and, through ``shared``, every later run of this process until
  the quota resets: no further call is sent and every one raises
  :class:`DailyQuotaExhausted` saying when;
- credential, authorisation and quota-purchase codes raise
  :class:`AuthError` / :class:`ConfigError` naming the setting to fix;
- any other non-zero code raises :class:`FxiaokeError` for the caller
  (a write turns it into a rejected result for its record);
- every endpoint keeps under ``rate_limit_calls`` per ``rate_limit_window_s``
  (:class:`WindowLimiter`, its send times in ``shared`` so concurrent runs
  share one budget), and at most ``concurrency`` calls are in flight.

The server's ``traceId`` is logged with every error and carried by the
raised error.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from connectors.fxiaoke.auth import TokenManager, credentials_error
from connectors.fxiaoke.codes import (
    BAD_CREDENTIALS,
    BUSY,
    DAILY_QUOTA,
    NO_QUOTA,
    NOT_AUTHORISED,
    THROTTLED,
    TOKEN_EXPIRED,
    UNKNOWN_USER,
    DailyQuotaExhausted,
    FxiaokeError,
    NotSent,
    error_code,
    next_midnight,
)
from connectors.fxiaoke.limiter import WindowLimiter
from connectors.fxiaoke.settings import FxiaokeSettings
from crmbridge.connector import NO_API_EVENTS, ApiEvents
from crmbridge.errors import AuthError, ConfigError, PermanentError, TransientError

__all__ = ["Answer", "FxiaokeClient", "data_path"]

log = logging.getLogger(__name__)

#: the token endpoint takes at most 10 calls a minute
TOKEN_CALLS_PER_MINUTE = 10
#: errorCode of a call without (or with an unknown) corp: the probe's "no auth" answer
_NO_CORP = 20017


def data_path(api_name: str, verb: str) -> str:
    """The data endpoint ``verb`` (query, create, ...) of an object: custom ones end in ``__c``."""
    if api_name.endswith("__c"):
        return f"/cgi/crm/custom/v2/data/{verb}"
    return f"/cgi/crm/v2/data/{verb}"


@dataclass(frozen=True, slots=True)
class Answer:
    """A successful answer (errorCode 0): its whole body."""

    body: dict[str, Any]

    @property
    def data(self) -> Any:
        """The ``data`` payload (get, query, describe)."""
        return self.body.get("data")

    @property
    def trace_id(self) -> str | None:
        """The server's ``traceId``."""
        trace = self.body.get("traceId")
        return str(trace) if trace else None


class _Retry(Exception):
    """A failure worth sending again; ``sent`` unless the call surely did no work."""

    def __init__(self, message: str, *, sent: bool = True) -> None:
        super().__init__(message)
        self.sent = sent


#: transport failures raised before the request left: the server saw nothing
_UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def _now() -> datetime:
    return datetime.now(UTC)


class FxiaokeClient:
    """One connector instance's HTTP client to the Fxiaoke OpenAPI.

    ``transport`` replaces the network (``respx`` in tests, the sandbox);
    ``sleep``, ``rng``, ``clock`` (monotonic) and ``now`` (wall time) make
    backoff, limits and token life testable. ``shared`` is what outlives a run
    (the engine's ``ConnectorContext.shared``: token, send times, quota stop),
    plain values under its ``threading.Lock``. ``api_calls`` counts HTTP
    requests to the API (retries included, token calls not), ``calls`` the
    same by path.
    """

    def __init__(
        self,
        settings: FxiaokeSettings,
        *,
        connector: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
        events: ApiEvents = NO_API_EVENTS,
        clock: Callable[[], float] | None = None,
        now: Callable[[], datetime] = _now,
        shared: dict[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.connector = connector
        self.transport = transport
        self.sleep = sleep
        self.rng = rng
        self.events = events
        self.now = now
        self._clock = clock
        self.shared: dict[str, Any] = {} if shared is None else shared
        self.lock: threading.Lock = self.shared.setdefault("lock", threading.Lock())
        extra: dict[str, Any] = {"clock": clock} if clock is not None else {}
        extra["lock"] = self.lock
        self.limiter = WindowLimiter(
            settings.rate_limit_calls,
            settings.rate_limit_window_s,
            sleep=sleep,
            store=self.shared.setdefault("calls_sent", {}),
            **extra,
        )
        self.token_limiter = WindowLimiter(
            TOKEN_CALLS_PER_MINUTE,
            60.0,
            sleep=sleep,
            store=self.shared.setdefault("token_calls_sent", {}),
            **extra,
        )
        self.api_calls = 0
        self.calls: Counter[str] = Counter()
        self.retries: Counter[str] = Counter()
        self._gate = asyncio.Semaphore(settings.concurrency)
        self._http: httpx.AsyncClient | None = None
        self._tokens: TokenManager | None = None
        self._stopped: DailyQuotaExhausted | None = None

    @property
    def tokens(self) -> TokenManager:
        """The token cache (after :meth:`open`)."""
        if self._tokens is None:
            raise RuntimeError("FxiaokeClient.open() was not called")
        return self._tokens

    @property
    def http(self) -> httpx.AsyncClient:
        """The underlying httpx client (after :meth:`open`)."""
        if self._http is None:
            raise RuntimeError("FxiaokeClient.open() was not called")
        return self._http

    async def open(self) -> None:
        """Create the HTTP client; the token comes with the first call."""
        if self._http is not None:
            return
        s = self.settings
        self._http = httpx.AsyncClient(
            transport=self.transport,
            timeout=httpx.Timeout(s.timeout_s, connect=s.connect_timeout_s),
            limits=httpx.Limits(max_connections=s.concurrency + 2),
            follow_redirects=False,
        )
        extra = {"clock": self._clock} if self._clock is not None else {}
        self._tokens = TokenManager(
            s,
            self._http,
            limiter=self.token_limiter,
            connector=self.connector,
            now=self.now,
            shared=self.shared,
            lock=self.lock,
            **extra,
        )

    async def close(self) -> None:
        """Close the HTTP client."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def call(
        self,
        path: str,
        data: Mapping[str, Any],
        *,
        extra: Mapping[str, Any] | None = None,
        attempts: int | None = None,
    ) -> Answer:
        """Send ``{"data": data, **extra}`` to ``path``; return the answer when errorCode is 0.

        ``attempts`` caps the tries (``1``: a create its caller looks up
        before sending again). Raises :class:`TransientError` once retries
        are spent, and the errors listed in the module docstring.
        """
        self._check_stop()
        s = self.settings
        tries = attempts or s.max_retries + 1
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(_Retry),
            stop=stop_after_attempt(tries),
            wait=self._wait,
            sleep=self.sleep,
            before_sleep=self._retrying,
            reraise=True,
        )
        sent = False
        try:
            async for attempt in retrying:
                with attempt:
                    try:
                        return await self._send(path, data, extra or {})
                    except _Retry as exc:
                        sent = sent or exc.sent
                        raise
        except _Retry as exc:
            error = TransientError if sent else NotSent
            raise error(
                f"Fxiaoke {path} failed after {tries} attempts: {exc}",
                retry_after=s.max_backoff_s,
                connector=self.connector,
            ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _check_stop(self) -> None:
        """Raise the quota stop this instance, or another run of this process, has seen."""
        if self._stopped is None:
            until = self.shared.get("quota_until")
            if isinstance(until, datetime) and self.now() < until:
                self._stopped = DailyQuotaExhausted(until, connector=self.connector)
        if self._stopped is not None:
            raise self._stopped

    def _stop(self, exc: DailyQuotaExhausted) -> DailyQuotaExhausted:
        """Remember a quota stop, here and for the later runs of this process."""
        self._stopped = exc
        with self.lock:
            known = self.shared.get("quota_until")
            if not isinstance(known, datetime) or known < exc.until:
                self.shared["quota_until"] = exc.until
        return exc

    def _retrying(self, state: RetryCallState) -> None:
        self.events.retried()

    def _wait(self, state: RetryCallState) -> float:
        s = self.settings
        ceiling: float = min(s.max_backoff_s, s.backoff_s * 2.0 ** (state.attempt_number - 1))
        return ceiling * self.rng()

    def _envelope(
        self, token: Any, data: Mapping[str, Any], extra: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, str]]:
        s = self.settings
        if s.auth == "legacy":
            body = {
                "corpAccessToken": token.value,
                "corpId": token.corp_id,
                "currentOpenUserId": s.user_id,
                **extra,
                "data": dict(data),
            }
            return body, {}
        headers = {
            "authorization": f"Bearer {token.value}",
            "x-fs-ea": str(token.ea),
            "x-fs-userid": s.user_id,
        }
        return {**extra, "data": dict(data)}, headers

    async def _send(self, path: str, data: Mapping[str, Any], extra: Mapping[str, Any]) -> Answer:
        refreshed = False
        while True:
            self._check_stop()
            try:
                token = await self.tokens.token()
            except DailyQuotaExhausted as exc:
                raise self._stop(exc) from None
            body, headers = self._envelope(token, data, extra)
            try:
                async with self._gate:
                    # counted when it leaves, not while it queues for the gate
                    await self.limiter.acquire(path)
                    self.api_calls += 1
                    self.calls[path] += 1
                    response = await self.http.post(
                        f"{self.settings.base_url}{path}",
                        params={"thirdTraceId": str(uuid.uuid4())},
                        json=body,
                        headers=headers,
                    )
            except httpx.TransportError as exc:
                self.retries[type(exc).__name__] += 1
                unsent = isinstance(exc, _UNSENT)
                raise _Retry(f"{type(exc).__name__}: {exc}", sent=not unsent) from None
            if response.status_code == 429 or response.status_code >= 500:
                self.retries[str(response.status_code)] += 1
                if response.status_code == 429:
                    self.events.rate_limited()
                raise _Retry(f"HTTP {response.status_code}", sent=response.status_code != 429)
            answer = self._read(path, response)
            code = error_code(answer)
            if code == 0:
                return Answer(answer)
            trace = str(answer.get("traceId")) if answer.get("traceId") else None
            log.warning("fxiaoke %s: errorCode %s (traceId %s)", path, code, trace)
            if code in TOKEN_EXPIRED and not refreshed:
                self.tokens.invalidate(token.value)
                refreshed = True
                continue
            raise self._failure(path, code, answer, trace)

    def _read(self, path: str, response: httpx.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict) or error_code(body) is None:
            raise ConfigError(
                f"{self.settings.base_url}{path} answered HTTP {response.status_code} without an "
                "OpenAPI body: base_url must be the tenant cloud's OpenAPI gateway (e.g. "
                "https://open.fxiaoke.com, not www.fxiaoke.com)",
                key="base_url",
                connector=self.connector,
            )
        return body

    def _failure(
        self, path: str, code: int | None, body: dict[str, Any], trace: str | None
    ) -> Exception:
        assert code is not None
        where = f"errorCode {code}, traceId {trace}"
        if code in TOKEN_EXPIRED or code == _NO_CORP:
            return AuthError(
                f"Fxiaoke refused a fresh token on {path} ({where}): check auth (current or "
                "legacy), base_url and that app_id belongs to this tenant",
                connector=self.connector,
            )
        if code in BUSY:
            self.retries[str(code)] += 1
            return _Retry(f"Fxiaoke busy ({where})")
        if code in THROTTLED:
            self.retries[str(code)] += 1
            self.events.rate_limited()
            return _Retry(f"Fxiaoke call limit ({where})", sent=False)
        if code == DAILY_QUOTA:
            until = next_midnight(self.now(), self.settings.quota_timezone)
            return self._stop(DailyQuotaExhausted(until, connector=self.connector))
        if code == 10006:
            return ConfigError(
                f"Fxiaoke does not serve {path} ({where}): check base_url",
                key="base_url",
                connector=self.connector,
            )
        if code in BAD_CREDENTIALS or code in NOT_AUTHORISED or code == NO_QUOTA:
            return credentials_error(self.settings, code, trace, self.connector)
        if code in UNKNOWN_USER:
            return ConfigError(
                f"Fxiaoke does not know the acting employee user_id={self.settings.user_id!r} "
                f"({where}): with auth: {self.settings.auth} it must be "
                + (
                    "an FSUID_… open user id"
                    if self.settings.auth == "legacy"
                    else "a CRM employee id such as 1000"
                ),
                key="user_id",
                connector=self.connector,
            )
        message = body.get("errorMessage") or body.get("errorDescription") or ""
        return FxiaokeError(
            f"Fxiaoke {path}: errorCode {code} {message} (traceId {trace})".replace("  ", " "),
            code=code,
            trace_id=trace,
            path=path,
            connector=self.connector,
        )

    def permanent(self, exc: FxiaokeError, what: str, **context: Any) -> PermanentError:
        """A :class:`PermanentError` saying ``what`` failed, with the server's code and trace."""
        return PermanentError(f"{what}: {exc.message}", connector=self.connector, **context)
