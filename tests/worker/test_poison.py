"""Poison messages go to the dead-letter topic at once, with the reason; the worker keeps going."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bizevents import topics
from bizevents.contracts import load_contracts
from bizevents.envelope import to_kafka
from bizevents.worker import Context, DeadLetterRecord, Router, Worker, WorkerSettings

from .worker_helpers import Kafka, envelope, running, wait_until

pytestmark = pytest.mark.services

PLACED = "com.acme.orders.OrderPlaced.v1"
GOOD = {"order_id": "o1", "customer_id": "c1", "total": 10, "currency": "EUR"}
CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"


class OwnTopics:
    """The real contracts, with this test's own topic for each type (tests share the broker)."""

    def __init__(self, topic_of: dict[str, str]) -> None:
        self.real = load_contracts(CONTRACTS)
        self.topic_of = topic_of

    def __contains__(self, event_type: object) -> bool:
        return event_type in self.real

    def get(self, event_type: str) -> Any:
        contract = self.real.get(event_type)
        topic = self.topic_of.get(event_type, contract.topic)

        class Renamed:
            def __getattr__(self, name: str) -> Any:
                return topic if name == "topic" else getattr(contract, name)

        return Renamed()


class Holder:
    def __init__(self, router: Router, contracts: Any) -> None:
        self.router, self.contracts = router, contracts


async def test_poison_is_dead_lettered_with_the_reason(
    kafka: Kafka, group: str, fast_settings: Callable[..., WorkerSettings]
) -> None:
    topic = await kafka.new_type("Orders")
    router = Router()
    handled: list[str] = []
    sunk: list[DeadLetterRecord] = []

    @router.subscriber(PLACED, group=group)
    async def on_placed(event: dict[str, Any], ctx: Context) -> None:
        handled.append(event["order_id"])

    async def sink(letter: DeadLetterRecord) -> None:
        sunk.append(letter)

    good = {"order_id": "o1", "customer_id": "c1", "total": 10, "currency": "EUR"}
    bad = {**good, "order_id": "o2", "currency": "euro"}
    unknown = envelope("com.acme.nothing.Unknown.v1", {}, key="u")
    await kafka.send_raw(topic, b"junk", b"\xff\xfe not json", [])
    await kafka.send_raw(topic, b"nohdr", b'{"hello": 1}', [("content-type", b"text/plain")])
    bad_event = envelope(PLACED, bad, key="o2")
    await kafka.send(topic, [unknown, bad_event])
    not_json = envelope(PLACED, good, key="o3")
    key, _, headers = to_kafka(not_json)
    await kafka.send_raw(topic, key, b"{not json", headers)
    await kafka.send(topic, [envelope(PLACED, good, key="o1")])

    worker = Worker(
        Holder(router, OwnTopics({PLACED: topic})), fast_settings(), dead_letter_sink=sink
    )
    async with running(worker):
        letters = await kafka.read(topics.dead_letter_topic(group), 5)
        await wait_until(lambda: handled == ["o1"] and len(sunk) == 5)

    by_key = {r.key: r for r in letters}
    reasons = {k: dict(r.headers)["bizevents_error_type"].decode() for k, r in by_key.items()}
    assert reasons[b"junk"].endswith("EnvelopeError")
    assert reasons[b"nohdr"].endswith("EnvelopeError")
    assert reasons[b"u"].endswith("UnknownEventTypeError")
    assert reasons[b"o2"].endswith("PayloadValidationError")
    assert reasons[b"o3"].endswith("EnvelopeError")
    assert b"currency" in dict(by_key[b"o2"].headers)["bizevents_error"]
    # The original record is kept byte for byte.
    assert by_key[b"junk"].value == b"\xff\xfe not json"
    assert json.loads(by_key[b"o2"].value) == bad
    original = [(n, v) for n, v in by_key[b"o2"].headers if not n.startswith("bizevents_")]
    assert original == to_kafka(bad_event)[2]
    h = dict(by_key[b"junk"].headers)
    assert h["bizevents_group"] == group.encode()
    assert h["bizevents_original_topic"] == topic.encode()
    assert h["bizevents_original_offset"] == b"0"
    assert h["bizevents_attempts"] == b"0"  # never reached a handler
    # The hook got the same letters.
    assert {s.key for s in sunk} == set(by_key)
    assert next(s for s in sunk if s.key == b"junk").value == b"\xff\xfe not json"


async def test_a_reason_utf8_cannot_carry_is_escaped_not_fatal(
    kafka: Kafka, group: str, fast_settings: Callable[..., WorkerSettings]
) -> None:
    # The error quoted a lone surrogate from the record (a JSON escape): encoding the reason
    # header failed and the record was never dead-lettered (found by tests/hostile).
    topic = await kafka.new_type("Orders")
    router = Router()
    handled: list[str] = []

    @router.subscriber(PLACED, group=group)
    async def on_placed(event: dict[str, Any], ctx: Context) -> None:
        handled.append(event["order_id"])

    structured = [("content-type", b"application/cloudevents+json")]
    await kafka.send_raw(topic, b"k", b'{"\\udfff": true}', structured)
    await kafka.send(topic, [envelope(PLACED, GOOD, key="k")])
    worker = Worker(Holder(router, OwnTopics({PLACED: topic})), fast_settings())
    async with running(worker):
        (letter,) = await kafka.read(topics.dead_letter_topic(group), 1)
        await wait_until(lambda: handled == ["o1"])
    headers = dict(letter.headers)
    assert headers["bizevents_error_type"].endswith(b"EnvelopeError")
    assert b"\\udfff" in headers["bizevents_error"]
    assert letter.value == b'{"\\udfff": true}'
