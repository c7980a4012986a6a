"""Pull subscriptions over HTTP (consume without a Kafka client), in the spirit of Nakadi:

POST   /subscriptions                  {"event_types": [...], "start": "earliest", ...}
GET    /subscriptions[/{id}]           the app's subscriptions
DELETE /subscriptions/{id}
GET    /subscriptions/{id}/events      ?session=&max=&wait=   -> {"batch", "events"}
POST   /subscriptions/{id}/commit      {"batch": token, "session": name}
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..core import GatewayError, Principal
from ..core.errors import ErrorKind
from .rest import endpoint, field_of, gateway_of, json_object, parse_json, read_body


def _number(request: Request, name: str, default: float) -> float:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise GatewayError(ErrorKind.BAD_REQUEST, f"{name} must be a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise GatewayError(ErrorKind.BAD_REQUEST, f"{name} must be a number")
    return value


async def create_subscription(request: Request, principal: Principal) -> Response:
    gateway = gateway_of(request)
    doc = json_object(parse_json(await read_body(request)))
    types = field_of(doc, "event_types", (list,), None)
    if types is None or not all(isinstance(t, str) for t in types):
        raise GatewayError(ErrorKind.BAD_REQUEST, "'event_types' must be a list of event types")
    start = field_of(doc, "start", (str,), "latest")
    timeout = field_of(doc, "commit_timeout", (int, float), gateway.limits.commit_timeout)
    if not 1 <= timeout <= 3600:
        raise GatewayError(ErrorKind.BAD_REQUEST, "'commit_timeout' must be 1 to 3600 seconds")
    subscription = await gateway.create_subscription(
        principal, "pull", types, start, {"commit_timeout": float(timeout)}
    )
    return JSONResponse({"subscription": subscription.to_json()}, status_code=201)


async def list_subscriptions(request: Request, principal: Principal) -> Response:
    found = await gateway_of(request).list_subscriptions(principal, "pull")
    return JSONResponse({"subscriptions": [s.to_json() for s in found]})


async def show_subscription(request: Request, principal: Principal) -> Response:
    found = await gateway_of(request).subscription(principal, request.path_params["id"], "pull")
    return JSONResponse({"subscription": found.to_json()})


async def delete_subscription(request: Request, principal: Principal) -> Response:
    gateway = gateway_of(request)
    await gateway.subscription(principal, request.path_params["id"], "pull")
    await gateway.delete_subscription(principal, request.path_params["id"])
    return Response(status_code=204)


async def fetch(request: Request, principal: Principal) -> Response:
    gateway = gateway_of(request)
    maximum = _number(request, "max", 100)
    if maximum != int(maximum):
        raise GatewayError(ErrorKind.BAD_REQUEST, "max must be a whole number")
    fetched = await gateway.fetch(
        principal,
        request.path_params["id"],
        request.query_params.get("session", "default"),
        int(maximum),
        _number(request, "wait", 0),
    )
    body: dict[str, Any] = {"batch": fetched.token, "events": fetched.events}
    return JSONResponse(body)


async def commit(request: Request, principal: Principal) -> Response:
    doc = json_object(parse_json(await read_body(request)))
    token = field_of(doc, "batch", (str,), None)
    if not token:
        raise GatewayError(
            ErrorKind.BAD_REQUEST, "'batch' (the token of the fetched batch) is required"
        )
    session = field_of(doc, "session", (str,), "default")
    await gateway_of(request).commit(principal, request.path_params["id"], session, token)
    return Response(status_code=204)


routes = [
    Route("/subscriptions", endpoint(list_subscriptions), methods=["GET"]),
    Route("/subscriptions", endpoint(create_subscription), methods=["POST"]),
    Route("/subscriptions/{id}", endpoint(show_subscription), methods=["GET"]),
    Route("/subscriptions/{id}", endpoint(delete_subscription), methods=["DELETE"]),
    Route("/subscriptions/{id}/events", endpoint(fetch), methods=["GET"]),
    Route("/subscriptions/{id}/commit", endpoint(commit), methods=["POST"]),
]
