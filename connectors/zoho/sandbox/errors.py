"""Zoho's error bodies, and the exception that carries one out of a handler.

Non-write calls answer a flat ``{"code", "details", "message", "status": "error"}``;
write calls wrap the same object in ``{"data": [ ... ]}`` even for a 400
(``wrapped=True``). Bodies and messages follow the captured samples in
``/work/shared/fixtures/zoho`` (OAS8 examples and GitHub captures).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ZohoError",
    "ambiguity",
    "error_item",
    "invalid_module",
    "invalid_token",
    "invalid_url",
    "limit_exceeded",
    "required_param",
    "too_many_requests",
]

Json = dict[str, Any]


def error_item(code: str, message: str, details: Json | None = None) -> Json:
    """One Zoho error object."""
    return {"code": code, "details": details or {}, "message": message, "status": "error"}


class ZohoError(Exception):
    """Raised by a handler to answer ``status`` with a Zoho error body."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Json | None = None,
        *,
        wrapped: bool = False,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.item = error_item(code, message, details)
        self.wrapped = wrapped

    @property
    def body(self) -> Json:
        """The JSON body to send."""
        return {"data": [self.item]} if self.wrapped else self.item


def invalid_token() -> ZohoError:
    """401 for an expired, revoked or unknown access token (real capture)."""
    return ZohoError(401, "INVALID_TOKEN", "invalid oauth token")


def invalid_url() -> ZohoError:
    """404 for a path Zoho does not serve."""
    return ZohoError(
        404, "INVALID_URL_PATTERN", "Please check if the URL trying to access is a correct one"
    )


def invalid_module(*, wrapped: bool = False) -> ZohoError:
    """400 for an unknown module api name in the URL."""
    return ZohoError(
        400,
        "INVALID_MODULE",
        "the module name given seems to be invalid",
        {"resource_path_index": 0},
        wrapped=wrapped,
    )


def required_param(name: str, message: str = "required param is missing") -> ZohoError:
    """400 REQUIRED_PARAM_MISSING for query parameter ``name``."""
    return ZohoError(400, "REQUIRED_PARAM_MISSING", message, {"param_name": name})


def limit_exceeded(param: str, limit: int) -> ZohoError:
    """400 LIMIT_EXCEEDED for a query parameter over its cap (fields > 50)."""
    return ZohoError(400, "LIMIT_EXCEEDED", "limit exceeded", {"limit": limit, "param_name": param})


def ambiguity(*params: str) -> ZohoError:
    """400 AMBIGUITY_DURING_PROCESSING for parameters that cannot be combined."""
    return ZohoError(
        400,
        "AMBIGUITY_DURING_PROCESSING",
        "ambiguity while processing the request",
        {"ambiguity_due_to": list(params)},
    )


def too_many_requests() -> ZohoError:
    """429 with the code Zoho's docs name (the OAS8 sample says RATE_LIMIT_EXCEEDED)."""
    return ZohoError(
        429,
        "TOO_MANY_REQUESTS",
        "The number of concurrent requests for this user and app exceeded the limit",
    )
