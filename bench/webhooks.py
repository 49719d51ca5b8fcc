"""Figures for inbound webhooks: signed events per second, latency, and acknowledged-but-lost count.

    python bench/webhooks.py [--store sqlite|postgres|both] [--events 5000] [--concurrency 32]
                             [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/test]
                             [--no-job] [--max-seconds 120]

Starts ``crmbridge serve`` in a subprocess on 127.0.0.1 (a webhook connector
with a pull job, so every accepted event also asks for a coalesced sync),
then this process POSTs ``--events`` distinct Standard Webhooks-signed
stakeholder events over ``--concurrency`` keep-alive connections on
loopback, bounded in count and time. Afterwards it reads the inbox and
counts the events that were acknowledged (202/200) but are not stored: it
must be 0. PostgreSQL runs use a fresh database, dropped at the end.

The client is kept cheap so it measures the server, not itself: every
request is signed and serialised before the clock starts, and sent as raw
HTTP/1.1 on asyncio streams (an ``httpx`` client spent more CPU per request
than the server, on the same two cores). Latency is from writing a request
to reading its whole answer; p99 is nearest-rank.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/csv.py would shadow the standard library's csv (which SQLAlchemy imports)
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import base64  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from crmbridge.signatures import standard_headers  # noqa: E402
from crmbridge.store import upgrade  # noqa: E402

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


def _request(port: int, i: int, run: str) -> tuple[str, bytes]:
    """The webhook id and the whole signed HTTP/1.1 request of event ``i``."""
    body = _event(i, run)
    msg_id = f"msg_{run}_{i}"
    headers = standard_headers([SECRET], msg_id, int(time.time()), body)
    lines = [
        "POST /webhooks/peer HTTP/1.1",
        f"host: 127.0.0.1:{port}",
        "content-type: application/json",
        f"content-length: {len(body)}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return msg_id, ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _answer(reader: asyncio.StreamReader) -> int:
    """Read one whole response; its status."""
    status = int((await reader.readline()).split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


async def _load(port: int, events: int, concurrency: int, max_seconds: float) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    requests = [_request(port, i, run) for i in range(events)]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    acked: list[str] = []
    todo: Iterator[tuple[str, bytes]] = iter(requests)
    deadline = time.monotonic() + max_seconds

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for msg_id, raw in todo:
                if time.monotonic() > deadline:
                    return
                started = time.perf_counter()
                try:
                    writer.write(raw)
                    status = await asyncio.wait_for(_answer(reader), 30)
                except (OSError, ValueError, IndexError, TimeoutError, asyncio.IncompleteReadError):
                    status = 0
                latencies.append(time.perf_counter() - started)
                statuses[status] = statuses.get(status, 0) + 1
                if status in (200, 202):
                    acked.append(msg_id)
                if status == 0:  # start afresh on a new connection
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "sent": len(latencies),
        "elapsed_s": round(elapsed, 2),
        "events_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[math.ceil(len(latencies) * 0.99) - 1] * 1000, 2),
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
