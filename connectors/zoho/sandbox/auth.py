"""Zoho Accounts' token endpoint and the API's ``Authorization: Zoho-oauthtoken`` check.

``POST /oauth/v2/token`` takes its parameters from the query string or an
``application/x-www-form-urlencoded`` body. Like Zoho, failures are **HTTP 200**
with only an ``error`` key: ``invalid_client`` (bad id/secret) and ``invalid_code``
(grant code unknown or used, refresh token unknown). The success body carries
``api_domain`` = the sandbox's own base URL and ``expires_in`` in seconds.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from connectors.zoho.sandbox.errors import ZohoError, invalid_token
from connectors.zoho.sandbox.state import SandboxState

__all__ = ["api_domain", "authenticate", "router"]

router = APIRouter()


def sandbox_state(request: Request) -> SandboxState:
    """The state of the app serving ``request``."""
    state: SandboxState = request.app.state.sandbox
    return state


def api_domain(request: Request) -> str:
    """The base URL clients should call: the configured one, else the one they used."""
    configured = sandbox_state(request).options.api_domain
    return (configured or str(request.base_url)).rstrip("/")


async def _params(request: Request) -> dict[str, str]:
    params = dict(request.query_params)
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/x-www-form-urlencoded"):
        body = (await request.body()).decode("utf-8", "replace")
        params.update(parse_qsl(body, keep_blank_values=True))
    return params


@router.post("/oauth/v2/token")
async def token(request: Request) -> JSONResponse:
    """Exchange a grant code or a refresh token for an access token."""
    state = sandbox_state(request)
    state.count("token_requests")
    p = await _params(request)
    opts = state.options
    if p.get("client_id") != opts.client_id or p.get("client_secret") != opts.client_secret:
        return JSONResponse({"error": "invalid_client"})
    grant = p.get("grant_type")
    body: dict[str, Any]
    if grant == "authorization_code":
        code = p.get("code", "")
        if code not in state.grant_codes:
            return JSONResponse({"error": "invalid_code"})
        state.grant_codes.discard(code)  # grant codes are one-time
        refresh = state.mint_refresh_token()
        access = state.mint_access_token(refresh)
        body = {"access_token": access.token, "refresh_token": refresh}
    elif grant == "refresh_token":
        refresh = p.get("refresh_token", "")
        if refresh not in state.refresh_tokens:
            return JSONResponse({"error": "invalid_code"})
        body = {"access_token": state.mint_access_token(refresh).token}
    else:
        # Zoho's body for a bad grant_type was not captured; the OAuth 2.0 code is used
        return JSONResponse({"error": "unsupported_grant_type"})
    state.count("tokens_issued")
    body.update(
        {
            "api_domain": api_domain(request),
            "token_type": "Bearer",
            "expires_in": opts.token_lifetime_s,
        }
    )
    return JSONResponse(body)


def authenticate(request: Request) -> None:
    """FastAPI dependency: 401 unless the request carries a live ``Zoho-oauthtoken``.

    A missing header is ``AUTHENTICATION_FAILURE``; a ``Bearer`` header, an unknown,
    expired or invalidated token is ``INVALID_TOKEN`` (refresh once and retry).
    """
    state = sandbox_state(request)
    header = request.headers.get("authorization")
    if not header:
        raise ZohoError(401, "AUTHENTICATION_FAILURE", "Authentication failed")
    scheme, _, value = header.partition(" ")
    if scheme != "Zoho-oauthtoken" or not state.check_access_token(value.strip()):
        state.count("invalid_token")
        raise invalid_token()
