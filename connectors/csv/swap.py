"""Replace a file only if it is still the one that was read: a compare-and-swap for files.

A rewrite reads a file, writes the new text to a temporary file and renames
it over the original. Checking the original just before the rename leaves a
gap: a person's save landing between the check and the rename is lost
without a trace. On Linux, ``renameat2(RENAME_EXCHANGE)`` swaps the two
names in one step, so the check can look at the very file the swap
displaced: if that is not the file that was read, the swap is undone and
the caller starts again from the person's save. Elsewhere (or on a file
system without the exchange) it falls back to check-then-rename.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

__all__ = ["exchange", "file_version", "replace_if_unchanged"]

log = logging.getLogger("crmbridge.connectors.csv")

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_UNSUPPORTED = {errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EXDEV}


def _renameat2() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        # the interpreter's own symbols, libc's among them: looking libc up by name would run
        # ldconfig in a child process at every import
        libc = ctypes.CDLL(None, use_errno=True)
        function: Callable[..., int] = libc.renameat2
    except (OSError, AttributeError):
        return None  # a libc older than glibc 2.28, or not glibc
    return function


_RENAMEAT2 = _renameat2()


def file_version(stat: os.stat_result) -> tuple[int, int, int]:
    """Which version of a file ``stat`` describes: its inode, size and modification time (ns)."""
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def exchange(first: Path, second: Path) -> bool:
    """Swap the names of two existing files atomically; False where the system cannot.

    Any other failure raises :class:`OSError` as :func:`os.replace` would.
    """
    if _RENAMEAT2 is None:
        return False
    done = _RENAMEAT2(
        _AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE
    )
    if done == 0:
        return True
    code = ctypes.get_errno()
    if code in _UNSUPPORTED:
        return False
    raise OSError(code, os.strerror(code), str(second))


def replace_if_unchanged(temp: Path, path: Path, unchanged: Callable[[Path], bool]) -> bool:
    """Move ``temp`` over ``path`` if ``unchanged(file)`` holds of what ``path`` holds.

    ``unchanged`` is asked about the file that would be replaced, under the
    name it has at that moment. True when ``temp`` took the place of ``path``
    (and the old file is gone); False when ``path`` had changed, in which
    case ``path`` is left holding the change and ``temp`` is left for the
    caller to remove.
    """
    if not unchanged(path):
        return False
    ours = os.stat(temp).st_ino
    try:
        swapped = exchange(temp, path)
    except FileNotFoundError:
        return False  # the file was removed after the check: that is a change too
    if not swapped:
        os.replace(temp, path)
        return True
    # ``temp`` now names the file that was at ``path``: the one to check
    if unchanged(temp):
        temp.unlink()
        return True
    try:
        exchange(temp, path)
    except FileNotFoundError:
        # our file was removed from ``path`` meanwhile: put the save we displaced back
        os.replace(temp, path)
        return False
    if os.stat(temp).st_ino != ours:
        # yet another save landed during the swap back: the newest one stays
        log.warning("%s was saved twice while it was being replaced; keeping the last save", path)
        os.replace(temp, path)
    return False
