"""Figures for inbound webhooks: signed events per second, latency, and acknowledged-but-lost count.

    python bench/webhooks.py [--store sqlite|postgres|both] [--events 5000] [--concurrency 32]
                             [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/test]
                             [--no-job] [--max-seconds 120]

Starts ``crmbridge serve`` in a subprocess on 127.0.0.1 (a webhook connector
with a pull job, so every accepted event also asks for a coalesced sync),
then this process POSTs ``--events`` distinct Standard Webhooks-signed
stakeholder events with ``--concurrency`` connections over loopback,
bounded in count and time. Afterwards it reads the inbox and counts the
events that were acknowledged (202/200) but are not stored: it must be 0.
PostgreSQL runs use a fresh database, dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from crmbridge.signatures import standard_headers
from crmbridge.store import upgrade

SECRET = "whsec_" + base64.b64encode(b"crmbridge-bench-secret-32-bytes!").decode()

CONFIG = """
store: {{url: "{store}"}}
server: {{host: 127.0.0.1, port: {port}, max_body_bytes: 1048576}}
connectors:
  peer: {{type: webhook, secret: "{secret}"}}
jobs:
{jobs}
"""
JOB = """  peer-in:
    connector: peer
    entities: [stakeholders]
    direction: pull
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _event(i: int, run: str) -> bytes:
    record = {
        "id": f"{run}-{i}",
        "full_name": f"Person {i}",
        "email": f"p{i}.{run}@example.com",
        "title": "Buyer",
    }
    return json.dumps({"type": "stakeholder.updated", "data": record}).encode()


async def _load(port: int, events: int, concurrency: int, max_seconds: float) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    url = f"http://127.0.0.1:{port}/webhooks/peer"
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    acked: list[str] = []
    counter = iter(range(events))
    deadline = time.monotonic() + max_seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker() -> None:
            for i in counter:
                if time.monotonic() > deadline:
                    return
                body = _event(i, run)
                msg_id = f"msg_{run}_{i}"
                headers = standard_headers([SECRET], msg_id, int(time.time()), body)
                headers["content-type"] = "application/json"
                started = time.perf_counter()
                try:
                    response = await client.post(url, content=body, headers=headers)
                    status = response.status_code
                except httpx.HTTPError:
                    status = 0
                latencies.append(time.perf_counter() - started)
                statuses[status] = statuses.get(status, 0) + 1
                if status in (200, 202):
                    acked.append(msg_id)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "sent": len(latencies),
        "elapsed_s": round(elapsed, 2),
        "events_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
        "statuses": statuses,
        "acked": acked,
    }


def _missing(store_url: str, acked: list[str]) -> int:
    engine = sa.create_engine(store_url)
    try:
        with engine.connect() as conn:
            stored = {
                row[0]
                for row in conn.execute(
                    sa.text("SELECT webhook_id FROM webhook_inbox WHERE connector = 'peer'")
                )
            }
    finally:
        engine.dispose()
    return len(set(acked) - stored)


def _wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"crmbridge serve exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit("crmbridge serve did not become ready")


def bench(store_url: str, args: argparse.Namespace) -> dict[str, Any]:
    """One measured load against a fresh server on ``store_url``."""
    upgrade(store_url)
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "crmbridge.yaml"
        config.write_text(
            CONFIG.format(
                store=store_url, port=port, secret=SECRET, jobs="" if args.no_job else JOB
            ),
            encoding="utf-8",
        )
        command = [sys.executable, "-m", "crmbridge", "serve", "-c", str(config), "--no-access-log"]
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            _wait_ready(port, proc)
            result = asyncio.run(_load(port, args.events, args.concurrency, args.max_seconds))
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
    result["missing_acknowledged"] = _missing(store_url, result.pop("acked"))
    return result


def _fresh_postgres(base: str) -> tuple[str, sa.Engine, str]:
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    name = f"crmbridge_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.make_url(base).set(database=name).render_as_string(hide_password=False)
    return url, admin, name


def main() -> None:
    """Parse the options, run the benchmark(s), print one JSON line each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--max-seconds", type=float, default=120)
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "CRMBRIDGE_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--no-job", action="store_true", help="No pull job: measure intake only.")
    args = parser.parse_args()
    if args.store in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            result = bench(f"sqlite:///{Path(tmp) / 'hub.db'}", args)
        print(json.dumps({"store": "sqlite", "job": not args.no_job, **result}))
    if args.store in ("postgres", "both"):
        url, admin, name = _fresh_postgres(args.postgres)
        try:
            result = bench(url, args)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()
        print(json.dumps({"store": "postgresql", "job": not args.no_job, **result}))


if __name__ == "__main__":
    main()
