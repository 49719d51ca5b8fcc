"""OpenAPI fragments for the routes that read their raw body (verified before it is parsed)."""

from __future__ import annotations

from typing import Any

__all__ = [
    "CONFLICT_BODY",
    "JOB_RUN_RESPONSES",
    "RESOLVE_RESPONSES",
    "WEBHOOK_BODY",
    "WEBHOOK_RESPONSES",
    "error_responses",
]

_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
}

_DESCRIPTIONS = {
    400: "Malformed body (not JSON).",
    401: "Missing or wrong signature, token or bearer token.",
    403: "Triggers are disabled: no server.trigger_token is configured.",
    404: "Unknown connector, job, run or item.",
    409: (
        "The job is already running here (the body names the run) or in another process "
        "(the message names it), or the item is settled."
    ),
    413: "Body larger than server.max_body_bytes.",
    422: "The payload does not fit the connector's mapping, or the request is invalid.",
    503: "The hub store is unavailable.",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for error codes, all with the ``{error, message}`` body."""
    return {
        code: {
            "description": _DESCRIPTIONS[code],
            "content": {"application/json": {"schema": _ERROR_SCHEMA}},
        }
        for code in codes
    }


WEBHOOK_BODY: dict[str, Any] = {
    # declared here, not in the endpoint's signature: FastAPI then has nothing to validate
    # per request (the name is checked against the config anyway)
    "parameters": [
        {
            "in": "path",
            "name": "connector",
            "required": True,
            "schema": {"title": "Connector", "type": "string"},
        }
    ],
    "requestBody": {
        "required": True,
        "description": (
            "The event, verified over its exact bytes (Standard Webhooks headers "
            "webhook-id, webhook-timestamp, webhook-signature, or the connector's HMAC header)."
        ),
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "type": {"type": "string", "example": "stakeholder.updated"},
                        "timestamp": {"type": "string", "format": "date-time"},
                        "data": {"type": "object"},
                    },
                }
            }
        },
    },
}

CONFLICT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {
                            "type": "object",
                            "required": ["take"],
                            "properties": {"take": {"enum": ["hub", "remote"]}},
                        },
                        {
                            "type": "object",
                            "required": ["values"],
                            "properties": {"values": {"type": "object"}},
                        },
                        {
                            "type": "object",
                            "required": ["link"],
                            "properties": {"link": {"type": "string"}},
                        },
                    ]
                }
            }
        },
    }
}

WEBHOOK_RESPONSES = {
    200: {"description": "A duplicate of a delivery already stored; nothing stored again."},
    **error_responses(400, 401, 404, 413, 422, 503),
}
JOB_RUN_RESPONSES = error_responses(401, 403, 404, 409)
RESOLVE_RESPONSES = error_responses(400, 401, 403, 404, 409, 413, 422)
