# ruff: noqa: E402
"""Smoke figures for the Zoho sandbox over real HTTP: a full read, an incremental COQL pass
and a batch of upserts, through faults, with a naive retrying client.

    python bench/zoho_sandbox_smoke.py [--records 20000] [--faults "5xx:0.02,reset:0.01,429:0.02"]

Prints calls, retries, records/s per phase and the sandbox's own counters.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/csv.py would shadow the standard library's csv module: keep this folder off the path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import time
from typing import Any

import httpx

from connectors.zoho.sandbox import SandboxOptions, SandboxServer

CLIENT = {"client_id": "1000.SANDBOXCLIENT", "client_secret": "sandbox-secret"}


class Client:
    """Just enough of a Zoho client: token refresh on INVALID_TOKEN, retry on 429/5xx/resets."""

    def __init__(self, base: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=5)
        self.calls = self.retries = 0
        self._refresh()

    def _refresh(self) -> None:
        body = {**CLIENT, "grant_type": "refresh_token", "refresh_token": "1000.sandbox.refresh"}
        token = self.http.post("/oauth/v2/token", data=body).json()["access_token"]
        self.http.headers["Authorization"] = f"Zoho-oauthtoken {token}"

    def call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        for attempt in range(8):
            self.calls += 1
            try:
                r = self.http.request(method, path, **kw)
            except httpx.TransportError:
                self.retries += 1
                continue
            if r.status_code == 401:
                self._refresh()
            elif r.status_code == 429 or r.status_code >= 500:
                time.sleep(0.01 * 2**attempt)
            else:
                return r
            self.retries += 1
        raise RuntimeError(f"{method} {path} kept failing")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--faults", default="5xx:0.02,reset:0.01,429:0.02,token_expiry:every=300")
    args = parser.parse_args()
    options = SandboxOptions(
        port=0, seed_records=args.records, faults=args.faults, seed=1, concurrency=0
    )
    with SandboxServer(options) as server:
        c = Client(server.base_url)
        t0 = time.perf_counter()
        params: dict[str, str] = {
            "fields": "Last_Name,Email,Modified_Time",
            "sort_by": "Modified_Time",
            "sort_order": "asc",
        }
        n, token = 0, None
        while True:
            r = c.call(
                "GET",
                "/crm/v8/Contacts",
                params={**params, **({"page_token": token} if token else {})},
            )
            body = r.json()
            n += len(body["data"])
            token = body["info"]["next_page_token"]
            if not body["info"]["more_records"]:
                break
        t1 = time.perf_counter()
        print(
            f"get records: {n} in {t1 - t0:.2f}s ({n / (t1 - t0):.0f}/s), calls={c.calls} retries={c.retries}"
        )
        offset, m = 0, 0
        query = "select Last_Name, Modified_Time from Contacts where Modified_Time >= '2000-01-01T00:00:00+00:00' order by Modified_Time asc, id asc"
        while True:
            r = c.call(
                "POST", "/crm/v8/coql", json={"select_query": f"{query} limit {offset}, 2000"}
            )
            if r.status_code == 204:
                break
            m += len(r.json()["data"])
            offset += 2000
            if not r.json()["info"]["more_records"] or offset >= 100_000:
                break
        t2 = time.perf_counter()
        print(f"coql: {m} in {t2 - t1:.2f}s ({m / (t2 - t1):.0f}/s)")
        for batch in range(20):
            data = [
                {"Last_Name": f"Bench {batch}-{i}", "crmbridge_id": f"bench-{batch}-{i}"}
                for i in range(100)
            ]
            c.call(
                "POST",
                "/crm/v8/Contacts/upsert",
                json={"data": data, "duplicate_check_fields": ["crmbridge_id"], "trigger": []},
            )
        t3 = time.perf_counter()
        print(f"upsert: 2000 in {t3 - t2:.2f}s, calls={c.calls} retries={c.retries}")
        print(c.http.get("/__sandbox/state").json()["faults"])
        c.http.close()


if __name__ == "__main__":
    main()
