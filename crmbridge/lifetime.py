"""Child processes that end with the process that started them, however it ends.

A parent killed with SIGKILL (the OOM killer, ``kill -9``) runs no clean-up:
its sync children and mapping worker would live on as orphans, each holding
its memory and, for a sync child, a lease it keeps renewing. On Linux the
kernel can send them a signal when their parent goes.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import signal
import sys
from typing import Final

__all__ = ["die_with_parent"]

_PR_SET_PDEATHSIG: Final = 1


def die_with_parent() -> None:
    """Have the kernel SIGKILL this process when the thread that started it ends (Linux only;
    elsewhere nothing). Call it first thing in the child."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
