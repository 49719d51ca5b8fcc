"""``create_app``: the sandbox as an ASGI app over a fresh :class:`SandboxState`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from connectors._sandbox.app import SandboxApp as _SandboxApp
from connectors._sandbox.app import bare_fastapi
from connectors.zoho.sandbox import admin, auth, coql, metadata, notifications, reads, writes
from connectors.zoho.sandbox.errors import ZohoError, invalid_url
from connectors.zoho.sandbox.middleware import SandboxMiddleware
from connectors.zoho.sandbox.notifications import Notifier
from connectors.zoho.sandbox.options import SandboxOptions
from connectors.zoho.sandbox.seed import seed
from connectors.zoho.sandbox.state import SandboxState

__all__ = ["SandboxApp", "create_app"]


class SandboxApp(_SandboxApp[SandboxState]):
    """:class:`SandboxMiddleware` around the FastAPI app, and the callbacks it sends."""

    def __init__(self, fastapi: FastAPI, state: SandboxState) -> None:
        super().__init__(fastapi, state, SandboxMiddleware(fastapi, state))

    async def drain_notifications(self) -> None:
        """Wait until every callback scheduled so far has been delivered (or failed)."""
        if isinstance(self.state.notifier, Notifier):
            await self.state.notifier.drain()

    async def aclose(self) -> None:
        """Finish callbacks and close the notification client (in-process use)."""
        if isinstance(self.state.notifier, Notifier):
            await self.state.notifier.aclose()
            self.state.notifier = None


def create_app(options: SandboxOptions | None = None) -> SandboxApp:
    """Build a sandbox: state (seeded if asked), routes, error handlers, middleware."""
    options = options or SandboxOptions()
    state = SandboxState(options)
    if options.seed_records:
        seed(state, options.seed_records, options.seed)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state.notifier = Notifier(state)
        try:
            yield
        finally:
            if isinstance(state.notifier, Notifier):
                await state.notifier.aclose()
            state.notifier = None

    app = bare_fastapi("crmbridge Zoho CRM sandbox", lifespan=lifespan)
    app.state.sandbox = state
    app.include_router(auth.router)
    if options.control_api:
        app.include_router(admin.router)
    guarded: dict[str, Any] = {"dependencies": [Depends(auth.authenticate)]}
    # specific paths first: /settings, /actions/watch and /coql before /{module}
    for router in (metadata.router, notifications.router, coql.router, reads.router, writes.router):
        app.include_router(router, **guarded)

    @app.exception_handler(ZohoError)
    async def zoho_error(_: Request, exc: ZohoError) -> Response:
        return JSONResponse(exc.body, status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            body = ZohoError(
                400, "INVALID_REQUEST_METHOD", "The http request method type is not a valid one"
            ).body
            return JSONResponse(body, status_code=400)
        error = invalid_url()
        return JSONResponse(error.body, status_code=error.status)

    return SandboxApp(app, state)
