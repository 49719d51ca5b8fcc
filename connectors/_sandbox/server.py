"""An ASGI app on a real socket: :func:`serve` blocks, :class:`ThreadedServer` runs it aside.

``ThreadedServer`` is for tests and benchmarks: ``port=0`` picks a free port, and
``base_url`` says which once :meth:`~ThreadedServer.start` returns::

    with ThreadedServer(app, name="zoho-sandbox") as server:
        httpx.get(f"{server.base_url}/__sandbox/state")
"""

from __future__ import annotations

import asyncio
import threading
import time
from types import TracebackType
from typing import Generic, Literal, Self, TypeVar

import uvicorn
from starlette.types import ASGIApp

__all__ = ["ThreadedServer", "serve"]

AppT = TypeVar("AppT", bound=ASGIApp)
Lifespan = Literal["on", "off"]


def _config(
    app: ASGIApp, host: str, port: int, lifespan: Lifespan, log_level: str
) -> uvicorn.Config:
    # h11 keeps the transport reachable from send(), which connection resets need
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http="h11",
        lifespan=lifespan,
        log_level=log_level,
        proxy_headers=False,
        access_log=False,
    )


def serve(
    app: ASGIApp,
    *,
    host: str,
    port: int,
    lifespan: Lifespan = "off",
    log_level: str = "warning",
) -> None:
    """Serve ``app`` on ``host:port`` until interrupted (blocks)."""
    uvicorn.Server(_config(app, host, port, lifespan, log_level)).run()


class ThreadedServer(Generic[AppT]):
    """``app`` on a real socket in a background thread; ``port=0`` picks a free port."""

    def __init__(
        self,
        app: AppT,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        lifespan: Lifespan = "off",
        name: str = "sandbox",
        startup_timeout_s: float = 10.0,
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        #: names the thread and the error if it does not start, e.g. ``zoho-sandbox``
        self.name = name
        self._server = uvicorn.Server(_config(app, host, port, lifespan, "error"))
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._timeout = startup_timeout_s

    def _run(self) -> None:
        asyncio.run(self._server.serve())

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running server."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> Self:
        """Start and wait until the socket listens; ``port`` is then the one it got."""
        self._thread.start()
        deadline = time.monotonic() + self._timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start on {self.host}:{self.port}")
            time.sleep(0.01)
        sockets = [s for server in self._server.servers for s in server.sockets]
        self.port = int(sockets[0].getsockname()[1])
        return self

    def stop(self) -> None:
        """Ask uvicorn to exit and join the thread."""
        self._server.should_exit = True
        self._thread.join(self._timeout)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
