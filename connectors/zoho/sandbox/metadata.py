"""Metadata endpoints: ``/settings/fields``, ``/settings/modules``, ``/org``, ``/users``."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from connectors.zoho.sandbox.auth import sandbox_state
from connectors.zoho.sandbox.errors import invalid_module, required_param
from connectors.zoho.sandbox.reads import api_version
from connectors.zoho.sandbox.schema import MODULES, ORG_PREFIX, field_metadata, module_metadata

__all__ = ["router"]

router = APIRouter()


@router.get("/crm/{version}/settings/fields")
async def fields(request: Request, version: str) -> Response:
    """``GET /settings/fields?module=Contacts``."""
    api_version(version)
    name = request.query_params.get("module")
    if not name:
        raise required_param("module")
    mod = sandbox_state(request).module(name)
    return JSONResponse({"fields": field_metadata(mod)})


@router.get("/crm/{version}/settings/modules")
async def modules(request: Request, version: str) -> Response:
    """``GET /settings/modules``."""
    api_version(version)
    return JSONResponse({"modules": [module_metadata(m) for m in MODULES.values()]})


@router.get("/crm/{version}/settings/modules/{api_name}")
async def module(request: Request, version: str, api_name: str) -> Response:
    """``GET /settings/modules/{api_name}``."""
    api_version(version)
    if api_name not in MODULES:
        raise invalid_module()
    return JSONResponse({"modules": [module_metadata(MODULES[api_name])]})


@router.get("/crm/{version}/org")
async def org(request: Request, version: str) -> Response:
    """``GET /org``: the sandbox org (Enterprise, so Zoho's concurrency would be 20)."""
    api_version(version)
    state = sandbox_state(request)
    minutes = state.options.utc_offset_minutes
    if minutes == 480:
        tz_name = "Asia/Shanghai"
    elif minutes % 60 == 0:
        tz_name = f"Etc/GMT{-minutes // 60:+d}"  # POSIX sign: Etc/GMT-8 is UTC+8
    else:
        tz_name = "UTC"
    return JSONResponse(
        {
            "org": [
                {
                    "id": str(ORG_PREFIX + 20005),
                    "company_name": "crmbridge sandbox 沙盒",
                    "time_zone": tz_name,
                    "currency": "Chinese Yuan - CNY",
                    "iso_code": "CNY",
                    "currency_symbol": "¥",
                    "zgid": "808232144",
                    "primary_email": state.admin.email,
                    "type": "sandbox",
                    "country_code": "CN",
                    "license_details": {
                        "paid": True,
                        "paid_type": "enterprise",
                        "trial_type": None,
                        "users_license_purchased": 10,
                        "paid_expiry": None,
                        "trial_expiry": None,
                        "portal_users_license_purchased": 0,
                    },
                }
            ]
        }
    )


@router.get("/crm/{version}/users")
async def users(request: Request, version: str) -> Response:
    """``GET /users``: the admin and the "remote" user who makes control-API edits."""
    api_version(version)
    state = sandbox_state(request)
    data = [
        {
            "id": u.id,
            "full_name": u.name,
            "email": u.email,
            "status": "active",
            "role": {"name": "CEO", "id": str(ORG_PREFIX + 26005)},
        }
        for u in state.users.values()
    ]
    return JSONResponse(
        {
            "users": data,
            "info": {"per_page": 200, "count": len(data), "page": 1, "more_records": False},
        }
    )
