"""Running the sandbox over real HTTP: ``serve``, the CLI entry and a test helper.

``run_sandbox`` is what ``crmbridge sandbox fxiaoke`` calls. ``SandboxServer`` runs one
on an ephemeral port in a background thread (for tests and benchmarks)::

    with SandboxServer(SandboxOptions(port=0, seed_contacts=100)) as server:
        httpx.get(f"{server.base_url}/__sandbox/state")
"""

from __future__ import annotations

import sys

from connectors._sandbox.server import ThreadedServer
from connectors._sandbox.server import serve as serve_app
from connectors.fxiaoke.sandbox.app import SandboxApp, create_app
from connectors.fxiaoke.sandbox.options import SandboxOptions

__all__ = ["SandboxServer", "run_sandbox", "serve"]


def serve(options: SandboxOptions, *, log_level: str = "warning") -> None:
    """Serve a sandbox built from ``options`` until interrupted (blocks)."""
    serve_app(create_app(options), host=options.host, port=options.port, log_level=log_level)


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


class SandboxServer(ThreadedServer[SandboxApp]):
    """A sandbox on a real socket in a background thread; ``port=0`` picks a free port."""

    def __init__(
        self, options: SandboxOptions | None = None, *, startup_timeout_s: float = 10.0
    ) -> None:
        self.options = options or SandboxOptions(port=0)
        super().__init__(
            create_app(self.options),
            host=self.options.host,
            port=self.options.port,
            name="fxiaoke-sandbox",
            startup_timeout_s=startup_timeout_s,
        )
