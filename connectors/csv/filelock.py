"""One writer at a time for a CSV file, across processes.

Two processes appending to the same file (two migrations into one folder,
two connectors naming one file) would each take the other's finished append
for their own cut-off one and trim it away. Each write, and each check for an
unfinished append, holds an exclusive ``flock`` on
``<folder>/.crmbridge/<file name>.lock`` for as long as it touches the file.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

__all__ = ["lock_path", "writing"]


def lock_path(path: Path) -> Path:
    """The lock file of the CSV file ``path``."""
    return path.parent / ".crmbridge" / f"{path.name}.lock"


@contextmanager
def writing(path: Path) -> Iterator[None]:
    """Hold the lock of ``path`` (waiting for another process's write to end).

    Where no lock file can be made (a read-only folder, a path under a file),
    nothing can be written there either: the work goes on unlocked and meets
    that refusal itself, with the message that names the CSV file. Where the
    file system has no locks, the work goes on unlocked too.
    """
    lock = lock_path(path)
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        yield
        return
    try:
        with suppress(OSError):  # a file system without locks (some network mounts)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
