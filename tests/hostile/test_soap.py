"""Hostile input on the SOAP 1.1 endpoint. Every answer is well-formed XML: a response envelope,
or a fault whose faultcode is Client, VersionMismatch or MustUnderstand (a Server fault would
mean the service broke) with a reason. Only accepted publishes and subscriptions change a table."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from hypothesis import given

from .checks import Judge
from .conftest import Broker
from .strategies.publish import HttpRequest
from .strategies.soap import NS, SOAP_ENV, SoapTarget, envelopes
from .tally import hostile_settings, timeout
from .test_pull import subscribe

pytestmark = [pytest.mark.services, pytest.mark.hostile, pytest.mark.timeout(timeout())]
CLIENT_FAULTS = {"soap:Client", "soap:VersionMismatch", "soap:MustUnderstand"}


@pytest.fixture(scope="module")
def judge(broker: Broker, db: psycopg.Connection[Any]) -> Iterator[Judge]:
    with httpx.Client(base_url=broker.url, timeout=60) as client:
        yield Judge(broker, db, client)


def outcome(response: httpx.Response) -> str:
    assert response.status_code in (200, 500), (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("text/xml"), response.headers
    root = ET.fromstring(response.content)  # well-formed, whatever the input was
    assert root.tag == f"{{{SOAP_ENV}}}Envelope", response.text[:500]
    body = root.find(f"{{{SOAP_ENV}}}Body")
    assert body is not None and len(body) == 1, response.text[:500]
    if response.status_code == 200:
        assert body[0].tag.startswith(f"{{{NS}}}") and body[0].tag.endswith("Response")
        return "200"
    fault = body.find(f"{{{SOAP_ENV}}}Fault")
    assert fault is not None, response.text[:500]
    code, reason = fault.findtext("faultcode"), fault.findtext("faultstring")
    assert code in CLIENT_FAULTS, response.text[:1000]
    assert reason and reason.strip(), response.text[:500]
    kind = fault.findtext(f"detail/{{{NS}}}GatewayFault/{{{NS}}}Kind")
    return f"500 {code} {kind}"


def test_soap_refuses_hostile_envelopes_cleanly(broker: Broker, judge: Judge) -> None:
    outbox = f"{broker.gateway_schema}.outbox"
    subscriptions = f"{broker.gateway_schema}.subscriptions"
    target = SoapTarget(
        types=[broker.placed, broker.audited],
        keys=[broker.keys["orders"], broker.keys["billing"]],
        other_keys=[broker.keys["ops"]],
        subscription=subscribe(judge.client, broker, "billing"),
    )
    judge.state = broker.snapshot(judge.db)

    def may_change(response: httpx.Response, diff: dict[str, Any]) -> None:
        root = ET.fromstring(response.content)
        answer = root.find(f"{{{SOAP_ENV}}}Body")[0].tag  # type: ignore[index]
        if answer.endswith("CreatePullSubscriptionResponse"):
            assert set(diff) == {subscriptions}, diff
            (before, _), (after, _) = diff[subscriptions]
            assert after == before + 1
        else:
            assert answer.endswith(("PublishEventResponse", "PublishEventsResponse")), answer
            ids = root.findall(f".//{{{NS}}}Id")
            assert set(diff) <= {outbox, f"{broker.gateway_schema}.idempotency"}, diff
            (before, _), (after, _) = diff[outbox]
            assert after - before == len(ids), (diff, response.text)

    @given(envelopes(target))
    @hostile_settings()
    def check(request: HttpRequest) -> None:
        judge.run("soap", request, outcome, may_change)

    check()
