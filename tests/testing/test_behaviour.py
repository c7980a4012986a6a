"""The same behaviour scenarios on the in-memory harness and on real Kafka.

Each test takes `harness`, a factory that starts `TestEvents` either on `MemoryKafka` or on the
real Kafka (the `backend` fixture, parametrized), so `bizevents.testing` is held to what the real
worker does. The suite goes on in test_behaviour_delivery.py (commits, outcomes, retry topics,
replay), test_behaviour_order.py (per-key order over 10k events) and test_behaviour_poison.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic import BaseModel

from bizevents.app import Events
from bizevents.testing import TestEvents
from bizevents.worker import Context, DeadLetter, Skip


class OrderPlaced(BaseModel):
    order_id: str
    total: float


@dataclass
class Shop:
    """A small app under test: billing bills orders and publishes invoices; a mailer reads them."""

    events: Events
    placed: str
    invoiced: str
    billing: str
    mailer: str
    flaky: dict[str, int] = field(default_factory=dict)
    broken: set[str] = field(default_factory=set)
    seen: list[str] = field(default_factory=list)
    mailed: list[str] = field(default_factory=list)
    contexts: list[Context] = field(default_factory=list)


def build_shop() -> Shop:
    ns = uuid.uuid4().hex[:8]
    shop = Shop(
        Events(app="billing"),
        placed=f"com.acme.t{ns}.OrderPlaced.v1",
        invoiced=f"com.acme.t{ns}.InvoiceIssued.v1",
        billing=f"billing-{ns}",
        mailer=f"mailer-{ns}",
    )
    events = shop.events

    @events.subscriber(shop.placed, group=shop.billing)
    async def bill(event: OrderPlaced, ctx: Context) -> Any:
        shop.seen.append(event.order_id)
        shop.contexts.append(ctx)
        if shop.flaky.get(event.order_id, 0) > 0:
            shop.flaky[event.order_id] -= 1
            raise ConnectionError("ledger unavailable")
        if event.order_id in shop.broken:
            raise ValueError(f"cannot bill {event.order_id}")
        if event.order_id.startswith("skip"):
            return Skip("test order")
        if event.order_id.startswith("dead"):
            raise DeadLetter("customer account deleted")
        # The outbox call an app makes inside its transaction (no database in unit tests).
        await events.publish(
            None,  # type: ignore[arg-type]
            shop.invoiced,
            {"order_id": event.order_id, "amount": event.total},
            key=event.order_id,
        )
        return None

    @events.subscriber(shop.invoiced, group=shop.mailer)
    async def mail(event: dict[str, Any], ctx: Context) -> None:
        shop.mailed.append(event["order_id"])

    return shop


@pytest.fixture
def harness(backend: str | None) -> Callable[[Shop], TestEvents]:
    """TestEvents on MemoryKafka, or on the real Kafka (same scenarios, same assertions)."""

    def make(shop: Shop) -> TestEvents:
        return TestEvents(shop.events, kafka=backend)

    return make


async def test_handler_gets_the_typed_event_and_what_it_publishes_reaches_the_next_group(harness):  # type: ignore[no-untyped-def]
    shop = build_shop()
    async with harness(shop) as t:
        event_id = await t.publish(shop.placed, {"order_id": "o-1", "total": 12.5}, key="o-1")
        calls = t.handled(shop.placed)
        assert [c.event for c in calls] == [OrderPlaced(order_id="o-1", total=12.5)]
        ctx = shop.contexts[0]
        assert (ctx.id, ctx.type, ctx.key, ctx.attempt, ctx.group) == (
            event_id,
            shop.placed,
            "o-1",
            1,
            shop.billing,
        )
        [invoice] = t.published(shop.invoiced)
        assert invoice.partitionkey == "o-1" and invoice.payload() == {
            "order_id": "o-1",
            "amount": 12.5,
        }
        assert shop.mailed == ["o-1"]
        assert t.dead_letters() == []


async def test_a_transient_failure_is_retried_and_then_handled(harness):  # type: ignore[no-untyped-def]
    shop = build_shop()
    shop.flaky["o-2"] = 2
    async with harness(shop) as t:
        await t.publish(shop.placed, {"order_id": "o-2", "total": 1}, key="o-2")
        assert [c.attempt for c in t.calls(shop.placed)] == [1, 2, 3]
        assert [type(c.error) for c in t.failures()] == [ConnectionError, ConnectionError]
        assert len(t.handled(shop.placed)) == 1 and shop.mailed == ["o-2"]
        assert t.dead_letters() == []


async def test_a_persistent_failure_is_dead_lettered_and_its_key_keeps_order(harness):  # type: ignore[no-untyped-def]
    shop = build_shop()
    shop.broken.add("bad")
    async with harness(shop) as t:
        await t.publish(shop.placed, {"order_id": "bad", "total": 1}, key="k", wait=False)
        await t.publish(shop.placed, {"order_id": "good", "total": 2}, key="k", wait=False)
        await t.publish(shop.placed, {"order_id": "other", "total": 3}, key="other")
        [letter] = t.dead_letters(shop.billing)
        bad_calls = [c for c in t.calls(shop.placed) if c.event.order_id == "bad"]
        assert len(bad_calls) > 3  # immediate retries and delayed retry tiers
        assert letter.attempts == len(bad_calls)
        assert letter.error_type == "ValueError" and "cannot bill bad" in letter.error
        assert letter.original_topic == shop.placed and letter.group == shop.billing
        assert letter.first_failure <= letter.last_failure
        # The later message of the same key ran only after the failing one was settled.
        last_bad = max(i for i, o in enumerate(shop.seen) if o == "bad")
        assert shop.seen.index("good") > last_bad
        assert sorted(shop.mailed) == ["good", "other"]


async def test_poison_is_dead_lettered_at_once_and_the_worker_keeps_going(harness):  # type: ignore[no-untyped-def]
    shop = build_shop()
    async with harness(shop) as t:
        await t.send_record(shop.placed, b"k", b"this is not a CloudEvent", [])
        await t.publish(shop.placed, {"order_id": "o-3", "total": 1}, key="o-3")
        await t.publish(shop.placed, {"order_id": "o-4"}, key="o-4")  # breaks the model
        letters = t.dead_letters(shop.billing)
        assert len(letters) == 2
        poison = next(d for d in letters if d.value == b"this is not a CloudEvent")
        assert poison.attempts == 0 and "EnvelopeError" in poison.error_type
        invalid = next(d for d in letters if d is not poison)
        assert "ValidationError" in invalid.error_type and invalid.attempts == 0
        assert [c.event.order_id for c in t.handled(shop.placed)] == ["o-3"]


async def test_explicit_outcomes_skip_and_dead_letter_now(harness):  # type: ignore[no-untyped-def]
    shop = build_shop()
    async with harness(shop) as t:
        await t.publish(shop.placed, {"order_id": "skip-1", "total": 1}, key="a")
        await t.publish(shop.placed, {"order_id": "dead-1", "total": 1}, key="b")
        assert len(t.calls(shop.placed)) == 2  # neither was retried
        [letter] = t.dead_letters()
        assert letter.error == "customer account deleted" and letter.attempts == 1
        assert shop.mailed == []


async def test_a_replayed_dead_letter_runs_through_its_handler_again(harness):  # type: ignore[no-untyped-def]
    shop = build_shop()
    shop.broken.add("o-5")
    async with harness(shop) as t:
        await t.publish(shop.placed, {"order_id": "o-5", "total": 5}, key="o-5")
        [letter] = t.dead_letters()
        assert shop.mailed == []
        shop.broken.clear()  # the bug is fixed
        await t.replay(letter)
        assert [c.event.order_id for c in t.handled(shop.placed)] == ["o-5"]
        assert shop.mailed == ["o-5"]
        assert len(t.dead_letters()) == 1
