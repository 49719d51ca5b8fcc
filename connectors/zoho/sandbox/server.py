"""Running the sandbox over real HTTP: ``serve``, the CLI entry and a test helper.

``run_sandbox`` is what ``crmbridge sandbox zoho`` calls. ``SandboxServer`` runs one
on an ephemeral port in a background thread (for tests and benchmarks)::

    with SandboxServer(SandboxOptions(seed_records=100)) as server:
        httpx.get(f"{server.base_url}/__sandbox/state")
"""

from __future__ import annotations

import sys

from connectors._sandbox.server import ThreadedServer
from connectors._sandbox.server import serve as serve_app
from connectors.zoho.sandbox.app import SandboxApp, create_app
from connectors.zoho.sandbox.faults import parse_faults
from connectors.zoho.sandbox.options import SandboxOptions

__all__ = ["SandboxServer", "run_sandbox", "serve"]


def serve(options: SandboxOptions, *, log_level: str = "warning") -> None:
    """Serve a sandbox built from ``options`` until interrupted (blocks)."""
    app = create_app(options)
    # "on": the app's lifespan opens and closes the notification client
    serve_app(app, host=options.host, port=options.port, lifespan="on", log_level=log_level)


def run_sandbox(
    port: int = 8790,
    latency_ms: float = 0.0,
    concurrency: int = 10,
    faults: str = "",
    seed_records: int = 0,
    seed: int = 0,
    host: str = "127.0.0.1",
) -> None:
    """Entry point of ``crmbridge sandbox zoho``: print how to connect, then serve.

    Raises ``faults.FaultSpecError`` (a ``ValueError``) for a bad ``--faults`` string
    before anything starts.
    """
    spec = parse_faults(faults)
    options = SandboxOptions(
        host=host,
        port=port,
        latency_ms=latency_ms,
        concurrency=concurrency,
        faults=spec,
        seed_records=seed_records,
        seed=seed,
    )
    base = f"http://{host}:{port}"
    print(
        f"Zoho CRM sandbox on {base}  (API {base}/crm/v8/..., accounts {base}/oauth/v2/token)\n"
        f"  client_id={options.client_id} client_secret={options.client_secret}\n"
        f"  refresh_token={options.refresh_token}  grant code={options.grant_codes[0]}\n"
        f"  faults={spec or 'none'} latency={latency_ms}ms concurrency={concurrency or 'unlimited'} "
        f"seed_records={seed_records} seed={seed}\n"
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
            lifespan="on",
            name="zoho-sandbox",
            startup_timeout_s=startup_timeout_s,
        )
