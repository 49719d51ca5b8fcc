# ruff: noqa: E402
"""Benchmark the Zoho connector against the sandbox over real HTTP.

Pushes then pulls N contacts (default 10,000) with the sandbox's latency
(default 100 ms) and the connector's concurrency (default 10), and prints
records/s, API calls and credits each way beside the minimum calls (writes
``ceil(N/100)``; reads ``ceil(N/200)`` by Get Records or ``ceil(N/2000)`` by
COQL) and the throughput ceiling (concurrency x 100 records / latency)::

    python bench/zoho.py [--records 10000] [--latency-ms 100] [--concurrency 10]
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/csv.py would shadow the standard library's csv module: keep this folder off the path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import asyncio
import math
import socket
import subprocess
import sys
import time
from pathlib import Path

from connectors.zoho import ZohoConnector, ZohoSettings
from connectors.zoho.sandbox import SandboxOptions, SandboxServer
from crmbridge.connector import ConnectorContext, WriteOp, WriteOutcome, WriteRequest

MAPPING = str(Path(__file__).resolve().with_name("zoho_mapping.yaml"))


async def bench(base: str, records: int, concurrency: int, read_mode: str) -> None:
    settings = ZohoSettings(
        client_id="1000.SANDBOXCLIENT",
        client_secret="sandbox-secret",
        refresh_token="1000.sandbox.refresh",
        accounts_url=base,
        api_url=base,
        concurrency=concurrency,
        read_mode=read_mode,
    )
    conn = ZohoConnector("zoho", settings, ConnectorContext(mapping=MAPPING))
    await conn.open()
    await conn._ensure_checked()  # the once-a-run metadata check, kept out of the figures
    requests = [
        WriteRequest(
            f"bench-{i}",
            WriteOp.CREATE,
            {"First_Name": "Bench", "Last_Name": f"Person{i}", "Email": f"p{i}@bench.example"},
        )
        for i in range(records)
    ]
    batches = [requests[i : i + conn.batch_size] for i in range(0, records, conn.batch_size)]
    gate = asyncio.Semaphore(concurrency)

    async def send(batch: list[WriteRequest]) -> int:
        async with gate:
            results = await conn.write("stakeholders", batch)
        return sum(r.outcome is not WriteOutcome.REJECTED for r in results)

    calls, credits, started = conn.api_calls, conn.credits_used, time.perf_counter()
    written = sum(await asyncio.gather(*(send(b) for b in batches)))
    push_s = time.perf_counter() - started
    push_calls, push_credits = conn.api_calls - calls, conn.credits_used - credits

    calls, credits, started = conn.api_calls, conn.credits_used, time.perf_counter()
    read = 0
    async for page in conn.read_changes("stakeholders", None):
        read += len(page.records)
    pull_s = time.perf_counter() - started
    pull_calls, pull_credits = conn.api_calls - calls, conn.credits_used - credits
    await conn.close()

    print(
        f"push: {written}/{records} records in {push_s:.1f}s = {written / push_s:,.0f} rec/s, "
        f"{push_calls} API calls (minimum {math.ceil(records / 100)}), {push_credits} credits"
    )
    print(
        f"pull: {read} records in {pull_s:.1f}s = {read / pull_s:,.0f} rec/s, "
        f"{pull_calls} API calls (minimum {math.ceil(records / 200)} Get Records, "
        f"{math.ceil(records / 2000)} COQL; used {conn.read_modes.get('Contacts')}), "
        f"{pull_credits} credits"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--read-mode", default="auto", choices=["auto", "records", "coql"])
    parser.add_argument(
        "--in-process", action="store_true", help="run the sandbox in a thread of this process"
    )
    args = parser.parse_args()
    ceiling = args.concurrency * 100 / (args.latency_ms / 1000)
    print(
        f"{args.records} contacts, latency {args.latency_ms:.0f} ms, concurrency "
        f"{args.concurrency}: write ceiling {ceiling:,.0f} rec/s (concurrency x 100 / latency)"
    )
    if args.in_process:
        options = SandboxOptions(port=0, latency_ms=args.latency_ms, concurrency=args.concurrency)
        with SandboxServer(options) as server:
            asyncio.run(bench(server.base_url, args.records, args.concurrency, args.read_mode))
        return
    # the sandbox in its own process, as a real Zoho would be: it must not share our GIL
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "crmbridge",
        "sandbox",
        "zoho",
        "--port",
        str(port),
        "--latency-ms",
        str(int(args.latency_ms)),
        "--concurrency",
        str(args.concurrency),
    ]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the sandbox did not start") from None
                time.sleep(0.1)
        asyncio.run(bench(base, args.records, args.concurrency, args.read_mode))
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
