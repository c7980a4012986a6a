"""The SOAP endpoint with raw envelopes on a real PostgreSQL: the WSDL, publishing, event status,
and every kind of bad or hostile envelope answered by a SOAP fault that names the problem, with
nothing written and the service still serving."""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from typing import Any

import httpx
import pytest

from .conftest import Env
from .odata_seed import make_rows, seed

pytestmark = pytest.mark.services

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
NS = "urn:bizevents:soap:1"
XML = {"Content-Type": "text/xml; charset=utf-8"}


def envelope(operation: str, env_ns: str = SOAP) -> str:
    return (
        f'<?xml version="1.0"?><s:Envelope xmlns:s="{env_ns}" xmlns:b="{NS}">'
        f"<s:Body>{operation}</s:Body></s:Envelope>"
    )


def publish_op(env: Env, order_id: str = "o-1", amount: Any = 1, extra: str = "") -> str:
    payload = json.dumps({"order_id": order_id, "amount": amount})
    return (
        f"<b:PublishEvent><b:Type>{env.shop.placed}</b:Type>"
        f"<b:Payload>{payload}</b:Payload>{extra}</b:PublishEvent>"
    )


async def call(env: Env, body: str | bytes, app: str = "orders", **headers: str) -> httpx.Response:
    return await env.http.post("/soap", content=body, headers={**XML, **env.auth(app), **headers})


def result(response: httpx.Response, name: str) -> ET.Element:
    assert response.status_code == 200, response.text
    found = ET.fromstring(response.content).find(f"{{{SOAP}}}Body/{{{NS}}}{name}")
    assert found is not None, response.text
    return found


def fault_of(response: httpx.Response, code: str = "soap:Client") -> dict[str, Any]:
    assert response.status_code == 500, response.text
    assert response.headers["content-type"].startswith("text/xml")
    node = ET.fromstring(response.content).find(f"{{{SOAP}}}Body/{{{SOAP}}}Fault")
    assert node is not None, response.text
    assert node.findtext("faultcode") == code, response.text
    detail = node.find(f"detail/{{{NS}}}GatewayFault")
    assert detail is not None, response.text
    faultstring = node.findtext("faultstring") or ""
    assert faultstring and detail.findtext(f"{{{NS}}}Message") == faultstring
    return {
        "string": faultstring,
        "kind": detail.findtext(f"{{{NS}}}Kind"),
        "pointers": [p.findtext(f"{{{NS}}}Pointer") for p in detail.iter(f"{{{NS}}}Problem")],
    }


async def outbox(env: Env) -> int:
    async with env.gateway.connection() as conn:
        return int(await conn.fetchval(f"SELECT count(*) FROM {env.schema}.outbox"))


async def test_wsdl_is_served_without_a_key(env: Env) -> None:
    response = await env.http.get("/soap?wsdl")
    assert response.status_code == 200
    root = ET.fromstring(response.content)
    wsdl = "{http://schemas.xmlsoap.org/wsdl/}"
    ops = {o.get("name") for o in root.iter(f"{wsdl}operation")}
    assert ops == {"PublishEvent", "PublishEvents", "GetEventStatus", "CreatePullSubscription",
                   "FetchEvents", "CommitCursor"}  # fmt: skip
    address = root.find(".//{http://schemas.xmlsoap.org/wsdl/soap/}address")
    assert address is not None and address.get("location") == "http://gateway/soap"


async def test_publish_and_status(env: Env) -> None:
    one = result(await call(env, envelope(publish_op(env))), "PublishEventResponse")
    event_id = one.findtext(f"{{{NS}}}Id")
    assert event_id and uuid.UUID(event_id)
    batch = "".join(
        f"<b:Event><b:Type>{env.shop.placed}</b:Type>"
        f"<b:Payload>{json.dumps({'order_id': f'o-b{i}', 'amount': i})}</b:Payload>"
        f"<b:Subject>order/{i}</b:Subject></b:Event>"
        for i in range(3)
    )
    many = result(
        await call(env, envelope(f"<b:PublishEvents>{batch}</b:PublishEvents>")),
        "PublishEventsResponse",
    )
    assert len(many.findall(f"{{{NS}}}Id")) == 3
    assert await outbox(env) == 4

    rows = make_rows(env, placed=1, audited=0)
    await seed(env, rows)

    async def status(event_id: str) -> str | None:
        op = f"<b:GetEventStatus><b:Id>{event_id}</b:Id></b:GetEventStatus>"
        found = result(await call(env, envelope(op)), "GetEventStatusResponse")
        return found.findtext(f"{{{NS}}}Status")

    assert await status(event_id) == "pending"
    assert await status(rows[0].id) == "relayed"
    assert await status(str(uuid.uuid4())) == "unknown"


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>&lol4;</s:Body>
</s:Envelope>"""

XXE = """<?xml version="1.0"?>
<!DOCTYPE e [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:b="urn:bizevents:soap:1">
<s:Body><b:PublishEvent><b:Type>&xxe;</b:Type><b:Payload>{}</b:Payload></b:PublishEvent>
</s:Body></s:Envelope>"""


async def test_hostile_and_bad_envelopes_are_faults_and_write_nothing(env: Env) -> None:
    placed = env.shop.placed
    deep = "<b:Payload>" + "<x>" * 40 + "</x>" * 40 + "</b:Payload>"
    cases: list[tuple[str | bytes, str, str, str]] = [
        (XXE, "soap:Client", "bad-request", "DTD"),
        (BILLION_LAUGHS, "soap:Client", "bad-request", "DTD"),
        ("<s:Envelope", "soap:Client", "bad-request", "well-formed"),
        (b"\xff\xfe<x/>", "soap:Client", "bad-request", "well-formed"),
        # An encoding Python does not know was a 500 (found by tests/hostile).
        (b'<?xml version="1.0" encoding="x-unknown"?><x/>', "soap:Client", "bad-request",
         "unknown encoding"),
        (envelope(f"<b:PublishEvent><b:Type>{placed}</b:Type>{deep}</b:PublishEvent>"),
         "soap:Client", "bad-request", "deeper"),
        (envelope(publish_op(env), "http://example.com/not-soap"), "soap:VersionMismatch",
         "bad-request", "Envelope"),
        (envelope(publish_op(env), "http://www.w3.org/2003/05/soap-envelope"),
         "soap:VersionMismatch", "bad-request", "SOAP 1.2"),
        (envelope(publish_op(env).replace("b:", "w:").replace("<w:PublishEvent>",
                  '<w:PublishEvent xmlns:w="urn:wrong">')),
         "soap:Client", "bad-request", "unknown operation"),
        (envelope("<b:Explode/>"), "soap:Client", "bad-request", "unknown operation"),
        (envelope(""), "soap:Client", "bad-request", "exactly one"),
        (envelope(f"<b:PublishEvent><b:Type>{placed}</b:Type></b:PublishEvent>"),
         "soap:Client", "bad-request", "Payload is required"),
        (envelope("<b:PublishEvent><b:Payload>{}</b:Payload></b:PublishEvent>"),
         "soap:Client", "bad-request", "Type is required"),
        (envelope(publish_op(env, extra="<b:Color>red</b:Color>")), "soap:Client",
         "bad-request", "unexpected element"),
        (envelope(publish_op(env, extra="<Key>k</Key>")), "soap:Client", "bad-request",
         "not in namespace"),
        (envelope(f"<b:PublishEvent><b:Type>{placed}</b:Type><b:Payload>not json"
                  "</b:Payload></b:PublishEvent>"), "soap:Client", "bad-request", "JSON"),
        (envelope(publish_op(env, amount="lots")), "soap:Client", "payload-invalid", ""),
        # The key comes from order_id; PostgreSQL cannot store NUL in text: this was a 500.
        (envelope(publish_op(env, order_id="a\u0000b")), "soap:Client", "payload-invalid",
         "NUL"),
        (envelope(publish_op(env, extra="<b:Id>not-a-uuid</b:Id>")), "soap:Client",
         "invalid-cloudevent", ""),
        (envelope("<b:PublishEvents></b:PublishEvents>"), "soap:Client", "bad-request",
         "at least one"),
        (envelope("<b:GetEventStatus><b:Id>1 OR 1=1</b:Id></b:GetEventStatus>"),
         "soap:Client", "bad-request", "UUID"),
        (envelope("<b:FetchEvents><b:SubscriptionId>x</b:SubscriptionId><b:Max>many</b:Max>"
                  "</b:FetchEvents>"), "soap:Client", "bad-request", "whole number"),
        (envelope("<b:CommitCursor><b:SubscriptionId>nope</b:SubscriptionId>"
                  "<b:Batch>t</b:Batch></b:CommitCursor>"), "soap:Client", "not-found", ""),
        (envelope(publish_op(env)).replace(
            "<s:Body>", '<s:Header><b:Tx s:mustUnderstand="1">1</b:Tx></s:Header><s:Body>'),
         "soap:MustUnderstand", "bad-request", "not understood"),
        (b"<x>" + b"a" * 1_100_000 + b"</x>", "soap:Client", "body-too-large", "limit"),
    ]  # fmt: skip
    for body, code, kind, fragment in cases:
        fault = fault_of(await call(env, body), code)
        assert fault["kind"] == kind, (body[:200], fault)
        assert fragment.lower() in fault["string"].lower(), (body[:200], fault)
        assert "root:" not in fault["string"]  # nothing of /etc/passwd
    batch = "".join(
        f"<b:Event><b:Type>{placed}</b:Type><b:Payload>{json.dumps({'order_id': 'x'})}"
        "</b:Payload></b:Event>"
        for _ in range(2)
    )
    fault = fault_of(await call(env, envelope(f"<b:PublishEvents>{batch}</b:PublishEvents>")))
    assert fault["kind"] == "payload-invalid" and "/1/data" in "".join(fault["pointers"])
    fault = fault_of(await call(env, envelope(publish_op(env)), "billing"))
    assert fault["kind"] == "forbidden"
    unauthenticated = await env.http.post("/soap", content=envelope(publish_op(env)), headers=XML)
    assert fault_of(unauthenticated)["kind"] == "unauthenticated"
    wrong_type = await call(env, envelope(publish_op(env)), **{"Content-Type": "application/json"})
    assert fault_of(wrong_type)["kind"] == "unsupported-media-type"
    assert await outbox(env) == 0
    ok = await call(env, envelope(publish_op(env)))  # still serving
    assert ok.status_code == 200 and await outbox(env) == 1
