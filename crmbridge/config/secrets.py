"""Secrets in the config: which keys hold them, hiding and revealing them, masking URLs."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from pydantic import SecretStr

__all__ = ["SECRET_KEY", "hide_secret_keys", "mask_url", "mask_urls", "reveal"]

_MASK = "**********"
SECRET_KEY = re.compile(r"secret|token|password|passphrase|api_?key|private_?key", re.IGNORECASE)
"""Key names whose values are secrets (also in connector sections and error messages)."""


_SECRET_PARAMETER = re.compile(
    rf"{SECRET_KEY.pattern}|^(sig|signature|key|auth|code|access|credentials?)$", re.IGNORECASE
)
"""Query parameter names whose values are secrets (``?token=``, ``?sig=``, ``?key=`` ...)."""


def mask_url(url: str) -> str:
    """``url`` safe to print: its password and secret-looking query values as ``**********``."""
    try:
        parts = urlsplit(url)
        has_password = parts.password is not None
    except ValueError:
        return url
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    secret_query = any(_SECRET_PARAMETER.search(name) for name, _ in pairs)
    if not (has_password or secret_query):
        return url
    if has_password:
        userinfo, _, hostinfo = parts.netloc.rpartition("@")
        parts = parts._replace(netloc=f"{userinfo.partition(':')[0]}:{_MASK}@{hostinfo}")
    if secret_query:
        masked = [(n, _MASK if _SECRET_PARAMETER.search(n) else v) for n, v in pairs]
        parts = parts._replace(query=urlencode(masked, safe="*"))
    return parts.geturl()


def mask_urls(value: Any) -> Any:
    """``value`` (plain config data) with every URL in it passed through :func:`mask_url`."""
    if isinstance(value, str):
        return mask_url(value) if "://" in value else value
    if isinstance(value, list):
        return [mask_urls(item) for item in value]
    if isinstance(value, dict):
        return {key: mask_urls(item) for key, item in value.items()}
    return value


def hide_secret_keys(data: dict[Any, Any]) -> dict[Any, Any]:
    """``data`` with the values of secret-looking keys, at any depth, as ``SecretStr``."""
    return {
        key: _hide(value) if SECRET_KEY.search(str(key)) else _hide_nested(value)
        for key, value in data.items()
    }


def _hide_nested(value: Any) -> Any:
    if isinstance(value, dict):
        return hide_secret_keys(value)
    if isinstance(value, list):
        return [_hide_nested(item) for item in value]
    return value


def _hide(value: Any) -> Any:
    if value is None or isinstance(value, SecretStr):
        return value
    if isinstance(value, list):
        return [_hide(item) for item in value]
    if isinstance(value, dict):
        return {key: _hide(item) for key, item in value.items()}
    return SecretStr(str(value))


def reveal(value: Any) -> Any:
    """``value`` with every ``SecretStr`` in it replaced by its plain text."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, list):
        return [reveal(item) for item in value]
    if isinstance(value, dict):
        return {key: reveal(item) for key, item in value.items()}
    return value
