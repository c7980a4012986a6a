"""Poison on both backends: dead-lettered at once with the reason and the original bytes, as the
sink got it and as written on the dead-letter topic; the worker keeps going."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bizevents import topics
from bizevents.contracts import load_contracts
from bizevents.deadletter import from_kafka_record
from bizevents.envelope import to_kafka
from bizevents.worker import Context, Router

from .conftest import eventually, new_group, new_type, on

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


class App:
    """A router with contracts: what `Events` hands the worker."""

    def __init__(self, router: Router, contracts: Any) -> None:
        self.router, self.contracts = router, contracts


def placed_app(group: str) -> tuple[App, str, list[str]]:
    topic = new_type("Orders")
    router = Router()
    handled: list[str] = []

    @router.subscriber(PLACED, group=group)
    async def on_placed(event: dict[str, Any], ctx: Context) -> None:
        handled.append(event["order_id"])

    return App(router, OwnTopics({PLACED: topic})), topic, handled


async def test_poison_is_dead_lettered_with_the_reason(backend: str | None) -> None:
    group = new_group()
    app, topic, handled = placed_app(group)
    async with on(backend, app) as t:
        bad = {**GOOD, "order_id": "o2", "currency": "euro"}
        _, unknown = t.build("com.acme.nothing.Unknown.v1", {}, key="u")
        _, bad_event = t.build(PLACED, bad, key="o2")
        _, not_json = t.build(PLACED, GOOD, key="o3")
        _, good = t.build(PLACED, GOOD, key="o1")
        await t.send_record(topic, b"junk", b"\xff\xfe not json", [])
        await t.send_record(topic, b"nohdr", b'{"hello": 1}', [("content-type", b"text/plain")])
        await t.send_record(topic, *to_kafka(unknown))
        await t.send_record(topic, *to_kafka(bad_event))
        key, _, headers = to_kafka(not_json)
        await t.send_record(topic, key, b"{not json", headers)
        await t.send_record(topic, *to_kafka(good))
        await eventually(lambda: handled == ["o1"] and len(t.dead_letters()) == 5)
        letters = await t.records(topics.dead_letter_topic(group))
        sunk = t.dead_letters()

    assert len(letters) == 5
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
    # The hook got the same letters, field for field.
    assert {s.key for s in sunk} == set(by_key)
    assert next(s for s in sunk if s.key == b"junk").value == b"\xff\xfe not json"
    read = {r.key: from_kafka_record(r.key, r.value, r.headers, topic=r.topic) for r in letters}
    assert {s.key: s for s in sunk} == read
    assert read[b"u"].event_type == "com.acme.nothing.Unknown.v1"  # decoded, just not ours
    assert read[b"junk"].event_type is None


async def test_a_reason_utf8_cannot_carry_is_escaped_not_fatal(backend: str | None) -> None:
    # The error quoted a lone surrogate from the record (a JSON escape): encoding the reason
    # header failed and the record was never dead-lettered (found by tests/hostile).
    group = new_group()
    app, topic, handled = placed_app(group)
    async with on(backend, app) as t:
        structured = [("content-type", b"application/cloudevents+json")]
        await t.send_record(topic, b"k", b'{"\\udfff": true}', structured)
        _, good = t.build(PLACED, GOOD, key="k")
        await t.send_record(topic, *to_kafka(good))
        await eventually(lambda: handled == ["o1"] and len(t.dead_letters()) == 1)
        (letter,) = await t.records(topics.dead_letter_topic(group))
    headers = dict(letter.headers)
    assert headers["bizevents_error_type"].endswith(b"EnvelopeError")
    assert b"\\udfff" in headers["bizevents_error"]
    assert letter.value == b'{"\\udfff": true}'
