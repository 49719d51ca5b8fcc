"""``create_app``: the sandbox as an ASGI app over a fresh :class:`SandboxState`."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from connectors._sandbox.app import SandboxApp as _SandboxApp
from connectors._sandbox.app import bare_fastapi
from connectors.fxiaoke.sandbox import admin, auth, reads, writes
from connectors.fxiaoke.sandbox.admin import seed_from_options
from connectors.fxiaoke.sandbox.errors import FxiaokeError
from connectors.fxiaoke.sandbox.middleware import SandboxMiddleware
from connectors.fxiaoke.sandbox.options import SandboxOptions
from connectors.fxiaoke.sandbox.state import SandboxState
from connectors.fxiaoke.sandbox.wire import reply

__all__ = ["SandboxApp", "create_app"]


class SandboxApp(_SandboxApp[SandboxState]):
    """:class:`SandboxMiddleware` around the FastAPI app; ``state`` is the live state."""

    def __init__(self, fastapi: FastAPI, state: SandboxState) -> None:
        super().__init__(fastapi, state, SandboxMiddleware(fastapi, state))


def create_app(options: SandboxOptions | None = None) -> SandboxApp:
    """Build a sandbox: state (seeded if asked), routes, the errorCode envelope, middleware."""
    options = options or SandboxOptions()
    state = SandboxState(options)
    seed_from_options(state)
    app = bare_fastapi("crmbridge Fxiaoke OpenAPI sandbox")
    app.state.sandbox = state
    for router in (auth.router, reads.router, writes.router):
        app.include_router(router)
    if options.control_api:
        app.include_router(admin.router)

    @app.exception_handler(FxiaokeError)
    async def fxiaoke_error(request: Request, exc: FxiaokeError) -> Response:
        return reply(request, exc.body)

    @app.exception_handler(StarletteHTTPException)
    async def unknown_path(request: Request, exc: StarletteHTTPException) -> Response:
        # the gateway answers an unknown path (or method) with 10006 and HTTP 200
        return reply(request, FxiaokeError.bad_parameter("path").body)

    return SandboxApp(app, state)
