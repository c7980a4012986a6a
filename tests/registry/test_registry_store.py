"""The contract registry on real PostgreSQL: versions, content addressing, the compatibility gate,
deprecation, removals and concurrent registrations."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bizevents.contracts import Compatibility, ContractSet, EventContract, load_contracts
from bizevents.contracts.registry import Registry, VersionNotFoundError
from bizevents.errors import IncompatibleChangeError, UnknownEventTypeError

pytestmark = pytest.mark.services

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
THING = "com.acme.test.Thing.v1"


def thing(
    properties: dict[str, Any],
    required: tuple[str, ...] = ("id",),
    *,
    mode: Compatibility = Compatibility.BACKWARD,
    event_type: str = THING,
    topic: str | None = None,
    source: str = "/acme/test",
    key_field: str | None = "id",
    service: str = "test",
    subscribers: tuple[str, ...] = ("billing",),
) -> EventContract:
    return EventContract(
        event_type=event_type,
        source=source,
        topic=topic or event_type,
        version="1.0.0",
        service=service,
        owner="team-test",
        schema={
            "type": "object",
            "properties": {"id": {"type": "string"}, **properties},
            "required": list(required),
        },
        key_field=key_field,
        compatibility=mode,
        publishers=("test",),
        subscribers=subscribers,
    )


@pytest.fixture
async def registry(services: Any, db_schema: str) -> AsyncIterator[Registry]:
    registry = await Registry.connect(services.database_url, db_schema)
    yield registry
    await registry.close()


async def _count(db: asyncpg.Connection, schema: str, table: str = "contract_versions") -> int:
    return int(await db.fetchval(f"SELECT count(*) FROM {schema}.{table}"))


async def test_migrations_are_versioned_and_idempotent(
    registry: Registry, db: asyncpg.Connection, db_schema: str
) -> None:
    assert await registry.migrate() == 1
    assert await registry.migrate() == 1
    rows = await db.fetch(
        f"SELECT component, version FROM {db_schema}.bizevents_migrations WHERE component = $1",
        "registry",
    )
    assert [(r["component"], r["version"]) for r in rows] == [("registry", 1)]


async def test_registering_the_example_domain_twice_changes_nothing(
    registry: Registry, db: asyncpg.Connection, db_schema: str
) -> None:
    contracts = load_contracts(CONTRACTS)
    first = await registry.register(contracts)
    assert {r.event_type for r in first} == set(contracts.event_types)
    assert all(r.created and r.version == 1 for r in first)
    rows = await db.fetch(f"SELECT * FROM {db_schema}.contract_versions ORDER BY event_type")
    documents = await _count(db, db_schema, "service_documents")
    assert documents == len(contracts.services) >= 3

    again = await registry.register(load_contracts(CONTRACTS))
    assert [(r.event_type, r.version, r.fingerprint) for r in again] == [
        (r.event_type, r.version, r.fingerprint) for r in first
    ]
    assert not any(r.created for r in again)
    assert (
        await db.fetch(f"SELECT * FROM {db_schema}.contract_versions ORDER BY event_type") == rows
    )
    assert await _count(db, db_schema, "service_documents") == documents

    placed = await registry.get("com.acme.orders.OrderPlaced.v1")
    assert placed.version == 1 and placed.service == "orders"
    assert placed.event_contract().subscribers == ("billing", "shipping")
    assert placed.schema == dict(contracts.get("com.acme.orders.OrderPlaced.v1").schema)
    served = {d.service: d for d in await registry.service_documents()}
    assert served["orders"].document["info"]["title"] == "orders"
    assert next(iter(served["orders"].document)) == "asyncapi"  # the author's key order is kept


async def test_versions_number_up_and_old_content_maps_to_its_version(
    registry: Registry,
) -> None:
    v1 = thing({"note": {"type": "string"}})
    v2 = thing({"note": {"type": "string"}}, required=())  # fewer required: backward compatible
    assert [r.version for r in await registry.register(v1)] == [1]
    [second] = await registry.register(v2)
    assert (second.version, second.created) == (2, True)
    [back] = await registry.register(v1)  # identical to version 1: nothing new
    assert (back.version, back.created) == (1, False)

    versions = await registry.versions(THING)
    assert [v.version for v in versions] == [1, 2]
    assert (await registry.get(THING)).version == 2
    assert (await registry.get(THING, 1)).schema["required"] == ["id"]
    assert (await registry.get(THING, 2)).schema["required"] == []
    with pytest.raises(VersionNotFoundError):
        await registry.get(THING, 3)
    with pytest.raises(UnknownEventTypeError):
        await registry.get("com.acme.test.Nope.v1")
    with pytest.raises(UnknownEventTypeError):
        await registry.versions("com.acme.test.Nope.v1")


async def test_a_breaking_change_is_refused_with_every_violation_listed(
    registry: Registry, db: asyncpg.Connection, db_schema: str
) -> None:
    await registry.register(
        thing(
            {"note": {"type": "string"}, "count": {"type": "integer"}, "size": {"type": "number"}}
        )
    )
    breaking = thing(
        {
            "note": {"type": "string"},
            "count": {"type": "string"},  # type changed
            "size": {"type": "number", "maximum": 10},  # narrowed
        },
        required=("id", "note"),  # optional became required
        topic="com.acme.test.elsewhere",
        key_field="note",
    )
    with pytest.raises(IncompatibleChangeError) as caught:
        await registry.register(breaking)
    found = {(p.pointer, p.rule) for p in caught.value.problems}
    assert found == {
        ("/", "topic-changed"),
        ("/", "key-changed"),
        ("/properties/count/type", "type-narrowed"),
        ("/properties/size/maximum", "maximum-added"),
        ("/required", "required-added"),
    }, caught.value.problems
    assert {p.file for p in caught.value.problems} == {f"{THING} v1"}
    assert await _count(db, db_schema) == 1  # nothing written


async def test_transitive_mode_checks_every_earlier_version(registry: Registry) -> None:
    """v1 (NONE) accepts up to 100, v2 (NONE) narrows to 10; v3 widens to 50. Checked against
    v2 only (BACKWARD) that is fine; BACKWARD_TRANSITIVE also checks v1, and 50 < 100 breaks it."""

    def limit(maximum: int, mode: Compatibility) -> EventContract:
        return thing({"n": {"type": "integer", "minimum": 0, "maximum": maximum}}, mode=mode)

    await registry.register(limit(100, Compatibility.NONE))
    await registry.register(limit(10, Compatibility.NONE))

    plan = await registry.check(limit(50, Compatibility.BACKWARD))
    assert plan.problems == [] and plan.registrations[0].version == 3

    with pytest.raises(IncompatibleChangeError) as caught:
        await registry.register(limit(50, Compatibility.BACKWARD_TRANSITIVE))
    problems = caught.value.problems
    assert problems and {p.file for p in problems} == {f"{THING} v1"}
    assert any("/n" in p.pointer for p in problems), problems
    assert [v.version for v in await registry.versions(THING)] == [1, 2]

    # Accepting everything every earlier version accepted, it becomes version 3.
    [ok] = await registry.register(limit(100, Compatibility.BACKWARD_TRANSITIVE))
    assert (ok.version, ok.created) == (3, True)


async def test_forward_and_full_modes_check_the_other_direction(registry: Registry) -> None:
    fwd = "com.acme.test.Fwd.v1"
    await registry.register(
        thing({"n": {"type": "integer"}}, event_type=fwd, mode=Compatibility.FORWARD)
    )
    # New events without `id` would break readers still on the old schema.
    with pytest.raises(IncompatibleChangeError):
        await registry.register(
            thing({"n": {"type": "integer"}}, (), event_type=fwd, mode=Compatibility.FORWARD)
        )
    # Making a field required is forward compatible (new events still satisfy old readers).
    [r] = await registry.register(
        thing({"n": {"type": "integer"}}, ("id", "n"), event_type=fwd, mode=Compatibility.FORWARD)
    )
    assert r.version == 2

    full = "com.acme.test.Full.v1"
    await registry.register(
        thing({"n": {"type": "integer"}}, event_type=full, mode=Compatibility.FULL)
    )
    for change in (
        thing({"n": {"type": "integer"}}, (), event_type=full, mode=Compatibility.FULL),
        thing({"n": {"type": "integer"}}, ("id", "n"), event_type=full, mode=Compatibility.FULL),
    ):
        with pytest.raises(IncompatibleChangeError):
            await registry.register(change)


async def test_none_mode_accepts_anything_but_loosening_is_a_registration_of_its_own(
    registry: Registry,
) -> None:
    await registry.register(thing({"n": {"type": "integer"}}))
    # Declaring NONE together with a breaking change: the registered BACKWARD still applies.
    with pytest.raises(IncompatibleChangeError):
        await registry.register(thing({"n": {"type": "string"}}, mode=Compatibility.NONE))
    [loosened] = await registry.register(thing({"n": {"type": "integer"}}, mode=Compatibility.NONE))
    assert loosened.version == 2
    [broken] = await registry.register(thing({"n": {"type": "string"}}, mode=Compatibility.NONE))
    assert broken.version == 3


async def test_deprecate_marks_versions_and_allows_retiring_an_event_type(
    registry: Registry,
) -> None:
    contracts = load_contracts(CONTRACTS)
    await registry.register(contracts)
    cancelled = "com.acme.orders.OrderCancelled.v1"
    without = ContractSet(
        {c.event_type: c for c in contracts if c.event_type != cancelled}, contracts.services
    )
    with pytest.raises(IncompatibleChangeError) as caught:
        await registry.register(without)
    assert [(p.rule, p.file) for p in caught.value.problems] == [
        ("event-type-removed", f"{cancelled} v1")
    ]

    [marked] = await registry.deprecate(cancelled, 1, "replaced by OrderVoided")
    assert marked.deprecated and marked.deprecation_reason == "replaced by OrderVoided"
    [again] = await registry.deprecate(cancelled, 1, "another reason")  # idempotent
    assert again.deprecated_at == marked.deprecated_at
    assert again.deprecation_reason == "replaced by OrderVoided"
    assert (await registry.get(cancelled)).deprecated

    registrations = await registry.register(without)  # retiring a deprecated event is allowed
    assert not any(r.created for r in registrations)
    assert (await registry.get(cancelled)).version == 1  # history is kept

    with pytest.raises(VersionNotFoundError):
        await registry.deprecate(cancelled, 7)
    with pytest.raises(UnknownEventTypeError):
        await registry.deprecate("com.acme.test.Nope.v1")


async def test_a_refused_set_writes_nothing(
    registry: Registry, db: asyncpg.Connection, db_schema: str
) -> None:
    await registry.register(thing({"n": {"type": "integer"}}))
    fine = thing({"n": {"type": "integer"}}, event_type="com.acme.test.Other.v1")
    bad = thing({"n": {"type": "string"}})
    with pytest.raises(IncompatibleChangeError):
        await registry.register(ContractSet({c.event_type: c for c in (fine, bad)}))
    assert await _count(db, db_schema) == 1


async def test_concurrent_registrations_get_distinct_consecutive_versions(
    services: Any, db_schema: str, registry: Registry, db: asyncpg.Connection
) -> None:
    # Two registries (two pools) racing, each with several connections.
    other = await Registry.connect(services.database_url, db_schema)
    try:
        contracts = [
            thing({f"f{i}": {"type": "integer"}}, mode=Compatibility.NONE) for i in range(12)
        ]
        results = await asyncio.wait_for(
            asyncio.gather(
                *((registry if i % 2 else other).register(c) for i, c in enumerate(contracts))
            ),
            timeout=60,
        )
        versions = sorted(r.version for [r] in results)
        assert versions == list(range(1, 13))
        same = thing({"same": {"type": "integer"}}, mode=Compatibility.NONE)
        dupes = await asyncio.wait_for(
            asyncio.gather(*((registry if i % 2 else other).register(same) for i in range(8))),
            timeout=60,
        )
        assert len({r.version for [r] in dupes}) == 1
        assert sum(r.created for [r] in dupes) == 1
    finally:
        await other.close()
    rows = await db.fetch(
        f"SELECT version FROM {db_schema}.contract_versions WHERE event_type = $1 ORDER BY 1", THING
    )
    assert [r["version"] for r in rows] == list(range(1, 14))
