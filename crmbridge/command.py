"""The ``crmbridge`` script: the command line, quiet about a Ctrl-C even while it loads."""

from __future__ import annotations

import sys

__all__ = ["main"]


def main() -> None:
    """Load the command line and run it; Ctrl-C while loading exits 130 with one line."""
    try:
        from crmbridge.cli import main as run
    except KeyboardInterrupt:  # loading takes a second or two: a user may give up meanwhile
        sys.stderr.write("interrupted\n")
        raise SystemExit(130) from None
    run()
