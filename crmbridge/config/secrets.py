"""Secrets in the config: which keys hold them, hiding and revealing them, masking URLs."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

__all__ = ["SECRET_KEY", "hide_secret_keys", "mask_url_password", "reveal"]

_MASK = "**********"
SECRET_KEY = re.compile(r"secret|token|password|passphrase|api_?key|private_?key", re.IGNORECASE)
"""Key names whose values are secrets (also in connector sections and error messages)."""


def mask_url_password(url: str) -> str:
    """``url`` with any password replaced by ``**********``, safe to print."""
    try:
        parts = urlsplit(url)
        has_password = parts.password is not None
    except ValueError:
        return url
    if not has_password:
        return url
    userinfo, _, hostinfo = parts.netloc.rpartition("@")
    netloc = f"{userinfo.partition(':')[0]}:{_MASK}@{hostinfo}"
    return parts._replace(netloc=netloc).geturl()


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
