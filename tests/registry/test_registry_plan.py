"""The registry's pure decisions: effective mode, versions, metadata rules, removals."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bizevents.contracts import Compatibility as C
from bizevents.contracts import EventContract
from bizevents.contracts.registry import ContractVersion, effective_mode, plan_registration


def contract(schema: dict[str, Any], mode: C = C.BACKWARD, **meta: Any) -> EventContract:
    fields: dict[str, Any] = {
        "event_type": "com.acme.test.Thing.v1",
        "source": "/acme/test",
        "topic": "com.acme.test.Thing.v1",
        "version": "1.0.0",
        "service": "test",
        "owner": "team",
        "key_field": "id",
        "publishers": ("test",),
        **meta,
    }
    return EventContract(schema=schema, compatibility=mode, **fields)


def registered(c: EventContract, version: int, deprecated: bool = False) -> ContractVersion:
    return ContractVersion(
        c.event_type,
        version,
        c.fingerprint(),
        c.service,
        c.compatibility,
        c.to_dict(),
        deprecated_at=datetime.now(UTC) if deprecated else None,
    )


@pytest.mark.parametrize(
    ("registered_mode", "declared", "expected"),
    [
        (C.BACKWARD, C.BACKWARD, C.BACKWARD),
        (C.BACKWARD, C.NONE, C.BACKWARD),  # loosening does not apply to this change
        (C.NONE, C.FORWARD, C.FORWARD),  # tightening applies at once
        (C.BACKWARD, C.FORWARD, C.FULL),
        (C.FORWARD_TRANSITIVE, C.BACKWARD, C.FULL_TRANSITIVE),
        (C.NONE, C.NONE, C.NONE),
        (C.FULL, C.BACKWARD_TRANSITIVE, C.FULL_TRANSITIVE),
    ],
)
def test_effective_mode_is_the_stricter_of_both(
    registered_mode: C, declared: C, expected: C
) -> None:
    assert effective_mode(registered_mode, declared) is expected


def test_metadata_changes_are_breaking_unless_none() -> None:
    schema = {"type": "object"}
    old = contract(schema)
    moved = contract(schema, source="/acme/elsewhere", topic="t2", key_field=None)
    plan = plan_registration([moved], {old.event_type: [registered(old, 1)]})
    assert sorted(p.rule for p in plan.problems) == [
        "key-changed",
        "source-changed",
        "topic-changed",
    ]
    loose_old = contract(schema, C.NONE)
    loose_new = contract(schema, C.NONE, source="/acme/elsewhere", topic="t2")
    assert not plan_registration([loose_new], {old.event_type: [registered(loose_old, 1)]}).problems


def test_first_version_and_identical_content() -> None:
    c = contract({"type": "object"})
    plan = plan_registration([c], {})
    assert [(r.version, r.created) for r in plan.registrations] == [(1, True)]
    plan = plan_registration([c], {c.event_type: [registered(c, 1)]})
    assert [(r.version, r.created) for r in plan.registrations] == [(1, False)]
    assert plan.new == {}


def test_removal_is_breaking_unless_deprecated_or_none_or_other_service() -> None:
    kept = contract({"type": "object"}, event_type="com.acme.test.Kept.v1")
    gone = contract({"type": "object"}, event_type="com.acme.test.Gone.v1")
    other = contract({"type": "object"}, event_type="com.acme.x.Other.v1", service="other")
    loose = contract({"type": "object"}, C.NONE, event_type="com.acme.test.Loose.v1")
    history = {c.event_type: [registered(c, 1)] for c in (kept, gone, other, loose)}
    plan = plan_registration([kept], history, removal_scope={"test"})
    assert [(p.rule, p.file) for p in plan.problems] == [
        ("event-type-removed", "com.acme.test.Gone.v1 v1")
    ]
    history[gone.event_type] = [registered(gone, 1, deprecated=True)]
    assert not plan_registration([kept], history, removal_scope={"test"}).problems
    # A single contract says nothing about its siblings.
    assert not plan_registration([kept], history).problems
