"""The shell of a sandbox's ASGI app: an outer middleware around a bare FastAPI app."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["SandboxApp", "bare_fastapi"]

StateT = TypeVar("StateT")


def bare_fastapi(title: str, **kwargs: Any) -> FastAPI:
    """A FastAPI app without OpenAPI or docs routes (a fake must not answer them)."""
    return FastAPI(title=title, openapi_url=None, docs_url=None, redoc_url=None, **kwargs)


class SandboxApp(Generic[StateT]):
    """The ASGI app: ``outer`` (the sandbox's middleware) around the FastAPI app.

    ``state`` is the live sandbox state (read and edit it directly in in-process
    tests); ``fastapi`` is the inner app.
    """

    def __init__(self, fastapi: FastAPI, state: StateT, outer: ASGIApp) -> None:
        self.fastapi = fastapi
        self.state = state
        self._outer = outer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._outer(scope, receive, send)
