"""zeep, given nothing but the WSDL URL, calls every operation of the served SOAP endpoint:
publish one and a batch, status, a pull subscription fetched and committed (through the real
relay and Kafka), and a fault it reads as zeep.exceptions.Fault with our detail."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import requests

from .conftest import Env, relaying
from .live import serving

pytestmark = pytest.mark.services

NS = "urn:bizevents:soap:1"


def client_for(url: str, key: str) -> Any:
    import zeep
    from zeep.transports import Transport

    session = requests.Session()
    session.auth = ("soap-app", key)
    return zeep.Client(f"{url}/soap?wsdl", transport=Transport(session=session))


def publish(url: str, key: str, placed: str) -> dict[str, Any]:
    import zeep

    client = client_for(url, key)
    one = client.service.PublishEvent(
        Type=placed, Payload=json.dumps({"order_id": "z-1", "amount": 1}), Subject="order/z-1"
    )
    batch = client.service.PublishEvents(
        Event=[
            {"Type": placed, "Payload": json.dumps({"order_id": f"z-{i}", "amount": i})}
            for i in (2, 3)
        ]
    )
    status = client.service.GetEventStatus(Id=one)
    try:
        client.service.PublishEvent(Type=placed, Payload=json.dumps({"order_id": "z-bad"}))
    except zeep.exceptions.Fault as fault:
        detail = fault.detail.find(f"{{{NS}}}GatewayFault")
        failed = (
            fault.code,
            detail.findtext(f"{{{NS}}}Problem/{{{NS}}}Message"),
            detail.findtext(f"{{{NS}}}Kind"),
        )
    else:
        raise AssertionError("an invalid payload was accepted")
    return {"one": one, "batch": list(batch), "status": status, "fault": failed}


def subscribe(url: str, key: str, placed: str) -> str:
    return str(client_for(url, key).service.CreatePullSubscription(EventType=[placed],
                                                                    Start="earliest"))  # fmt: skip


def consume(url: str, key: str, subscription: str, wanted: int) -> dict[str, Any]:
    client = client_for(url, key)
    events: list[Any] = []
    for _ in range(30):
        fetched = client.service.FetchEvents(
            SubscriptionId=subscription, Session="erp-1", Max=10, WaitSeconds=2
        )
        if fetched.Event:
            events += fetched.Event
            committed = client.service.CommitCursor(
                SubscriptionId=subscription, Batch=fetched.Batch, Session="erp-1"
            )
            assert committed is True
        if len(events) >= wanted:
            break
    after = client.service.FetchEvents(SubscriptionId=subscription, Session="erp-1", Max=10)
    return {
        "events": [(e.Id, e.Type, json.loads(e.Payload), e.Key) for e in events],
        "subjects": [e.Subject for e in events],
        "after": list(after.Event or []),
    }


async def test_zeep_calls_every_operation_from_the_wsdl(env: Env, services: Any) -> None:
    placed = env.shop.placed
    async with serving(env) as url:
        subscription = await asyncio.to_thread(subscribe, url, env.keys["billing"], placed)
        published = await asyncio.to_thread(publish, url, env.keys["orders"], placed)
        assert published["status"] == "pending"
        assert published["fault"][0] == "soap:Client"
        assert published["fault"][2] == "payload-invalid"
        assert "amount" in published["fault"][1]
        async with relaying(services, env.schema):
            consumed = await asyncio.to_thread(consume, url, env.keys["billing"], subscription, 3)
    ids = [published["one"], *published["batch"]]
    events = sorted(consumed["events"], key=lambda e: e[2]["order_id"])  # 3 keys, 3 partitions
    assert [e[0] for e in events] == ids
    assert [e[2]["order_id"] for e in events] == ["z-1", "z-2", "z-3"]
    assert [e[3] for e in events] == ["z-1", "z-2", "z-3"]  # the contract's key field
    assert "order/z-1" in consumed["subjects"]
    assert consumed["after"] == []
