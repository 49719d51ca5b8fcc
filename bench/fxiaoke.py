# ruff: noqa: E402
"""Benchmark the Fxiaoke connector against the sandbox over real HTTP.

Pushes then pulls N contacts (default 10,000) through the connector, the
sandbox in its own process with the given latency, and prints records/s and
the calls made beside the minimum: pushes one create call per record (the
API writes one record a call) plus one lookup query per 100 (the crmbridge
id field is not unique in the sandbox, so creates are looked up first),
pulls ``ceil(N/100)`` query calls. Both limits are lifted by default to
measure the connector itself; the documented ceiling of 100 calls per 20 s
per endpoint is printed beside the figures (``--respect-limit`` runs under
it, on the sandbox and in the connector)::

    python bench/fxiaoke.py [--records 10000] [--latency-ms 20] [--concurrency 10] [--respect-limit]
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
import time

from connectors.fxiaoke import FxiaokeConnector, FxiaokeSettings
from connectors.fxiaoke.sandbox import SandboxOptions
from crmbridge.connector import ConnectorContext, WriteOp, WriteOutcome, WriteRequest

MAPPING = str(
    Path(__file__).resolve().parent.parent / "tests/connectors/fxiaoke/sandbox_mapping.yaml"
)
LIMIT, WINDOW = 100, 20.0


async def bench(base: str, records: int, concurrency: int, respect: bool) -> None:
    defaults = SandboxOptions()
    settings = FxiaokeSettings(
        base_url=base,
        app_id=defaults.app_id,
        app_secret=defaults.app_secret,
        permanent_code=defaults.permanent_code,
        user_id="1000",
        concurrency=concurrency,
        rate_limit_calls=LIMIT if respect else 10**9,
        rate_limit_window_s=WINDOW,
    )
    conn = FxiaokeConnector("fxiaoke", settings, ConnectorContext(mapping=MAPPING))
    await conn.open()
    await conn._checked("stakeholders")  # the once-a-run describe, kept out of the figures
    requests = [
        WriteRequest(
            f"bench-{i}",
            WriteOp.CREATE,
            {"name": f"测试{i}", "email": f"p{i}@bench.example", "stakeholder_type__c": "1"},
        )
        for i in range(records)
    ]
    batches = [requests[i : i + conn.batch_size] for i in range(0, records, conn.batch_size)]

    calls, started = conn.api_calls, time.perf_counter()
    written = 0
    for batch in batches:  # the engine sends a job's batches one after another
        results = await conn.write("stakeholders", batch)
        written += sum(r.outcome is not WriteOutcome.REJECTED for r in results)
    push_s = time.perf_counter() - started
    push_calls = conn.api_calls - calls

    calls, started = conn.api_calls, time.perf_counter()
    read = 0
    async for page in conn.read_changes("stakeholders", None):
        read += len(page.records)
    pull_s = time.perf_counter() - started
    pull_calls = conn.api_calls - calls
    await conn.close()

    per_s = LIMIT / WINDOW
    print(
        f"push: {written}/{records} records in {push_s:.1f}s = {written / push_s:,.0f} rec/s, "
        f"{push_calls} API calls (minimum {records} creates + {math.ceil(records / 100)} "
        f"lookups); under {LIMIT} calls/{WINDOW:.0f}s per endpoint at least "
        f"{records / per_s:,.0f}s = {per_s:.0f} rec/s"
    )
    print(
        f"pull: {read} records in {pull_s:.1f}s = {read / pull_s:,.0f} rec/s, {pull_calls} "
        f"API calls (minimum {math.ceil(records / 100)} queries); under the limit at most "
        f"{per_s * 100:,.0f} rec/s"
    )
    if conn.client.limiter.waited_s:
        print(f"client-side limiter waited {conn.client.limiter.waited_s:.1f}s in all")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--respect-limit", action="store_true")
    args = parser.parse_args()
    print(
        f"{args.records} contacts, latency {args.latency_ms} ms, concurrency {args.concurrency}; "
        f"write ceiling without the rate limit {args.concurrency * 1000 / max(1, args.latency_ms):,.0f} "
        "rec/s (concurrency / latency, one record a call)"
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "crmbridge",
        "sandbox",
        "fxiaoke",
        "--port",
        str(port),
        "--latency-ms",
        str(args.latency_ms),
        "--rate-limit",
        str(LIMIT if args.respect_limit else 0),
    ]
    # the sandbox in its own process, as a real Fxiaoke would be: it must not share our GIL
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the sandbox did not start") from None
                time.sleep(0.1)
        asyncio.run(
            bench(f"http://127.0.0.1:{port}", args.records, args.concurrency, args.respect_limit)
        )
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
