"""``crmbridge sandbox``: local fakes of the CRMs, for rehearsals and tests without an account.

Each connector package that ships a fake server adds its command here through
the ``crmbridge.sandboxes`` entry-point group (``crmbridge sandbox zoho``).
"""

from __future__ import annotations

import typer

__all__ = ["app"]

app = typer.Typer(
    help="Run a local fake of a CRM's API (no account, no credits spent).", no_args_is_help=True
)
