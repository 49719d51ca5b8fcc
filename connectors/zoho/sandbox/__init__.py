"""A local fake Zoho CRM server: rehearse migrations and test the connector over real HTTP.

Build one in-process with :func:`create_app` (an ASGI app for ``httpx.ASGITransport``)
or run it on a socket with :func:`serve` / :class:`SandboxServer`. It speaks Zoho's
wire format — see ``/work/shared/zoho-crm-api.md`` §16 — for:

- ``POST /oauth/v2/token`` (authorization_code and refresh_token grants; errors as
  HTTP 200 ``{"error": ...}``; ``api_domain`` = the sandbox's own base URL);
- ``/crm/v{N}/{Module}`` get / insert / update / delete, ``/{id}``, ``/upsert``,
  ``/search``, ``/deleted``, ``/actions/count``, ``/{id}/Notes``; ``/coql``;
  ``/settings/fields``, ``/settings/modules``, ``/org``, ``/users``; ``/actions/watch``
  with callbacks POSTed to ``notify_url``;
- modules Contacts, Accounts, Notes, Calls, Events, Tasks and the custom
  ``Change_Requests``, each with a unique custom text field ``crmbridge_id``.

Latency, a concurrency cap (429) and faults (:mod:`.faults` documents the
``--faults`` grammar) apply to ``/crm/`` calls. ``/__sandbox/*`` (:mod:`.admin`) is the
sandbox-only control API: counters, "remote user" edits, runtime faults.
"""

from connectors.zoho.sandbox.app import SandboxApp, create_app
from connectors.zoho.sandbox.faults import FaultSpec, FaultSpecError, parse_faults
from connectors.zoho.sandbox.options import SandboxOptions
from connectors.zoho.sandbox.server import SandboxServer, run_sandbox, serve
from connectors.zoho.sandbox.state import SandboxState

__all__ = [
    "FaultSpec",
    "FaultSpecError",
    "SandboxApp",
    "SandboxOptions",
    "SandboxServer",
    "SandboxState",
    "create_app",
    "parse_faults",
    "run_sandbox",
    "serve",
]
