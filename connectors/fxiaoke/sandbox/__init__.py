"""A local fake Fxiaoke (纷享销客) OpenAPI: rehearse syncs and test the connector over HTTP.

Build one in-process with :func:`create_app` (an ASGI app for ``httpx.ASGITransport``)
or run it on a socket with :func:`serve` / :class:`SandboxServer`. It speaks the wire
format of ``/work/shared/fxiaoke-api.md`` — every call ``POST`` with a JSON body, every
answer HTTP 200 with ``errorCode`` / ``errorMessage`` / ``traceId``:

- tokens: ``/cgi/corpAccessToken/get/V2`` (legacy: auth fields in every body) and
  ``/oauth2.0/token`` with ``grantType: app_secret`` (Bearer + ``x-fs-ea`` +
  ``x-fs-userid`` headers) — :mod:`.auth`;
- ``/cgi/crm/v2/data/{query,get,create,update,invalid,delete,recover,changeOwner}`` for
  AccountObj, ContactObj, ActiveRecordObj; the same under ``/cgi/crm/custom/v2/data/``
  for the custom object (``RequirementChange__c`` unless configured), plus batch
  invalidate ``/cgi/crm/custom/data/invalid``; ``/cgi/crm/v2/object/describe``;
  ``/cgi/user/getByMobile``. Every object has the text field ``crmbridge_id__c``.

Rate limits, the daily quota, token expiry, latency and faults (:mod:`.faults` has the
``--faults`` grammar) apply to business calls. ``/__sandbox/*`` (:mod:`.admin`) is the
sandbox-only control API.
"""

from connectors.fxiaoke.sandbox.app import SandboxApp, create_app
from connectors.fxiaoke.sandbox.faults import FaultSpec, FaultSpecError, parse_faults
from connectors.fxiaoke.sandbox.options import SandboxOptions
from connectors.fxiaoke.sandbox.server import SandboxServer, run_sandbox, serve
from connectors.fxiaoke.sandbox.state import SandboxState

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
