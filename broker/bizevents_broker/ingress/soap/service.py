"""SOAP 1.1 (document/literal) over the gateway core, for enterprise apps that speak only SOAP.

    GET  /soap?wsdl     the WSDL
    POST /soap          PublishEvent, PublishEvents, GetEventStatus, CreatePullSubscription,
                        FetchEvents, CommitCursor

Authentication as for OData: `Authorization: Bearer <key>` or HTTP Basic with the key as the
password. Every error is a SOAP fault (HTTP 500, as SOAP 1.1 over HTTP says) whose faultcode is
Client or Server from the core's error table, with a `GatewayFault` detail naming the problem.
"""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from typing import Any
from xml.etree.ElementTree import Element, SubElement

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...core import Gateway, GatewayError, IncomingEvent, Principal
from ...core.errors import ErrorKind
from ...core.incoming import check_id
from ..odata.service import api_key
from ..rest import idempotency_of, parse_json, read_body
from .wsdl import NS, OPERATIONS, SOAP_ENV, wsdl
from .xmlsafe import UnsafeXml, parse

XML_MEDIA = "text/xml; charset=utf-8"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
ET.register_namespace("soap", SOAP_ENV)
ET.register_namespace("b", NS)


class SoapFault(Exception):
    """A fault that is not one of the core's kinds (VersionMismatch, MustUnderstand)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def q(name: str) -> str:
    return f"{{{NS}}}{name}"


def envelope(body_child: Element) -> Response:
    env = Element(f"{{{SOAP_ENV}}}Envelope")
    SubElement(env, f"{{{SOAP_ENV}}}Body").append(body_child)
    return Response(
        ET.tostring(env, encoding="utf-8", xml_declaration=True), 200, media_type=XML_MEDIA
    )


def fault(code: str, message: str, kind: str, problems: list[tuple[str, str]]) -> Response:
    node = Element(f"{{{SOAP_ENV}}}Fault")
    # faultcode and faultstring are unqualified, as SOAP 1.1 defines them.
    SubElement(node, "faultcode").text = f"soap:{code}"
    SubElement(node, "faultstring").text = message
    detail = SubElement(SubElement(node, "detail"), q("GatewayFault"))
    SubElement(detail, q("Kind")).text = kind
    SubElement(detail, q("Message")).text = message
    for pointer, text in problems:
        problem = SubElement(detail, q("Problem"))
        SubElement(problem, q("Pointer")).text = pointer
        SubElement(problem, q("Message")).text = text
    response = envelope(node)
    response.status_code = 500
    return response


def core_fault(exc: GatewayError) -> Response:
    response = fault(
        "Client" if exc.spec.client_fault else "Server",
        exc.detail,
        exc.kind.value,
        [(p.pointer, p.message) for p in exc.problems],
    )
    if exc.kind is ErrorKind.UNAUTHENTICATED:
        response.headers["WWW-Authenticate"] = 'Basic realm="bizevents", charset="UTF-8"'
    if exc.retry_after is not None:
        response.headers["Retry-After"] = str(max(1, int(exc.retry_after + 0.999)))
    return response


def client_error(message: str) -> GatewayError:
    return GatewayError(ErrorKind.BAD_REQUEST, message)


# -- reading the request -------------------------------------------------------------------------
class Fields:
    """The children of one operation (or Event) element, checked: our namespace, known names."""

    def __init__(self, element: Element, allowed: tuple[str, ...], where: str) -> None:
        self.where = where
        self.values: dict[str, list[Element]] = {}
        for child in element:
            if not isinstance(child.tag, str):
                continue
            namespace, _, local = child.tag[1:].partition("}")
            if not child.tag.startswith("{") or namespace != NS:
                raise client_error(f"{where}: element {child.tag!r} is not in namespace {NS}")
            if local not in allowed:
                raise client_error(
                    f"{where}: unexpected element {local!r} (expected {', '.join(allowed)})"
                )
            self.values.setdefault(local, []).append(child)

    def all(self, name: str) -> list[Element]:
        return self.values.get(name, [])

    def text(self, name: str, required: bool = False) -> str | None:
        found = self.values.get(name, [])
        if len(found) > 1:
            raise client_error(f"{self.where}: {name} is given more than once")
        if not found:
            if required:
                raise client_error(f"{self.where}: {name} is required")
            return None
        if len(found[0]):
            raise client_error(f"{self.where}: {name} must be text, not elements")
        return found[0].text or ""

    def number(self, name: str, default: float, whole: bool) -> float:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = int(raw) if whole else float(raw)
        except ValueError:
            kind = "a whole number" if whole else "a number"
            raise client_error(f"{self.where}: {name} must be {kind}") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise client_error(f"{self.where}: {name} must be a number")
        return value


def operation_of(root: Element) -> Element:
    if root.tag == f"{{{SOAP12_ENV}}}Envelope":
        raise SoapFault("VersionMismatch", "this is a SOAP 1.1 service; SOAP 1.2 is not spoken")
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise SoapFault(
            "VersionMismatch", f"the root must be Envelope in namespace {SOAP_ENV}, not {root.tag}"
        )
    header = root.find(f"{{{SOAP_ENV}}}Header")
    if header is not None:
        for block in header:
            if block.get(f"{{{SOAP_ENV}}}mustUnderstand") in ("1", "true"):
                raise SoapFault("MustUnderstand", f"header {block.tag} is not understood here")
    body = root.find(f"{{{SOAP_ENV}}}Body")
    if body is None:
        raise client_error("the envelope has no Body")
    children = [c for c in body if isinstance(c.tag, str)]
    if len(children) != 1:
        raise client_error("the Body must hold exactly one operation element")
    operation = children[0]
    namespace, _, local = operation.tag[1:].partition("}")
    if namespace != NS or local not in OPERATIONS:
        raise client_error(
            f"unknown operation {operation.tag!r}; the operations are "
            f"{', '.join(OPERATIONS)} in namespace {NS}"
        )
    return operation


def event_of(element: Element, where: str, pointer: str) -> IncomingEvent:
    fields = Fields(element, ("Type", "Payload", "Key", "Subject", "Id"), where)
    payload = fields.text("Payload", required=True) or ""
    event_id = fields.text("Id")
    return IncomingEvent(
        type=fields.text("Type", required=True) or "",
        data=parse_json(payload.encode(), f"{where}: Payload"),
        key=fields.text("Key") or None,
        subject=fields.text("Subject") or None,
        id=check_id(event_id, f"{pointer}/id") if event_id else None,
        pointer=pointer,
    )


# -- operations ---------------------------------------------------------------------------------
Operation = Callable[[Request, Principal, Element, bytes], Awaitable[Element]]


def gateway_of(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


async def publish_event(request: Request, principal: Principal, op: Element, body: bytes
                        ) -> Element:  # fmt: skip
    event = event_of(op, "PublishEvent", "")
    result = await gateway_of(request).publish(principal, [event], idempotency_of(request, body))
    answer = Element(q("PublishEventResponse"))
    SubElement(answer, q("Id")).text = result.ids[0]
    return answer


async def publish_events(request: Request, principal: Principal, op: Element, body: bytes
                         ) -> Element:  # fmt: skip
    items = Fields(op, ("Event",), "PublishEvents").all("Event")
    if not items:
        raise client_error("PublishEvents: at least one Event is required")
    limit = gateway_of(request).limits.max_batch
    if len(items) > limit:
        raise GatewayError(
            ErrorKind.BATCH_TOO_LARGE, f"{len(items)} events in one request; the limit is {limit}"
        )
    events = [event_of(e, f"PublishEvents: Event {i + 1}", f"/{i}") for i, e in enumerate(items)]
    result = await gateway_of(request).publish(principal, events, idempotency_of(request, body))
    answer = Element(q("PublishEventsResponse"))
    for event_id in result.ids:
        SubElement(answer, q("Id")).text = event_id
    return answer


async def get_event_status(request: Request, principal: Principal, op: Element, body: bytes
                           ) -> Element:  # fmt: skip
    raw = Fields(op, ("Id",), "GetEventStatus").text("Id", required=True) or ""
    try:
        event_id = uuid.UUID(raw)
    except ValueError:
        raise client_error("GetEventStatus: Id is not an event id (a UUID)") from None
    gateway = gateway_of(request)
    s = gateway.schema
    async with gateway.connection() as conn:
        if await conn.fetchval(f"SELECT 1 FROM {s}.outbox WHERE event_id = $1", event_id):
            status = "pending"
        elif await conn.fetchval(f"SELECT 1 FROM {s}.event_log WHERE id = $1", str(event_id)):
            status = "relayed"
        else:
            status = "unknown"
    answer = Element(q("GetEventStatusResponse"))
    SubElement(answer, q("Status")).text = status
    return answer


async def create_pull_subscription(
    request: Request, principal: Principal, op: Element, body: bytes
) -> Element:
    fields = Fields(op, ("EventType", "Start"), "CreatePullSubscription")
    types = [e.text or "" for e in fields.all("EventType")]
    if not types:
        raise client_error("CreatePullSubscription: at least one EventType is required")
    gateway = gateway_of(request)
    subscription = await gateway.create_subscription(
        principal,
        "pull",
        types,
        fields.text("Start") or "latest",
        {"commit_timeout": gateway.limits.commit_timeout},
    )
    answer = Element(q("CreatePullSubscriptionResponse"))
    SubElement(answer, q("SubscriptionId")).text = subscription.id
    return answer


async def fetch_events(request: Request, principal: Principal, op: Element, body: bytes
                       ) -> Element:  # fmt: skip
    fields = Fields(op, ("SubscriptionId", "Session", "Max", "WaitSeconds"), "FetchEvents")
    fetched = await gateway_of(request).fetch(
        principal,
        fields.text("SubscriptionId", required=True) or "",
        fields.text("Session") or "default",
        int(fields.number("Max", 100, whole=True)),
        fields.number("WaitSeconds", 0.0, whole=False),
    )
    answer = Element(q("FetchEventsResponse"))
    if fetched.token is not None:
        SubElement(answer, q("Batch")).text = fetched.token
    for event in fetched.events:
        item = SubElement(answer, q("Event"))
        for name, attribute in (("Id", "id"), ("Type", "type"), ("Source", "source"),
                                ("Time", "time"), ("Subject", "subject"),
                                ("Key", "partitionkey")):  # fmt: skip
            if event.get(attribute) is not None:
                SubElement(item, q(name)).text = str(event[attribute])
        payload: Any = event.get("data", event.get("data_base64"))
        SubElement(item, q("Payload")).text = json.dumps(payload, separators=(",", ":"))
    return answer


async def commit_cursor(request: Request, principal: Principal, op: Element, body: bytes
                        ) -> Element:  # fmt: skip
    fields = Fields(op, ("SubscriptionId", "Batch", "Session"), "CommitCursor")
    await gateway_of(request).commit(
        principal,
        fields.text("SubscriptionId", required=True) or "",
        fields.text("Session") or "default",
        fields.text("Batch", required=True) or "",
    )
    answer = Element(q("CommitCursorResponse"))
    SubElement(answer, q("Committed")).text = "true"
    return answer


DISPATCH: dict[str, Operation] = {
    "PublishEvent": publish_event,
    "PublishEvents": publish_events,
    "GetEventStatus": get_event_status,
    "CreatePullSubscription": create_pull_subscription,
    "FetchEvents": fetch_events,
    "CommitCursor": commit_cursor,
}


async def endpoint(request: Request) -> Response:
    gateway = gateway_of(request)
    try:
        principal = await gateway.authenticate(api_key(request))
        gateway.admit(principal)
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media == "application/soap+xml":
            raise SoapFault("VersionMismatch", "this is a SOAP 1.1 service (Content-Type text/xml)")
        if media not in ("text/xml", "application/xml"):
            raise GatewayError(
                ErrorKind.UNSUPPORTED_MEDIA_TYPE, "a SOAP 1.1 request is Content-Type text/xml"
            )
        body = await read_body(request)
        try:
            root = parse(body)
        except UnsafeXml as exc:
            raise client_error(str(exc)) from None
        operation = operation_of(root)
        local = operation.tag.rpartition("}")[2]
        return envelope(await DISPATCH[local](request, principal, operation, body))
    except GatewayError as exc:
        return core_fault(exc)
    except SoapFault as exc:
        return fault(exc.code, exc.message, "bad-request", [])


async def describe(request: Request) -> Response:
    """GET /soap?wsdl (no key needed: the WSDL is the public contract of the service)."""
    if "wsdl" not in {k.lower() for k in request.query_params}:
        return Response("GET /soap?wsdl for the WSDL; POST SOAP 1.1 envelopes here\n", 200,
                        media_type="text/plain")  # fmt: skip
    address = str(request.url.replace(query=""))
    return Response(wsdl(address), media_type="text/xml; charset=utf-8")


routes = [
    Route("/soap", describe, methods=["GET"]),
    Route("/soap", endpoint, methods=["POST"]),
]
