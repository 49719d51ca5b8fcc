"""How crmbridge's processes live and end: with their parent, and through a hang-up.

A parent killed with SIGKILL (the OOM killer, ``kill -9``) runs no clean-up:
its sync children and mapping worker would live on as orphans, each holding
its memory and, for a sync child, a lease it keeps renewing. On Linux the
kernel can send them a signal when their parent goes.

A service (``crmbridge run``, ``crmbridge serve``) outlives SIGHUP (a closed
terminal, ``systemctl kill -s HUP``) and says so: it reloads nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import signal
import sys
from typing import Final

__all__ = ["die_with_parent", "hangup_ignored"]

log = logging.getLogger("crmbridge.lifetime")

_PR_SET_PDEATHSIG: Final = 1


def die_with_parent() -> None:
    """Have the kernel SIGKILL this process when the thread that started it ends (Linux only;
    elsewhere nothing). Call it first thing in the child."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def hangup_ignored(command: str) -> None:
    """Log that the service ``crmbridge <command>`` took a SIGHUP and goes on unchanged."""
    log.warning(
        "SIGHUP ignored: crmbridge %s does not reload its config; "
        "restart it (SIGTERM, then start) to take a changed config",
        command,
    )
