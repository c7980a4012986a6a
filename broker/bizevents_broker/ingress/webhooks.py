"""Webhook subscriptions over HTTP (push, signed per Standard Webhooks):

POST   /webhooks                      {"event_types", "url", "filters", "start", ...}
GET    /webhooks[/{id}]
DELETE /webhooks/{id}
POST   /webhooks/{id}/rotate-secret   {"grace_seconds": 86400}
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..core import GatewayError, Principal
from ..core.errors import ErrorKind
from .rest import endpoint, field_of, gateway_of, json_object, parse_json, read_body


async def create_webhook(request: Request, principal: Principal) -> Response:
    doc = json_object(parse_json(await read_body(request)))
    types = field_of(doc, "event_types", (list,), None)
    if types is None or not all(isinstance(t, str) for t in types):
        raise GatewayError(ErrorKind.BAD_REQUEST, "'event_types' must be a list of event types")
    subscription, secret = await gateway_of(request).create_webhook(
        principal,
        types,
        field_of(doc, "url", (str,), None),
        filters=field_of(doc, "filters", (dict,), None),
        start=field_of(doc, "start", (str,), "latest"),
        dead_letter_4xx=field_of(doc, "dead_letter_4xx", (bool,), True),
    )
    return JSONResponse({"webhook": subscription.to_json(), "secret": secret}, status_code=201)


async def list_webhooks(request: Request, principal: Principal) -> Response:
    found = await gateway_of(request).list_subscriptions(principal, "webhook")
    return JSONResponse({"webhooks": [s.to_json() for s in found]})


async def show_webhook(request: Request, principal: Principal) -> Response:
    found = await gateway_of(request).subscription(principal, request.path_params["id"], "webhook")
    return JSONResponse({"webhook": found.to_json()})


async def delete_webhook(request: Request, principal: Principal) -> Response:
    await gateway_of(request).delete_subscription(principal, request.path_params["id"], "webhook")
    return Response(status_code=204)


async def rotate_secret(request: Request, principal: Principal) -> Response:
    body = await read_body(request)
    doc = json_object(parse_json(body)) if body else {}
    grace = field_of(doc, "grace_seconds", (int, float), 86400)
    if not 0 <= grace <= 30 * 86400:
        raise GatewayError(ErrorKind.BAD_REQUEST, "'grace_seconds' must be 0 to 2592000")
    subscription, secret = await gateway_of(request).rotate_webhook_secret(
        principal, request.path_params["id"], float(grace)
    )
    return JSONResponse({"webhook": subscription.to_json(), "secret": secret})


routes = [
    Route("/webhooks", endpoint(list_webhooks), methods=["GET"]),
    Route("/webhooks", endpoint(create_webhook), methods=["POST"]),
    Route("/webhooks/{id}", endpoint(show_webhook), methods=["GET"]),
    Route("/webhooks/{id}", endpoint(delete_webhook), methods=["DELETE"]),
    Route("/webhooks/{id}/rotate-secret", endpoint(rotate_secret), methods=["POST"]),
]
