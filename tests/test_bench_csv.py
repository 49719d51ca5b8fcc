"""bench/csv.py: the migration figure's child process is watched without stalling it."""

from __future__ import annotations

import importlib.util
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _load() -> ModuleType:
    # by path, under another name: as `csv` it would shadow the standard library
    spec = importlib.util.spec_from_file_location("bench_csv", BENCH / "csv.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_child_that_says_much_on_stderr_still_ends() -> None:
    # a failing migration may log more than a pipe holds; the bench must show it, not hang
    bench = _load()
    said = "import sys; sys.stderr.write('warning ' * 100_000); print('done')"
    got: list[Any] = []
    watching = threading.Thread(
        target=lambda: got.append(bench._watched([sys.executable, "-c", said])), daemon=True
    )
    watching.start()
    watching.join(120)  # only so a hang fails the test instead of stalling the suite
    assert got, "the bench waits for a child blocked on a full pipe"
    returncode, out, err, _ = got[0]
    assert (returncode, out, err) == (0, "done\n", "warning " * 100_000)
