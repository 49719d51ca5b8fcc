"""Fixtures of the Fxiaoke tests: the sandbox on a real port (see ``sandbox_support``)."""

from __future__ import annotations

from .sandbox_support import fxiaoke_sandbox, fxiaoke_sandbox_factory

__all__ = ["fxiaoke_sandbox", "fxiaoke_sandbox_factory"]
