"""Publishing obeys the contracts in contracts/: nothing is written unless the event is valid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bizevents.app import Event, Events
from bizevents.errors import PayloadValidationError, PermissionDeniedError, UnknownEventTypeError

pytestmark = pytest.mark.services
CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
PLACED = "com.acme.orders.OrderPlaced.v1"
GOOD = {"order_id": "o-1", "customer_id": "c-1", "total": 12.5, "currency": "EUR"}


@pytest.fixture
async def orders(db, db_schema) -> Events:
    events = Events(app="orders", contracts=CONTRACTS, outbox_schema=db_schema)
    await events.migrate(db)
    return events


async def rows(db, schema: str) -> list:  # type: ignore[type-arg]
    return list(await db.fetch(f"SELECT * FROM {schema}.outbox ORDER BY id"))


async def test_valid_event_is_stored_with_contract_attributes(orders, db, db_schema):
    async with db.transaction():
        event_id = await orders.publish(db, PLACED, GOOD)
    (row,) = await rows(db, db_schema)
    assert str(row["event_id"]) == event_id
    assert row["topic"] == orders.contracts.get(PLACED).topic
    assert row["key"] == "o-1"  # taken from the contract's key field
    assert row["source"] == "/acme/orders"
    assert row["dataschema"] == orders.contracts.get(PLACED).dataschema
    assert json.loads(row["data"]) == GOOD


async def test_invalid_payload_lists_every_problem_and_writes_nothing(orders, db, db_schema):
    bad = {"order_id": "o-1", "total": -1, "currency": "euro"}
    with pytest.raises(PayloadValidationError) as err:
        async with db.transaction():
            await orders.publish(db, PLACED, bad)
    text = str(err.value)
    assert "customer_id" in text and "/total" in text and "/currency" in text
    assert len(err.value.problems) >= 3
    assert await rows(db, db_schema) == []


async def test_one_bad_event_in_a_batch_writes_none(orders, db, db_schema):
    with pytest.raises(PayloadValidationError):
        await orders.publish_many(db, [Event(PLACED, GOOD), Event(PLACED, {"order_id": "x"})])
    assert await rows(db, db_schema) == []


async def test_unknown_type_and_foreign_app_are_refused(orders, db, db_schema):
    with pytest.raises(UnknownEventTypeError, match=r"com\.acme\.orders\.Nope\.v1"):
        await orders.publish(db, "com.acme.orders.Nope.v1", GOOD)
    billing = Events(app="billing", contracts=orders.contracts, outbox_schema=db_schema)
    with pytest.raises(PermissionDeniedError, match="billing"):
        await billing.publish(db, PLACED, GOOD)
    assert await rows(db, db_schema) == []
