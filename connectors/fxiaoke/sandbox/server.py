"""Running the sandbox over real HTTP: ``serve``, the CLI entry and a test helper.

``run_sandbox`` is what ``crmbridge sandbox fxiaoke`` calls. ``SandboxServer`` runs one
on an ephemeral port in a background thread (for tests and benchmarks)::

    with SandboxServer(SandboxOptions(port=0, seed_contacts=100)) as server:
        httpx.get(f"{server.base_url}/__sandbox/state")
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from types import TracebackType

import uvicorn

from connectors.fxiaoke.sandbox.app import SandboxApp, create_app
from connectors.fxiaoke.sandbox.options import SandboxOptions

__all__ = ["SandboxServer", "run_sandbox", "serve"]


def _config(app: SandboxApp, options: SandboxOptions, log_level: str) -> uvicorn.Config:
    # h11 keeps the transport reachable from send(), which connection resets need
    return uvicorn.Config(
        app,
        host=options.host,
        port=options.port,
        http="h11",
        lifespan="off",
        log_level=log_level,
        proxy_headers=False,
        access_log=False,
    )


def serve(options: SandboxOptions, *, log_level: str = "warning") -> None:
    """Serve a sandbox built from ``options`` until interrupted (blocks)."""
    uvicorn.Server(_config(create_app(options), options, log_level)).run()


def run_sandbox(options: SandboxOptions) -> None:
    """Entry point of ``crmbridge sandbox fxiaoke``: print how to connect, then serve.

    Raises ``faults.FaultSpecError`` (a ``ValueError``) for a bad ``--faults`` string
    before anything starts.
    """
    spec = options.fault_spec()
    options.faults = spec
    base = f"http://{options.host}:{options.port}"
    print(
        f"Fxiaoke OpenAPI sandbox on {base}\n"
        f"  tokens: {base}/cgi/corpAccessToken/get/V2 (legacy), {base}/oauth2.0/token (current)\n"
        f"  appId={options.app_id} appSecret={options.app_secret} "
        f"permanentCode={options.permanent_code}\n"
        f"  corpId={options.corp_id} ea={options.ea} admin: x-fs-userid=1000 / "
        "currentOpenUserId=FSUID_5A1C0E3B7D9F4A2E8C6B1D3F5E7A9C0B\n"
        f"  custom object {options.custom_object}; faults={spec or 'none'} "
        f"latency={options.latency_ms}ms rate={options.rate_limit or 'unlimited'}"
        f"/{options.rate_window_s}s quota={options.daily_quota}\n"
        f"  control API: {base}/__sandbox/state",
        file=sys.stderr,
    )
    serve(options)


class SandboxServer:
    """A sandbox on a real socket in a background thread; ``port=0`` picks a free port."""

    def __init__(
        self, options: SandboxOptions | None = None, *, startup_timeout_s: float = 10.0
    ) -> None:
        self.options = options or SandboxOptions(port=0)
        self.app = create_app(self.options)
        self._server = uvicorn.Server(_config(self.app, self.options, "error"))
        self._thread = threading.Thread(target=self._run, name="fxiaoke-sandbox", daemon=True)
        self._timeout = startup_timeout_s
        self.port = 0

    def _run(self) -> None:
        asyncio.run(self._server.serve())

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running server."""
        return f"http://{self.options.host}:{self.port}"

    def start(self) -> SandboxServer:
        """Start and wait until the socket listens."""
        self._thread.start()
        deadline = time.monotonic() + self._timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the Fxiaoke sandbox did not start")
            time.sleep(0.01)
        sockets = [s for server in self._server.servers for s in server.sockets]
        self.port = int(sockets[0].getsockname()[1])
        return self

    def stop(self) -> None:
        """Ask uvicorn to exit and join the thread."""
        self._server.should_exit = True
        self._thread.join(self._timeout)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
