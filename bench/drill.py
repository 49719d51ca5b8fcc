"""The fault drill of issue 9: real ``crmbridge run`` processes, a faulty Zoho, CSV files, chaos.

    python bench/drill.py --seed 7 --size 300 [--replicas 1 --store sqlite|postgres]
                          [--duration 20] [--every 2s] [--kills 4] [--workdir DIR]
                          [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/test]

Seeds the Zoho sandbox (its own process, injecting 429s, 5xx, resets, timeouts,
token expiry and partial 207s) and a CSV file with known stakeholders, half
each; starts ``crmbridge run`` (one replica on SQLite, or ``--replicas`` on a
fresh PostgreSQL database, dropped at the end) with two jobs syncing Zoho and
the CSV file with the hub every ``--every``; for ``--duration`` seconds makes
seeded random edits and creates on both sides while ``kill -9`` and SIGTERM
restarts hit the replicas, badly signed, replayed, oversized and malformed
webhooks reach the service and broken rows land in the CSV file. Then the
faults and edits stop, the jobs run until two rounds in a row change nothing,
and :mod:`drill_check` compares the sides record by record. It prints one line
on stdout::

    records N, lost L, duplicated D, diverged V, open inbox I

and the details on stderr; it exits 1 unless nothing was lost, duplicated or
diverged, no service answer was a 5xx, no hostile input was accepted or
reached the hub, and every SIGTERM-ed replica exited 0.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/csv.py would shadow the standard library's csv: keep this folder last on the path
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE] + [str(HERE)]

import argparse  # noqa: E402
import base64  # noqa: E402
import csv  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from contextlib import contextmanager, suppress  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from drill_check import HOSTILE_MARK, Ledger, Seen, Verdict, check  # noqa: E402

from connectors.csv.swap import replace_if_unchanged  # noqa: E402
from crmbridge.signatures import standard_headers  # noqa: E402
from crmbridge.store import open_store, upgrade  # noqa: E402

SECRET = "whsec_" + base64.b64encode(b"crmbridge-drill-secret-32-bytes!").decode()
WRONG_SECRET = "whsec_" + base64.b64encode(b"not-the-secret-of-this-service!!").decode()
# rates high enough that the few hundred calls of a short drill meet every kind
FAULTS = (
    "429:0.08,5xx:0.08,reset:0.05@after@write,reset:0.04@read,timeout:0.02@3s,"
    "token_expiry:every=40,partial:0.05"
)
JOBS = ("zoho-sync", "csv-sync")
CSV_HEADER = ["Record Id", "Full Name", "Email", "Title", "Department"]
MAX_BODY = 65536
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def log(message: str) -> None:
    """A progress line on stderr."""
    print(f"[drill {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def stamp() -> str:
    """The wall clock to the millisecond, as the replicas' logs write it."""
    now = datetime.now()
    return now.strftime("%H:%M:%S,") + f"{now.microsecond // 1000:03d}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_port(port: int, process: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit(f"nothing listens on port {port}") from None
            time.sleep(0.1)


# -- the store ---------------------------------------------------------------------------


@contextmanager
def hub_url(kind: str, workdir: Path, postgres: str) -> Iterator[str]:
    """A fresh hub: a SQLite file in the work folder, or a new PostgreSQL database, dropped after."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'hub.db'}"
        return
    admin_url = sa.make_url(postgres)
    name = f"crmbridge_drill_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


# -- the replicas ------------------------------------------------------------------------


def write_config(folder: Path, store: str, sandbox: str, data: Path, every: str) -> Path:
    """One replica's config: Zoho and CSV jobs every ``every``, a webhook peer, its own port."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "crmbridge.yaml"
    config.write_text(
        f"store: {{url: '{store}'}}\n"
        "connectors:\n"
        "  crm:\n"
        "    type: zoho\n"
        "    client_id: 1000.SANDBOXCLIENT\n"
        "    client_secret: sandbox-secret\n"
        "    refresh_token: 1000.sandbox.refresh\n"
        f"    accounts_url: {sandbox}\n"
        f"    api_url: {sandbox}\n"
        "    concurrency: 4\n"
        "    timeout_s: 2\n"
        "    connect_timeout_s: 2\n"
        "    max_retries: 8\n"
        "    backoff_s: 0.05\n"
        "    max_backoff_s: 0.5\n"
        "    page_size: 50\n"
        f"  files: {{type: csv, directory: '{data}'}}\n"
        f"  peer: {{type: webhook, secret: '{SECRET}'}}\n"
        "jobs:\n"
        "  zoho-sync: {connector: crm, entities: [stakeholders], batch_size: 20,\n"
        f"    schedule: {{every: {every}}}}}\n"
        f"  csv-sync: {{connector: files, entities: [stakeholders], schedule: {{every: {every}}}}}\n"
        "  peer-in: {connector: peer, entities: [stakeholders], direction: pull}\n"
        f"server: {{port: {free_port()}, shutdown_grace_s: 15, lease_ttl_s: 3, "
        f"max_body_bytes: {MAX_BODY}}}\n"
        "runs: {map_workers: 0}\n",
        encoding="utf-8",
    )
    return config


class Replica:
    """One ``crmbridge run`` process that can be killed, stopped and started again."""

    def __init__(self, config: Path) -> None:
        self.config = config
        text = config.read_text(encoding="utf-8")
        self.port = int(text.split("port: ", 1)[1].split(",", 1)[0])
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def alive(self) -> bool:
        """Started and not exited."""
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Start (again); its log is appended to ``run.log`` beside the config."""
        with (self.config.parent / "run.log").open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "crmbridge", "run", "-c", str(self.config)],
                stdout=subprocess.DEVNULL,
                stderr=out,
            )
        self.starts += 1

    def kill(self) -> None:
        """``kill -9``."""
        if self.process is not None and self.alive:
            self.process.kill()
            self.process.wait(timeout=30)

    def stop(self) -> int:
        """SIGTERM and wait; the exit code (a stuck replica is killed and gives -9)."""
        assert self.process is not None
        if not self.alive:
            return self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            return -9

    def serving(self) -> bool:
        """Alive and answering ``/healthz``."""
        if not self.alive:
            return False
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def wait_serving(self, seconds: float = 60) -> None:
        """Block until :meth:`serving`."""
        deadline = time.monotonic() + seconds
        while not self.serving():
            if time.monotonic() > deadline or not self.alive:
                raise SystemExit(f"{self.config.parent.name} did not start: see its run.log")
            time.sleep(0.2)

    def log_text(self) -> str:
        """Everything this replica logged."""
        return (self.config.parent / "run.log").read_text(encoding="utf-8", errors="replace")


# -- the CSV side ------------------------------------------------------------------------


def csv_line(cells: list[str]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(cells)
    return out.getvalue().encode("utf-8")


def parse_line(raw: bytes) -> list[str] | None:
    """One physical line as cells, or None if it does not decode (a broken row)."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    rows = list(csv.reader([text.rstrip("\r\n")]))
    return rows[0] if rows else []


class CsvSide:
    """The stakeholders file, edited as a person would: read, change, save over it.

    Every save is optimistic: if the connector rewrote the file since it was
    read, the edit starts again, so the drill never clobbers a push.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def mutate(self, change: Callable[[list[bytes]], bool]) -> bool:
        """Apply ``change`` to the lines (header first); False if it changed nothing.

        The file is replaced only if it still holds the very bytes the change was
        made to (an inode can come back at once on ext4, so its stat alone is not
        proof), checked on the very file the rename displaces (see
        :mod:`connectors.csv.swap`), so a push landing meanwhile is never overwritten.
        """
        for _ in range(20):
            original = self.path.read_bytes()
            lines = original.splitlines(keepends=True)
            if not change(lines):
                return False
            temp = self.path.with_name(".drill-edit.tmp")
            temp.write_bytes(b"".join(lines))
            if replace_if_unchanged(
                temp, self.path, lambda name, was=original: name.read_bytes() == was
            ):
                after = os.stat(self.path)
                self.journal(f"saved inode {after.st_ino} size {after.st_size}")
                return True
            temp.unlink(missing_ok=True)
        return False

    def journal(self, line: str) -> None:
        """One line in ``csv-edits.log`` beside the data folder, for a post-mortem."""
        with self.path.parent.with_name("csv-edits.log").open("a", encoding="utf-8") as out:
            out.write(f"{stamp()} {line}\n")

    def edit(self, emails: set[str], column: str, value: str) -> list[str]:
        """Set ``column`` of the rows of these emails to ``value``; the emails edited."""
        done: list[str] = []

        def change(lines: list[bytes]) -> bool:
            done.clear()
            header = parse_line(lines[0]) or []
            at = {name: i for i, name in enumerate(header)}
            for i, raw in enumerate(lines[1:], start=1):
                cells = parse_line(raw)
                if not cells or len(cells) != len(header):
                    continue
                email = cells[at["Email"]].lower()
                if email in emails and HOSTILE_MARK not in email:
                    cells[at[column]] = value
                    lines[i] = csv_line(cells)
                    done.append(email)
            return bool(done)

        return list(done) if self.mutate(change) else []

    def append(self, rows: list[dict[str, str]] | list[bytes]) -> bool:
        """Add rows (by column name, or raw lines) at the end."""

        def change(lines: list[bytes]) -> bool:
            header = parse_line(lines[0]) or []
            if lines and not lines[-1].endswith(b"\n"):
                lines[-1] += b"\r\n"
            for row in rows:
                lines.append(
                    row if isinstance(row, bytes) else csv_line([row.get(h, "") for h in header])
                )
            return True

        return self.mutate(change)

    def emails(self) -> set[str]:
        """The emails of the readable rows."""
        return {r.email for r in self.read()}

    def read(self) -> list[Seen]:
        """Every readable, well-formed row as the checker sees it."""
        lines = self.path.read_bytes().splitlines()
        header = parse_line(lines[0]) or []
        at = {name: i for i, name in enumerate(header)}
        out: list[Seen] = []
        for number, raw in enumerate(lines[1:], start=2):
            cells = parse_line(raw)
            if cells is None or not any(cells):
                continue
            if len(cells) != len(header):
                if HOSTILE_MARK not in raw.decode("utf-8", "replace").lower():
                    out.append(Seen("csv", f"line {number}", f"<broken line {number}>", {}))
                continue
            get = {name: cells[i] for name, i in at.items()}
            out.append(
                Seen(
                    "csv",
                    get.get("Record Id") or f"line {number}",
                    get.get("Email", "").lower(),
                    {
                        "full_name": get.get("Full Name", ""),
                        "title": get.get("Title", ""),
                        "department": get.get("Department", ""),
                    },
                )
            )
        return out


# -- the Zoho side -----------------------------------------------------------------------


class ZohoSide:
    """The sandbox's Contacts, edited through its control API as another CRM user would."""

    def __init__(self, base: str) -> None:
        self.client = httpx.Client(base_url=base, timeout=30)

    def contacts(self) -> list[dict[str, Any]]:
        """Every live contact."""
        return list(self.client.get("/__sandbox/records/Contacts").json()["data"])

    def ids(self) -> dict[str, str]:
        """Email -> record id."""
        return {str(c.get("Email") or "").lower(): str(c["id"]) for c in self.contacts()}

    def write(self, items: list[dict[str, Any]]) -> list[bool]:
        """Insert or update; whether each item was acknowledged."""
        answer = self.client.post("/__sandbox/records/Contacts", json={"data": items})
        answer.raise_for_status()
        return [r.get("status") == "success" for r in answer.json()["data"]]

    def set_faults(self, spec: str) -> None:
        """Replace the injected faults."""
        self.client.post("/__sandbox/faults", json={"spec": spec}).raise_for_status()

    def fired(self) -> dict[str, int]:
        """Faults injected so far, by kind."""
        return dict(self.client.get("/__sandbox/state").json()["faults"]["fired"])

    def read(self) -> list[Seen]:
        """Every contact as the checker sees it."""
        return [
            Seen(
                "zoho",
                str(c["id"]),
                str(c.get("Email") or "").lower(),
                {
                    "full_name": " ".join(
                        str(c.get(k) or "") for k in ("First_Name", "Last_Name") if c.get(k)
                    ),
                    "title": str(c.get("Title") or ""),
                    "department": str(c.get("Department") or ""),
                },
            )
            for c in self.contacts()
        ]


def read_hub(url: str) -> tuple[list[Seen], list[tuple[str | None, str | None]], int]:
    """The hub's stakeholders, its open inbox items and how many webhooks it stored."""
    store = open_store(url)
    try:
        seen = [
            Seen(
                "hub",
                r.id,
                str(r.data.get("email") or "").lower(),
                {k: str(r.data.get(k) or "") for k in ("full_name", "title", "department")},
                hub_id=r.id,
            )
            for r in store.iter_records("stakeholders")
        ]
        inbox = [(i.record_id, i.external_id) for i in store.list_open_inbox(limit=100_000)]
        with store.engine.connect() as conn:
            stored = int(conn.exec_driver_sql("SELECT count(*) FROM webhook_inbox").scalar() or 0)
    finally:
        store.close()
    return seen, inbox, stored


# -- hostile input -----------------------------------------------------------------------


def hostile_request(kind: str, n: int) -> tuple[bytes, dict[str, str]]:
    """A webhook the service must refuse, and why it must."""
    record = {"full_name": f"Hostile {n}", "email": f"{HOSTILE_MARK}{n}@{HOSTILE_MARK}.example"}
    body = json.dumps({"type": "stakeholder.created", "data": [record]}).encode()
    msg_id = f"msg_hostile_{n}"
    now = int(time.time())
    if kind == "bad_signature":
        return body, standard_headers([WRONG_SECRET], msg_id, now, body)
    if kind == "replayed":  # signed right, an hour old
        return body, standard_headers([SECRET], msg_id, now - 3600, body)
    if kind == "tampered":  # signed right, then the body changed
        headers = standard_headers([SECRET], msg_id, now, body)
        return body.replace(b"Hostile", b"Hostile!"), headers
    if kind == "oversized":
        big = json.dumps({"type": "stakeholder.created", "data": [record] * 4000}).encode()
        return big, standard_headers([SECRET], msg_id, now, big)
    if kind == "malformed":  # signed right, not JSON
        broken = body[: len(body) // 2] + b"\xff\x00{"
        return broken, standard_headers([SECRET], msg_id, now, broken)
    if kind == "unsigned":
        return body, {}
    raise ValueError(kind)


HOSTILE_KINDS = ("bad_signature", "replayed", "tampered", "oversized", "malformed", "unsigned")
BROKEN_ROWS = [
    # too many cells, bytes that are not UTF-8, too few cells
    b"X-h1,Hostile Extra,hostile1@hostile.example,T,D,EXTRA,CELLS\r\n",
    b"X-h2,Hostile \xff\xfe\xc3 Bytes,hostile2@hostile.example,T,D\r\n",
    b"X-h3,Hostile Short\r\n",
]


# -- the drill ---------------------------------------------------------------------------


class Drill:
    """One drill: setup, chaos, settle, check (see the module docstring)."""

    def __init__(self, args: argparse.Namespace, workdir: Path, store: str) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.workdir = workdir
        self.store = store
        self.ledger = Ledger()
        self.answers: Counter[tuple[str, int]] = Counter()
        self.stops: list[int] = []
        self.kills = 0
        self.edits = 0
        self.creates = 0
        self.counter = 0
        self.data = workdir / "data"
        self.csv = CsvSide(self.data / "stakeholders.csv")
        self.sandbox: subprocess.Popen[bytes] | None = None
        self.zoho: ZohoSide | None = None
        self.replicas: list[Replica] = []
        self.fired: dict[str, int] = {}
        self.first_crash = self.rng.randint(0, 1)

    # setup ---------------------------------------------------------------------------------

    def seed(self) -> None:
        """Half the stakeholders in Zoho, half in the CSV file."""
        assert self.zoho is not None
        half = self.args.size // 2
        people = []
        for i in range(half):
            values = {"full_name": f"Zed{i} Zoho", "title": "Seed", "department": "Z"}
            email = f"z{i}@drill.example"
            self.ledger.add(email, values)
            people.append(
                {
                    "First_Name": f"Zed{i}",
                    "Last_Name": "Zoho",
                    "Email": email,
                    "Title": "Seed",
                    "Department": "Z",
                }
            )
        for start in range(0, len(people), 100):
            assert all(self.zoho.write(people[start : start + 100]))
        self.data.mkdir()
        lines = [csv_line(CSV_HEADER)]
        for i in range(self.args.size - half):
            email = f"c{i}@drill.example"
            self.ledger.add(email, {"full_name": f"Cee{i} Csv", "title": "Seed", "department": "C"})
            lines.append(csv_line([f"C{i:05d}", f"Cee{i} Csv", email, "Seed", "C"]))
        self.csv.path.write_bytes(b"\xef\xbb\xbf" + b"".join(lines))

    def start(self) -> None:
        """The sandbox, the seed, the hub schema and the replicas."""
        port = free_port()
        self.sandbox = subprocess.Popen(
            [
                *(sys.executable, "-m", "crmbridge", "sandbox", "zoho"),
                *("--port", str(port), "--seed", str(self.args.seed)),
                *("--latency-ms", "5", "--faults", FAULTS),
            ],
            stdout=subprocess.DEVNULL,
            stderr=(self.workdir / "sandbox.log").open("wb"),
        )
        wait_port(port, self.sandbox)
        base = f"http://127.0.0.1:{port}"
        self.zoho = ZohoSide(base)
        self.seed()
        upgrade(self.store)
        for i in range(self.args.replicas):
            config = write_config(
                self.workdir / f"replica{i}", self.store, base, self.data, self.args.every
            )
            self.replicas.append(Replica(config))
        for replica in self.replicas:
            replica.start()
        log(f"sandbox {base}, {len(self.replicas)} replica(s) on {self.store.split(':')[0]}")

    # chaos ---------------------------------------------------------------------------------

    def value(self, field: str) -> str:
        self.counter += 1
        return f"{field[0].upper()}{self.args.seed}-{self.counter}"

    def zoho_edit(self) -> None:
        assert self.zoho is not None
        ids = self.zoho.ids()
        targets = self.rng.sample(sorted(self.ledger.initial), k=self.rng.randint(1, 5))
        field = self.rng.choice(("title", "department"))
        items, emails = [], []
        for email in targets:
            if email in ids:
                items.append({"id": ids[email], field.capitalize(): self.value(field)})
                emails.append(email)
        for email, item, ok in zip(emails, items, self.zoho.write(items), strict=True):
            if ok:
                self.ledger.edit(email, "zoho", field, item[field.capitalize()], stamp())
                self.edits += 1

    def csv_edit(self) -> None:
        email = self.rng.choice(sorted(self.ledger.initial))
        field = self.rng.choice(("title", "department"))
        value = self.value(field)
        for done in self.csv.edit({email}, field.capitalize(), value):
            self.ledger.edit(done, "csv", field, value, stamp())
            self.edits += 1

    def create(self, side: str) -> None:
        assert self.zoho is not None
        self.counter += 1
        n = self.counter
        email = f"n{n}@drill.example"
        values = {"full_name": f"New{n} Person", "title": "Fresh", "department": side.upper()}
        if side == "zoho":
            item = {"First_Name": f"New{n}", "Last_Name": "Person", "Email": email}
            item |= {"Title": "Fresh", "Department": "ZOHO"}
            acknowledged = self.zoho.write([item])[0]
        else:
            row = dict(zip(CSV_HEADER, [f"N{n:05d}", values["full_name"], email], strict=False))
            acknowledged = self.csv.append([row | {"Title": "Fresh", "Department": "CSV"}])
        if acknowledged:
            self.ledger.add(email, values)
            self.creates += 1

    def post(self, what: str, method: str, path: str, **kwargs: Any) -> int | None:
        """One request to a live replica's service; its status is kept (None: no replica)."""
        live = [r for r in self.replicas if r.alive]
        if not live:
            return None
        replica = self.rng.choice(live)
        try:
            status = httpx.request(
                method, f"http://127.0.0.1:{replica.port}{path}", timeout=10, **kwargs
            ).status_code
        except httpx.TransportError:
            self.answers[(what, 0)] += 1  # not listening yet, or killed meanwhile
            return None
        self.answers[(what, status)] += 1
        return status

    def poll(self) -> None:
        self.post("GET /jobs", "GET", "/jobs")

    def hostile_webhook(self) -> None:
        self.counter += 1
        kind = self.rng.choice(HOSTILE_KINDS)
        body, headers = hostile_request(kind, self.counter)
        headers = {"content-type": "application/json", **headers}
        self.post(f"webhook {kind}", "POST", "/webhooks/peer", content=body, headers=headers)

    def crash(self, replica: Replica) -> None:
        """``kill -9`` or SIGTERM one serving replica, then start it again."""
        # kill -9 and SIGTERM take turns, from a seeded first one
        if (len(self.stops) + self.kills + self.first_crash) % 2 == 0:
            replica.kill()
            self.kills += 1
            log(f"kill -9 {replica.config.parent.name}")
        else:
            code = replica.stop()
            self.stops.append(code)
            log(f"SIGTERM {replica.config.parent.name}: exit {code}")
        time.sleep(self.rng.uniform(0.1, 1.0))
        replica.start()

    def chaos(self) -> None:
        """Edits, creates, hostile input and crashes for ``--duration`` seconds."""
        began = time.monotonic()
        # one crash in each of --kills equal slices of the chaos, somewhere in its middle
        kills = self.args.kills
        crash_at = [
            (k + self.rng.uniform(0.2, 0.8)) / kills * self.args.duration for k in range(kills)
        ]
        broken_at: float | None = self.rng.uniform(0.2, 0.8) * self.args.duration
        for replica in self.replicas:
            replica.wait_serving()
        actions: list[tuple[Callable[[], None], float]] = [
            (self.zoho_edit, 3),
            (self.csv_edit, 3),
            (lambda: self.create("zoho"), 1),
            (lambda: self.create("csv"), 1),
            (self.hostile_webhook, 1.5),
            (self.poll, 0.5),
        ]
        while (elapsed := time.monotonic() - began) < self.args.duration:
            if crash_at and elapsed >= crash_at[0]:
                # a crash lands on a replica that serves: one still starting up would only
                # test Python's start-up, and SIGTERM before the handlers exist is fatal
                serving = [r for r in self.replicas if r.serving()]
                if serving:
                    crash_at.pop(0)
                    self.crash(self.rng.choice(serving))
            if broken_at is not None and elapsed >= broken_at:
                broken_at = None
                self.csv.append(BROKEN_ROWS)
                log("broken rows appended to the CSV file")
            action = self.rng.choices([a for a, _ in actions], [w for _, w in actions])[0]
            action()
            time.sleep(self.rng.uniform(0.02, 0.2))
        for _ in crash_at:  # a crash put off while its replica restarted still happens
            replica = self.rng.choice(self.replicas)
            replica.wait_serving()
            self.crash(replica)

    # settle and check ----------------------------------------------------------------------

    def settle(self) -> bool:
        """Faults off, every replica up, then wait for two quiet rounds of every job."""
        assert self.zoho is not None
        self.fired = self.zoho.fired()
        self.zoho.set_faults("")
        for replica in self.replicas:
            if not replica.alive:
                replica.start()
        since = datetime.now(UTC)
        store = open_store(self.store)
        deadline = time.monotonic() + self.args.settle_s
        try:
            while time.monotonic() < deadline:
                if all(self.quiet(store, job, since) for job in JOBS):
                    return True
                time.sleep(0.5)
        finally:
            store.close()
        return False

    @staticmethod
    def quiet(store: Any, job: str, since: datetime) -> bool:
        runs = []
        for run in store.list_runs(job, limit=30):
            started = run.started_at
            if started.tzinfo is None:
                started = started.replace(tzinfo=UTC)
            if started >= since and run.status != "skipped":
                runs.append(run)
        runs.sort(key=lambda r: r.started_at)
        last = runs[-2:]
        return (
            len(runs) >= 3
            and all(r.status == "succeeded" for r in last)
            and all(
                not sum((r.counts or {}).get(k, 0) for k in ("created", "updated", "pushed"))
                for r in last
            )
        )

    def finish(self, settled: bool) -> tuple[Verdict, list[str]]:
        """Stop the replicas, read every side and check; the verdict and the other failures."""
        assert self.zoho is not None
        failures: list[str] = []
        fired = self.fired
        for replica in self.replicas:
            replica.wait_serving()
        for kind in HOSTILE_KINDS:  # every kind at least once, whatever the dice said
            body, headers = hostile_request(kind, 10**6 + HOSTILE_KINDS.index(kind))
            self.post(f"webhook {kind}", "POST", "/webhooks/peer", content=body, headers=headers)
        for replica in self.replicas:
            code = replica.stop()
            self.stops.append(code)
        hub, inbox, stored_webhooks = read_hub(self.store)
        seen = [*self.zoho.read(), *self.csv.read(), *hub]
        verdict = check(self.ledger, seen, inbox)
        if not settled:
            failures.append(f"the jobs did not settle within {self.args.settle_s:.0f}s")
        if bad := [code for code in self.stops if code != 0]:
            failures.append(f"SIGTERM-ed replicas exited {bad}")
        five = sum(n for (_, status), n in self.answers.items() if status >= 500)
        if five:
            failures.append(f"{five} service answers were 5xx")
        hostile_ok = sum(
            n
            for (what, status), n in self.answers.items()
            if what.startswith("webhook") and 0 < status < 300
        )
        if hostile_ok:
            failures.append(f"{hostile_ok} hostile webhooks were accepted")
        if stored_webhooks:
            failures.append(f"{stored_webhooks} hostile webhooks were stored in the inbox")
        tracebacks = sum(r.log_text().count("Traceback") for r in self.replicas)
        log(
            f"{self.edits} edits, {self.creates} creates, {self.kills} kill -9, "
            f"{len(self.stops) - len(self.replicas)} SIGTERM restarts; faults fired {fired}; "
            f"tracebacks in replica logs {tracebacks}"
        )
        log(
            "service answers: "
            + ", ".join(f"{w} {s} x{n}" for (w, s), n in sorted(self.answers.items()))
        )
        for problem in verdict.problems:
            log(problem)
        for failure in failures:
            log(f"FAIL: {failure}")
        return verdict, failures

    def close(self) -> None:
        for replica in self.replicas:
            replica.kill()
        if self.sandbox is not None:
            self.sandbox.terminate()
            with suppress(subprocess.TimeoutExpired):
                self.sandbox.wait(timeout=10)
            if self.sandbox.poll() is None:
                self.sandbox.kill()


def main(argv: list[str] | None = None) -> int:
    """Run one drill; 0 when it found nothing wrong."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--size", type=int, default=300, help="stakeholders seeded (half each side)"
    )
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--postgres", default=PG_DEFAULT, help="a server to create a database on")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of chaos")
    parser.add_argument("--kills", type=int, default=4, help="crashes (kill -9 or SIGTERM)")
    parser.add_argument("--every", default="2s", help="how often each job runs")
    parser.add_argument("--settle-s", type=float, default=90.0, help="most seconds to settle")
    parser.add_argument("--workdir", type=Path, help="keep files here (default: a temp folder)")
    parser.add_argument("--report", type=Path, help="also write the figures here as JSON")
    args = parser.parse_args(argv)
    if args.store == "sqlite" and args.replicas != 1:
        parser.error("SQLite serves one process: use --store postgres for --replicas > 1")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="crmbridge-drill-"))
    workdir.mkdir(parents=True, exist_ok=True)
    log(f"seed {args.seed}, size {args.size}, work folder {workdir}")
    with hub_url(args.store, workdir, args.postgres) as store:
        drill = Drill(args, workdir, store)
        try:
            drill.start()
            drill.chaos()
            settled = drill.settle()
            verdict, failures = drill.finish(settled)
        finally:
            drill.close()
    print(verdict.summary(), flush=True)
    ok = verdict.ok and not failures
    if args.report:
        figures = {
            "summary": verdict.summary(),
            "ok": ok,
            "records": verdict.records,
            "lost": verdict.lost,
            "duplicated": verdict.duplicated,
            "diverged": verdict.diverged,
            "open_inbox": verdict.open_inbox,
            "strangers": verdict.strangers,
            "hostile": verdict.hostile,
            "problems": verdict.problems,
            "failures": failures,
            "edits": drill.edits,
            "creates": drill.creates,
            "kills": drill.kills,
            "sigterm_restarts": len(drill.stops) - len(drill.replicas),
            "answers": {f"{w} {s}": n for (w, s), n in drill.answers.items()},
        }
        args.report.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    if args.workdir is None and ok:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
