"""The registry's HTTP API (JSON): list, get, register, deprecate, check.

Errors are JSON too: {"error": ..., "problems": [{against, pointer, rule, message}]}, with 404 for
unknown event types or versions, 409 for an incompatible change, 422 for an invalid contract.
"""

from __future__ import annotations

import hmac
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bizevents.contracts import ContractSet, load_contract_texts
from bizevents.contracts.registry import Registry, VersionNotFoundError, problem_json
from bizevents.errors import (
    ContractError,
    IncompatibleChangeError,
    ProblemsError,
    UnknownEventTypeError,
)

from .core import Gateway, GatewayError
from .settings import BrokerSettings

PREFIX = "/api/registry"


class HTTPProblem(Exception):
    def __init__(self, status: int, error: str, problems: list[dict[str, str]] | None = None):
        self.status, self.error, self.problems = status, error, problems or []


def _registry(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


def _version(raw: str) -> int | None:
    if raw == "latest":
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= 2**31 - 1:
        raise HTTPProblem(400, f"version must be a positive integer or 'latest', not {raw!r}")
    return int(raw)


async def _authorize(request: Request) -> None:
    """Writes need the admin token or an API key of an app with the admin role. Without an admin
    token they are refused, unless BIZEVENTS_REGISTRY_OPEN_WRITES says the registry is open (local
    development): an unauthenticated POST must not deprecate an event in production."""
    settings: BrokerSettings = request.app.state.settings
    given = request.headers.get("authorization", "")
    if settings.admin_token is None:
        if settings.registry_open_writes:
            return
    else:
        expected = f"Bearer {settings.admin_token.get_secret_value()}".encode()
        if hmac.compare_digest(given.encode(), expected):
            return
    gateway: Gateway | None = getattr(request.app.state, "gateway", None)
    scheme, _, key = given.partition(" ")
    if gateway is not None and scheme.lower() == "bearer" and key:
        try:
            principal = await gateway.authenticate(key.strip())
        except GatewayError:
            pass
        else:
            if principal.admin:
                return
            raise HTTPProblem(403, "registering and deprecating need the admin role")
    if settings.admin_token is None:
        raise HTTPProblem(
            403,
            "registry writes are off: the broker has no BIZEVENTS_ADMIN_TOKEN (set one, or "
            "BIZEVENTS_REGISTRY_OPEN_WRITES=1 on a development broker)",
        )
    raise HTTPProblem(401, "registering and deprecating need the broker's admin token")


def _problem_response(exc: Exception) -> JSONResponse:
    if isinstance(exc, HTTPProblem):
        return JSONResponse({"error": exc.error, "problems": exc.problems}, exc.status)
    status = 500
    if isinstance(exc, UnknownEventTypeError | VersionNotFoundError):
        status = 404
    elif isinstance(exc, IncompatibleChangeError):
        status = 409
    elif isinstance(exc, ContractError):
        status = 422
    problems = [problem_json(p) for p in exc.problems] if isinstance(exc, ProblemsError) else []
    summary = exc.summary if isinstance(exc, ProblemsError) else str(exc)
    return JSONResponse({"error": summary, "problems": problems}, status)


async def list_event_types(request: Request) -> JSONResponse:
    latest = await _registry(request).event_types()
    return JSONResponse(
        {
            "event_types": [
                {
                    "event_type": v.event_type,
                    "service": v.service,
                    "latest_version": v.version,
                    "compatibility": v.compatibility.value,
                    "deprecated": v.deprecated,
                }
                for v in latest
            ]
        }
    )


async def list_versions(request: Request) -> JSONResponse:
    event_type = request.path_params["event_type"]
    versions = await _registry(request).versions(event_type)
    return JSONResponse(
        {"event_type": event_type, "versions": [v.to_json(with_contract=False) for v in versions]}
    )


async def get_version(request: Request) -> JSONResponse:
    p = request.path_params
    found = await _registry(request).get(p["event_type"], _version(p["version"]))
    return JSONResponse(found.to_json())


async def get_schema(request: Request) -> JSONResponse:
    p = request.path_params
    found = await _registry(request).get(p["event_type"], _version(p["version"]))
    return JSONResponse(found.schema, media_type="application/schema+json")


async def _posted_contracts(request: Request) -> ContractSet:
    settings: BrokerSettings = request.app.state.settings
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > settings.max_document_bytes:
        raise HTTPProblem(413, f"document larger than {settings.max_document_bytes} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > settings.max_document_bytes:
            raise HTTPProblem(413, f"document larger than {settings.max_document_bytes} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPProblem(400, "the document must be UTF-8 text (AsyncAPI YAML or JSON)") from exc
    # One AsyncAPI document per request (YAML or JSON, JSON being YAML); parsing is CPU work.
    return await run_in_threadpool(load_contract_texts, {"posted.yaml": text})


async def register(request: Request) -> JSONResponse:
    """POST an AsyncAPI document; `?dry_run=true` only checks. 201 when a version was created."""
    await _authorize(request)
    contracts = await _posted_contracts(request)
    registry = _registry(request)
    if request.query_params.get("dry_run", "").lower() in ("1", "true", "yes"):
        plan = await registry.check(contracts)
        return JSONResponse(plan.to_json(), 200 if not plan.problems else 409)
    registrations = await registry.register(contracts)
    gateway: Gateway | None = getattr(request.app.state, "gateway", None)
    if gateway is not None:
        gateway.contracts.invalidate()  # publishers see the new version at once
    created = any(r.created for r in registrations)
    return JSONResponse(
        {"registrations": [r.to_json() for r in registrations]}, 201 if created else 200
    )


async def deprecate(request: Request) -> JSONResponse:
    """POST .../deprecate (one version, or every version of the type); body {"reason": ...}.
    DELETE .../deprecate takes the deprecation back."""
    await _authorize(request)
    p = request.path_params
    version = _version(p["version"]) if "version" in p else None
    reason = ""
    if await request.body():
        try:
            data: Any = await request.json()
        except ValueError as exc:
            raise HTTPProblem(400, 'the body must be JSON like {"reason": "..."}') from exc
        if not isinstance(data, dict) or not isinstance(data.get("reason", ""), str):
            raise HTTPProblem(400, 'the body must be JSON like {"reason": "..."}')
        reason = data.get("reason", "")
    if version is None and p.get("version") == "latest":
        version = (await _registry(request).get(p["event_type"])).version
    if request.method == "DELETE":  # the deprecation was a mistake, or the plan changed
        changed = await _registry(request).undeprecate(p["event_type"], version)
        return JSONResponse({"undeprecated": [v.to_json(with_contract=False) for v in changed]})
    changed = await _registry(request).deprecate(p["event_type"], version, reason)
    return JSONResponse({"deprecated": [v.to_json(with_contract=False) for v in changed]})


def _guarded(endpoint: Any) -> Any:
    async def handle(request: Request) -> JSONResponse:
        try:
            response: JSONResponse = await endpoint(request)
            return response
        except (HTTPProblem, ProblemsError, UnknownEventTypeError, VersionNotFoundError) as exc:
            return _problem_response(exc)

    handle.__name__ = endpoint.__name__
    handle.__doc__ = endpoint.__doc__
    return handle


_TYPE = PREFIX + "/event-types/{event_type}"
routes = [
    Route(PREFIX + "/event-types", _guarded(list_event_types)),
    Route(_TYPE + "/versions", _guarded(list_versions)),
    Route(_TYPE + "/versions/{version}", _guarded(get_version)),
    Route(_TYPE + "/versions/{version}/schema", _guarded(get_schema)),
    Route(_TYPE + "/versions/{version}/deprecate", _guarded(deprecate), methods=["POST", "DELETE"]),
    Route(_TYPE + "/deprecate", _guarded(deprecate), methods=["POST", "DELETE"]),
    Route(PREFIX + "/contracts", _guarded(register), methods=["POST"]),
]
