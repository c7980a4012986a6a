"""EventContract behaviour (validation, keys, content address) and the contract-level diff."""

from __future__ import annotations

from pathlib import Path

import pytest

from bizevents.contracts import (
    Compatibility,
    ContractSet,
    EventContract,
    diff_contracts,
    load_contract_texts,
    load_contracts,
)
from bizevents.errors import PayloadValidationError

from .helpers import EXAMPLE

PLACED = "com.acme.orders.OrderPlaced.v1"
SHIPPED = "com.acme.orders.OrderShipped.v1"


@pytest.fixture(scope="module")
def example() -> ContractSet:
    return load_contracts(EXAMPLE)


def texts() -> dict[str, str]:
    return {p.name: p.read_text() for p in EXAMPLE.glob("*.yaml")}


def edited(name: str, old: str, new: str) -> ContractSet:
    files = texts()
    assert old in files[name], old
    files[name] = files[name].replace(old, new, 1)
    return load_contract_texts(files)


def test_validate_lists_every_problem_with_pointers(example: ContractSet) -> None:
    placed = example.get(PLACED)
    placed.validate({"order_id": "o1", "customer_id": "c1", "total": 0, "currency": "EUR"})
    with pytest.raises(PayloadValidationError) as info:
        placed.validate(
            {
                "order_id": "o1",
                "total": -1,
                "currency": "eur",
                "items": [{"sku": "a", "quantity": 0}],
            }
        )
    got = {(p.pointer, p.rule) for p in info.value.problems}
    assert got == {
        ("/", "required"),
        ("/total", "minimum"),
        ("/currency", "pattern"),
        ("/items/0/quantity", "minimum"),
    }


def test_formats_are_asserted(example: ContractSet) -> None:
    shipped = example.get(SHIPPED)
    shipped.validate({"order_id": "o1", "carrier": "dhl", "shipped_at": "2026-01-02T03:04:05Z"})
    with pytest.raises(PayloadValidationError, match="date-time"):
        shipped.validate({"order_id": "o1", "carrier": "dhl", "shipped_at": "yesterday"})


def test_key_of_and_dataschema(example: ContractSet) -> None:
    placed = example.get(PLACED)
    assert placed.key_of({"order_id": "o-7"}) == "o-7"
    assert placed.key_of({}) is None
    assert placed.dataschema == f"urn:bizevents:contract:{PLACED}:1.0.0"


def test_fingerprint_is_stable_and_content_addressed(example: ContractSet) -> None:
    placed = example.get(PLACED)
    again = load_contracts(EXAMPLE).get(PLACED)
    assert placed.fingerprint() == again.fingerprint()
    assert placed.canonical_json() == again.canonical_json()
    bumped = edited("orders.yaml", "version: 1.0.0", "version: 1.1.0").get(PLACED)
    assert bumped.fingerprint() == placed.fingerprint()  # document version is not content
    changed = edited(
        "orders.yaml",
        "customer_id:\n          type: string\n",
        "customer_id:\n          type: string\n          maxLength: 9\n",
    ).get(PLACED)
    assert changed.fingerprint() != placed.fingerprint()
    assert EventContract.from_dict(placed.to_dict()).fingerprint() == placed.fingerprint()


def test_no_changes(example: ContractSet) -> None:
    assert diff_contracts(example, load_contracts(EXAMPLE)).changes == ()


def test_removed_event_type_is_breaking_under_every_mode(example: ContractSet) -> None:
    remaining = ContractSet({c.event_type: c for c in example if c.event_type != SHIPPED})
    diff = diff_contracts(example, remaining)
    (change,) = diff.changes
    assert change.kind == "event-removed" and change.event_type == SHIPPED
    assert all(change.breaking.values())
    assert diff.breaking() == [change]


def test_added_event_type_is_not_breaking(example: ContractSet) -> None:
    fewer = ContractSet({c.event_type: c for c in example if c.event_type != SHIPPED})
    diff = diff_contracts(fewer, example)
    assert [(c.kind, any(c.breaking.values())) for c in diff.changes] == [("event-added", False)]


def test_changed_cloudevents_type_is_breaking(example: ContractSet) -> None:
    new = edited(
        "orders.yaml",
        "x-bizevents-type: com.acme.orders.OrderShipped.v1",
        "x-bizevents-type: com.acme.orders.OrderShipped.v2",
    )
    (change,) = diff_contracts(example, new).changes
    assert change.kind == "type-changed"
    assert (change.old, change.new) == (SHIPPED, "com.acme.orders.OrderShipped.v2")
    assert change.breaks(Compatibility.NONE)


def test_schema_changes_classified_per_mode(example: ContractSet) -> None:
    new = edited("orders.yaml", "required: [order_id, carrier]", "required: [order_id]")
    (change,) = diff_contracts(example, new).changes
    assert change.kind == "schema" and change.pointer == "/required"
    assert change.breaking == {"BACKWARD": False, "FORWARD": True, "FULL": True, "NONE": False}
    assert "required-removed" in change.rule


def test_breaking_follows_each_event_types_own_mode(example: ContractSet) -> None:
    # OrderCancelled is FULL: adding an enum value breaks FORWARD, hence FULL.
    new = edited(
        "orders.yaml",
        "enum: [customer_request, payment_failed, out_of_stock]",
        "enum: [customer_request, payment_failed, out_of_stock, fraud]",
    )
    diff = diff_contracts(example, new)
    (change,) = diff.changes
    assert change.breaking["BACKWARD"] is False and change.breaking["FULL"] is True
    assert diff.modes["com.acme.orders.OrderCancelled.v1"] is Compatibility.FULL
    assert diff.breaking() == [change]


def test_topic_and_key_changes_break_metadata_changes_do_not(example: ContractSet) -> None:
    new = edited(
        "orders.yaml", "address: com.acme.orders.OrderShipped.v1", "address: orders.shipped"
    )
    new_subs = edited(
        "orders.yaml",
        "x-bizevents-subscribers: [billing]",
        "x-bizevents-subscribers: [billing, shipping]",
    )
    (topic,) = diff_contracts(example, new).changes
    assert topic.kind == "topic-changed" and all(topic.breaking.values())
    (subs,) = diff_contracts(example, new_subs).changes
    assert subs.kind == "subscribers-changed" and not any(subs.breaking.values())


def test_diff_json_shape(example: ContractSet, tmp_path: Path) -> None:
    new = edited(
        "orders.yaml",
        "required: [order_id, carrier]",
        "required: [order_id, carrier, tracking_number]",
    )
    data = diff_contracts(example, new).to_dict()
    assert data["modes"][SHIPPED] == "BACKWARD"
    (change,) = data["breaking"]
    assert change["rule"] == "required-added" and change["breaking"]["BACKWARD"] is True
