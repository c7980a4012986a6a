"""The REST ingress: CloudEvents over HTTP (structured, binary, batch), plain JSON publish, the
apps admin API. Thin: it parses HTTP into core calls and maps core errors to problem+json.

    POST /events                 application/cloudevents+json | application/cloudevents-batch+json
                                 | binary mode (ce-* headers, data as the body)
    POST /events/{type}          the payload as plain JSON (?key=&subject=)
    GET  /api/me                 who the key belongs to
    /api/apps...                 admin: create, list, show, rotate, revoke, grants
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bizevents.envelope import text_problem

from ..core import Gateway, GatewayError, Idempotency, IncomingEvent, Principal
from ..core.errors import ErrorKind
from ..core.incoming import (
    check_text,
    from_structured,
    invalid,
    is_json_type,
    split_attributes,
)
from ..core.store import parse_grant
from .problems import problem_response

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
DEFAULT_MAX_BODY = 1_048_576

Handler = Callable[[Request], Awaitable[Response]]


def gateway_of(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


def endpoint(handler: Callable[[Request, Principal], Awaitable[Response]]) -> Handler:
    """Authenticate, count against the app's rate, call; every core error becomes problem+json."""

    async def run(request: Request) -> Response:
        gateway = gateway_of(request)
        try:
            for name, value in (*request.path_params.items(), *request.query_params.items()):
                check_text(str(value), f"parameter {name!r}")
            principal = await gateway.authenticate(bearer(request))
            gateway.admit(principal)
            return await handler(request, principal)
        except GatewayError as exc:
            return problem_response(exc)

    run.__name__ = handler.__name__
    run.__doc__ = handler.__doc__
    return run


async def read_body(request: Request) -> bytes:
    limit: int = getattr(request.app.state, "max_body_bytes", DEFAULT_MAX_BODY)
    declared = request.headers.get("content-length")
    too_large = GatewayError(
        ErrorKind.BODY_TOO_LARGE, f"the request body is over the limit of {limit} bytes"
    )
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(body: bytes, what: str = "the request body") -> Any:
    if not body:
        raise GatewayError(ErrorKind.BAD_REQUEST, f"{what} is empty; it must be JSON")
    try:
        value = json.loads(body, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        message = str(exc) if isinstance(exc, ValueError) else "nested too deeply"
        raise GatewayError(ErrorKind.BAD_REQUEST, f"{what} is not valid JSON: {message}") from None
    # Lone surrogates (\ud800-\udfff not in a pair) decode but are not Unicode: look for them
    # only when the body has such an escape at all (paired ones, e.g. emoji, are fine).
    if _SURROGATE_ESCAPE.search(body) and _has_lone_surrogate(value):
        raise GatewayError(
            ErrorKind.BAD_REQUEST, f"{what} contains a lone UTF-16 surrogate (not valid Unicode)"
        )
    return value


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _has_lone_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if text_problem(item) is not None and "\x00" not in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def idempotency_of(request: Request, body: bytes) -> Idempotency | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    digest = hashlib.sha256()
    for part in (request.method, request.url.path, request.url.query, media_type(request)):
        digest.update(part.encode() + b"\0")
    for name, value in sorted(request.headers.items()):
        if name.startswith("ce-"):
            digest.update(f"{name}:{value}\0".encode())
    digest.update(body)
    return Idempotency(key, digest.digest())


def accepted(ids: tuple[str, ...], replayed: bool) -> JSONResponse:
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    return JSONResponse({"ids": list(ids)}, status_code=202, headers=headers)


def binary_event(request: Request, body: bytes) -> IncomingEvent:
    """Binary mode: attributes in ce-* headers (percent-decoded), the data as the body."""
    attrs = {
        name[3:]: unquote(value)
        for name, value in request.headers.items()
        if name.startswith("ce-") and len(name) > 3
    }
    if not is_json_type(request.headers.get("content-type")):
        raise GatewayError(
            ErrorKind.UNSUPPORTED_MEDIA_TYPE,
            "event data must be JSON: Content-Type application/json",
        )
    fields = split_attributes(attrs, "", required=("id", "source", "type", "specversion"))
    for name in ("id", "source", "type", "specversion"):
        if name in attrs and not attrs[name]:
            raise invalid(f"/{name}", f"header ce-{name} is empty")
    return IncomingEvent(data=parse_json(body, "the event data"), **fields)


async def publish_cloudevents(request: Request, principal: Principal) -> Response:
    """POST /events: one CloudEvent (structured or binary mode) or a batch."""
    body = await read_body(request)
    media = media_type(request)
    if media == STRUCTURED:
        events = [from_structured(parse_json(body))]
    elif media == BATCH:
        docs = parse_json(body)
        if not isinstance(docs, list):
            raise invalid("/", "a CloudEvents batch is a JSON array of events")
        events = [from_structured(doc, f"/{i}") for i, doc in enumerate(docs)]
    elif "ce-specversion" in request.headers or any(h.startswith("ce-") for h in request.headers):
        events = [binary_event(request, body)]
    elif is_json_type(media) and media:
        raise invalid(
            "/",
            "binary mode needs the ce-specversion, ce-id, ce-source and ce-type headers "
            f"(or send {STRUCTURED}, or POST the payload to /events/{{type}})",
        )
    else:
        raise GatewayError(
            ErrorKind.UNSUPPORTED_MEDIA_TYPE,
            f"Content-Type must be {STRUCTURED}, {BATCH}, or application/json with ce-* headers",
        )
    result = await gateway_of(request).publish(principal, events, idempotency_of(request, body))
    return accepted(result.ids, result.replayed)


async def publish_plain(request: Request, principal: Principal) -> Response:
    """POST /events/{type}: the payload as the body, nothing else to know."""
    body = await read_body(request)
    if not is_json_type(request.headers.get("content-type")):
        raise GatewayError(
            ErrorKind.UNSUPPORTED_MEDIA_TYPE, "the body must be JSON: Content-Type application/json"
        )
    query = request.query_params
    event = IncomingEvent(
        type=request.path_params["type"],
        data=parse_json(body),
        key=query.get("key") or None,
        subject=query.get("subject") or None,
    )
    result = await gateway_of(request).publish(principal, [event], idempotency_of(request, body))
    return accepted(result.ids, result.replayed)


async def me(request: Request, principal: Principal) -> Response:
    """GET /api/me: the app the key belongs to."""
    return JSONResponse(
        {"app": principal.app, "admin": principal.admin, "key_id": principal.key_id}
    )


# -- admin: apps and keys ------------------------------------------------------------------------
def json_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise GatewayError(ErrorKind.BAD_REQUEST, "the request body must be a JSON object")
    return value


def field_of(doc: dict[str, Any], name: str, expected: tuple[type, ...], default: Any) -> Any:
    if name not in doc:
        return default
    value = doc[name]
    if isinstance(value, str):
        check_text(value, repr(name))
    # bool is an int in Python, not in JSON: accept it only where a boolean is expected.
    if isinstance(value, bool) != (bool in expected) or not isinstance(value, expected):
        kinds = " or ".join(t.__name__ for t in expected)
        raise GatewayError(ErrorKind.BAD_REQUEST, f"{name!r} must be a {kinds}")
    return value


async def create_app(request: Request, principal: Principal) -> Response:
    gateway = gateway_of(request)
    gateway.require_admin(principal)
    doc = json_object(parse_json(await read_body(request)))
    name = field_of(doc, "name", (str,), None)
    if name is None:
        raise GatewayError(ErrorKind.BAD_REQUEST, "'name' is required")
    grants_raw = field_of(doc, "grants", (list,), [])
    if not all(isinstance(g, str) for g in grants_raw):
        raise GatewayError(ErrorKind.BAD_REQUEST, "'grants' must be a list of strings")
    grants = tuple(parse_grant(g) for g in grants_raw)
    async with gateway.connection() as conn:
        info, key = await gateway.apps.create(
            conn,
            name,
            admin=field_of(doc, "admin", (bool,), False),
            description=field_of(doc, "description", (str,), ""),
            grants=grants,
        )
    return JSONResponse({"app": info.to_json(), "key": key}, status_code=201)


async def list_apps(request: Request, principal: Principal) -> Response:
    gateway = gateway_of(request)
    gateway.require_admin(principal)
    async with gateway.connection() as conn:
        apps = await gateway.apps.list(conn)
    return JSONResponse({"apps": [a.to_json() for a in apps]})


async def show_app(request: Request, principal: Principal) -> Response:
    gateway = gateway_of(request)
    gateway.require_admin(principal)
    async with gateway.connection() as conn:
        info = await gateway.apps.show(conn, request.path_params["name"])
    return JSONResponse({"app": info.to_json()})


async def rotate_key(request: Request, principal: Principal) -> Response:
    gateway = gateway_of(request)
    gateway.require_admin(principal)
    body = await read_body(request)
    doc = json_object(parse_json(body)) if body else {}
    grace = field_of(doc, "grace_seconds", (int, float), 86400)
    if not 0 <= grace <= 365 * 86400:
        raise GatewayError(ErrorKind.BAD_REQUEST, "'grace_seconds' must be 0 to 31536000")
    async with gateway.connection() as conn:
        info, key = await gateway.apps.rotate(conn, request.path_params["name"], float(grace))
    return JSONResponse({"app": info.to_json(), "key": key})


async def revoke(request: Request, principal: Principal) -> Response:
    gateway = gateway_of(request)
    gateway.require_admin(principal)
    body = await read_body(request)
    doc = json_object(parse_json(body)) if body else {}
    key_id = field_of(doc, "key_id", (str,), None)
    async with gateway.connection() as conn:
        info = await gateway.apps.revoke(conn, request.path_params["name"], key_id)
    return JSONResponse({"app": info.to_json()})


async def add_grant(request: Request, principal: Principal) -> Response:
    gateway = gateway_of(request)
    gateway.require_admin(principal)
    doc = json_object(parse_json(await read_body(request)))
    grant = parse_grant(field_of(doc, "grant", (str,), ""))
    async with gateway.connection() as conn:
        info = await gateway.apps.grant(conn, request.path_params["name"], grant)
    return JSONResponse({"app": info.to_json()})


async def remove_grant(request: Request, principal: Principal) -> Response:
    gateway = gateway_of(request)
    gateway.require_admin(principal)
    grant = parse_grant(f"{request.path_params['action']}:{request.path_params['event_type']}")
    async with gateway.connection() as conn:
        info = await gateway.apps.ungrant(conn, request.path_params["name"], grant)
    return JSONResponse({"app": info.to_json()})


routes = [
    Route("/events", endpoint(publish_cloudevents), methods=["POST"]),
    Route("/events/{type}", endpoint(publish_plain), methods=["POST"]),
    Route("/api/me", endpoint(me), methods=["GET"]),
    Route("/api/apps", endpoint(list_apps), methods=["GET"]),
    Route("/api/apps", endpoint(create_app), methods=["POST"]),
    Route("/api/apps/{name}", endpoint(show_app), methods=["GET"]),
    Route("/api/apps/{name}/rotate", endpoint(rotate_key), methods=["POST"]),
    Route("/api/apps/{name}/revoke", endpoint(revoke), methods=["POST"]),
    Route("/api/apps/{name}/grants", endpoint(add_grant), methods=["POST"]),
    Route(
        "/api/apps/{name}/grants/{action}/{event_type}",
        endpoint(remove_grant),
        methods=["DELETE"],
    ),
]
