"""Figures for CSV files: importing stakeholders into the hub, and migrating a big file.

    python bench/csv.py [--rows 100000] [--repeat 3] [--migrate-rows 1000000] [--batch-size 1000]

1. Imports ``--rows`` stakeholders (plus their organisations) from CSV into a fresh SQLite
   hub through the engine and prints rows/s (the issue's target: at least 15,000/s), in
   one process (the default) and with the mapping worker (``runs.map_workers: 1``), with
   the CPU seconds each process spent; ``--repeat`` times each, the two alternating, then
   the median of each (this machine's speed moves by a tenth or more from minute to minute).
2. Migrates ``--migrate-rows`` rows CSV -> hub -> CSV with ``crmbridge.migrate`` in a
   separate process and prints its wall time and peak RSS (target: at most 250 MB), that of
   its largest child process (the mapping worker, when ``runs.map_workers`` is 1), and the
   peak of the two together (sampled every 0.1 s).
   The target connector writes ``--batch-size`` rows per batch (appended to its file, as
   they only create rows).

``BENCH_EXTRA_CONFIG`` (YAML) is added to the generated config, e.g.
``BENCH_EXTRA_CONFIG='runs: {map_workers: 1}'`` to measure the migration with the mapping
worker; the import is then measured with that config alone."""

from __future__ import annotations

import sys
from pathlib import Path

# this file is named csv.py: keep its folder off the path so `import csv` is the standard library
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import csv  # noqa: E402
import importlib.util  # noqa: E402
import multiprocessing  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

_spec = importlib.util.spec_from_file_location("csv_files", HERE / "csv_files.py")
assert _spec is not None
assert _spec.loader is not None
csv_files = importlib.util.module_from_spec(_spec)
sys.modules["csv_files"] = csv_files
_spec.loader.exec_module(csv_files)
COMPANIES, write_stakeholders = csv_files.COMPANIES, csv_files.write_stakeholders

from crmbridge.config import load_config  # noqa: E402
from crmbridge.heap import tune  # noqa: E402
from crmbridge.migrate import Migration, run_migration  # noqa: E402
from crmbridge.service import Bridge  # noqa: E402
from crmbridge.sync.job import SyncJob  # noqa: E402
from crmbridge.sync.runner import run_job  # noqa: E402

ENTITIES = ("organizations", "stakeholders")


def prepare(folder: Path, rows: int, batch_size: int, extra: str = "") -> Path:
    """A config with a source directory of ``rows`` stakeholders and an empty target."""
    source = folder / "source"
    source.mkdir()
    with (source / "organizations.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Account Name", "Industry"])
        writer.writerows([name, "various"] for name in COMPANIES)
    write_stakeholders(source / "stakeholders.csv", rows)
    config = folder / "crmbridge.yaml"
    config.write_text(
        "store: {url: 'sqlite:///hub.db'}\n"
        "defaults: {phone_region: CN, timezone: Asia/Shanghai}\n"
        + os.environ.get("BENCH_EXTRA_CONFIG", "").rstrip()
        + "\n"
        + extra
        + "connectors:\n"
        "  source: {type: csv, directory: source}\n"
        f"  target: {{type: csv, directory: target, batch_size: {batch_size}}}\n",
        encoding="utf-8",
    )
    return config


def _reap_children() -> None:
    """Wait for the child processes still ending (a run does not wait for its worker)."""
    for child in multiprocessing.active_children():
        child.join()


def _children_cpu() -> float:
    """CPU seconds of the child processes, once those ending have ended."""
    _reap_children()
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def import_figures(rows: int, workers: int | None, repeat: int) -> None:
    """``repeat`` imports, alternating with the other mode when both are measured; then the
    median of each mode's rates (this machine's speed moves from minute to minute)."""
    modes = [None] if os.environ.get("BENCH_EXTRA_CONFIG") else [None, workers]
    rates: dict[int | None, list[float]] = {mode: [] for mode in modes}
    for _ in range(repeat):
        for mode in modes:
            rates[mode].append(import_figure(rows, mode))
    if repeat > 1:
        for mode, seen in rates.items():
            how = "mapping worker" if mode else "one process"
            print(
                f"import ({how}), median of {repeat}: {statistics.median(seen):,.0f} rows/s "
                f"(from {min(seen):,.0f} to {max(seen):,.0f})"
            )


def import_figure(rows: int, workers: int | None) -> float:
    """One import of ``rows`` stakeholders; prints it and returns its rate (rows/s)."""
    extra = "" if workers is None else f"runs: {{map_workers: {workers}}}\n"
    with tempfile.TemporaryDirectory(prefix="crmbridge-csv-bench-") as name:
        config = prepare(Path(name), rows, 1000, extra)
        bridge = Bridge(load_config(config, {}))
        job = SyncJob("import", "source", ENTITIES, direction="pull", phone_region="CN")
        started, cpu, before = time.perf_counter(), time.process_time(), _children_cpu()
        report = asyncio.run(
            run_job(bridge.store, job, bridge.connector("source"), bridge.mappers("source"))
        )
        took, cpu = time.perf_counter() - started, time.process_time() - cpu
        created = report.by_entity.get("stakeholders", {}).get("created", 0)
        bridge.close()
        worker = _children_cpu() - before  # the run's only child process: the worker
        how = (
            "BENCH_EXTRA_CONFIG"
            if os.environ.get("BENCH_EXTRA_CONFIG")
            else "mapping worker"
            if workers
            else "one process"
        )
        print(
            f"import ({how}): {created:,} of {rows:,} stakeholders CSV -> SQLite hub in "
            f"{took:.1f} s = {created / took:,.0f} rows/s ({report.status}; rejected "
            f"{report.counts['rejected']}; CPU s: run {cpu:.1f}"
            + (f", worker {worker:.1f})" if worker >= 0.05 else ")")
        )
        return created / took


def migrate_figure(rows: int, batch_size: int) -> None:
    with tempfile.TemporaryDirectory(prefix="crmbridge-csv-bench-") as name:
        config = prepare(Path(name), rows, batch_size)
        started = time.perf_counter()
        returncode, out, err, together = _watched(
            [sys.executable, __file__, "--child-migrate", str(config)]
        )
        took = time.perf_counter() - started
        if returncode != 0:
            print(out, err, file=sys.stderr)
            raise SystemExit("the migration failed")
        print(
            f"migrate: {rows:,} rows CSV -> hub -> CSV in {took:.0f} s; {out.strip()}; "
            f"peak RSS of the process and its children at once: {together / 1024:.0f} MB"
        )


def _watched(command: list[str]) -> tuple[int, str, str, int]:
    """Run ``command``: its exit status, output, errors, and the peak RSS (KiB) of it and its
    children at once, sampled every 0.1 s."""
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    together = 0
    while True:
        together = max(together, _tree_rss(child.pid))
        try:
            # read as it writes: a child whose output fills a pipe nobody reads never ends
            out, err = child.communicate(timeout=0.1)
        except subprocess.TimeoutExpired:
            continue
        return child.returncode, out, err, together


def _tree_rss(pid: int) -> int:
    """RSS (KiB) of a process and its children now, as /proc tells (0 once it is gone)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        parent = int(fields.get("PPid", "0").strip() or 0)
        if int(entry.name) == pid or parent == pid:
            total += int(fields.get("VmRSS", "0 kB").split()[0])
    return total


def child_migrate(config: Path) -> None:
    bridge = Bridge(load_config(config, {}))
    report = asyncio.run(run_migration(bridge, Migration("source", "target", ENTITIES)))
    bridge.close()
    _reap_children()  # so the mapping worker's peak RSS is counted
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    pushed = sum(leg.counts.get("pushed", 0) for leg in report.legs)
    print(
        f"{report.status}, pushed {pushed:,}, peak RSS {rss:.0f} MB "
        f"(its largest child process: {worker:.0f} MB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--migrate-rows", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child-migrate", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    tune()  # as every crmbridge command does at start
    if args.child_migrate:
        child_migrate(args.child_migrate)
        return
    if args.rows:
        import_figures(args.rows, 1, args.repeat)
    if args.migrate_rows:
        migrate_figure(args.migrate_rows, args.batch_size)


if __name__ == "__main__":
    main()
