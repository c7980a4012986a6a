"""Topic plans from contracts (pure): event topics, group topics, the diff, Strimzi resources."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bizevents.contracts import load_contracts
from bizevents.errors import ContractError
from bizevents.ops.strimzi import kafka_topics, resource_name
from bizevents.ops.topicplan import (
    Action,
    Defaults,
    GroupTopics,
    Role,
    TopicState,
    diff,
    managed,
    plan,
)

ROOT = Path(__file__).resolve().parents[2]
PLACED = "com.acme.orders.OrderPlaced.v1"
SHIPPED = "com.acme.orders.OrderShipped.v1"
BILLING = GroupTopics("billing", (PLACED, SHIPPED), ("bizevents.retry.billing.10s",))


def contracts_with_binding(tmp_path: Path, binding: str) -> Path:
    folder = tmp_path / "contracts"
    folder.mkdir()
    for source in (ROOT / "contracts").glob("*.yaml"):
        text = source.read_text()
        if source.name == "orders.yaml":
            text = text.replace(
                "    x-bizevents-retention: 7d\n",
                f"    x-bizevents-retention: 7d\n    bindings:\n      kafka:\n{binding}",
                1,
            )
        (folder / source.name).write_text(text)
    return folder


def test_event_topics_take_retention_from_the_contracts() -> None:
    specs = {s.name: s for s in plan(load_contracts(ROOT / "contracts"), [], Defaults(3, 1))}
    assert specs[PLACED].config == {"retention.ms": str(7 * 86_400_000)}
    assert specs["com.acme.billing.InvoiceIssued.v1"].config == {"retention.ms": "-1"}  # forever
    assert specs[SHIPPED].config == {}  # no retention in the contract: the broker's default
    assert {s.partitions for s in specs.values()} == {3}
    assert {s.role for s in specs.values()} == {Role.EVENTS}
    assert specs[PLACED].owner == "orders"


def test_partitions_and_replicas_come_from_the_kafka_binding(tmp_path: Path) -> None:
    folder = contracts_with_binding(tmp_path, "        partitions: 12\n        replicas: 2\n")
    contracts = load_contracts(folder)
    specs = {s.name: s for s in plan(contracts, [BILLING], Defaults(3, 3))}
    assert (specs[PLACED].partitions, specs[PLACED].replicas) == (12, 2)
    assert (specs[SHIPPED].partitions, specs[SHIPPED].replicas) == (3, 3)
    # The group's topics are as wide as its widest source topic.
    group = [s for s in specs.values() if s.owner == "billing" and s.role is not Role.EVENTS]
    assert {(s.name, s.role) for s in group} == {
        ("bizevents.retry.billing.10s", Role.RETRY),
        ("bizevents.replay.billing", Role.REPLAY),
        ("bizevents.dlq.billing", Role.DEAD_LETTER),
    }
    assert {s.partitions for s in group} == {12}


def test_a_bad_binding_is_a_clear_error(tmp_path: Path) -> None:
    folder = contracts_with_binding(tmp_path, "        partitions: 0\n")
    with pytest.raises(ContractError) as refused:  # the AsyncAPI schema checks bindings
        load_contracts(folder)
    assert "/channels/orderPlaced/bindings/kafka/partitions" in str(refused.value.problems)


def state(name: str, partitions: int = 3, replicas: int = 1, **config: str) -> TopicState:
    return TopicState(name, partitions, replicas, config)


def test_diff_creates_grows_alters_and_never_shrinks() -> None:
    wanted = plan(load_contracts(ROOT / "contracts"), [BILLING], Defaults(3, 1))
    actual = {
        PLACED: state(PLACED, 2, **{"retention.ms": "1000", "cleanup.policy": "delete"}),
        SHIPPED: state(SHIPPED, 6),
        "bizevents.dlq.billing": state("bizevents.dlq.billing", 3, 3),
    }
    changes = {(c.action, c.topic): c for c in diff(wanted, actual)}
    grow = changes[(Action.ADD_PARTITIONS, PLACED)]
    assert "2 -> 3" in grow.detail
    alter = changes[(Action.ALTER_CONFIG, PLACED)]
    assert alter.config == {"retention.ms": str(7 * 86_400_000)}
    assert "retention.ms: 1000 -> 604800000" in alter.detail
    shrink = changes[(Action.UNCHANGED, SHIPPED)]
    assert any("cannot remove partitions" in w for w in shrink.warnings)
    dlq = changes[(Action.UNCHANGED, "bizevents.dlq.billing")]
    assert any("replication factor" in w for w in dlq.warnings)
    assert (Action.CREATE, "bizevents.replay.billing") in changes
    assert (Action.CREATE, "com.acme.billing.InvoiceIssued.v1") in changes


def test_extra_topics_are_kept_unless_deletion_is_allowed_and_foreign_ones_never_listed() -> None:
    wanted = plan(load_contracts(ROOT / "contracts"), [BILLING], Defaults(3, 1))
    extra = {
        "com.acme.orders.OrderRefunded.v1": state("com.acme.orders.OrderRefunded.v1"),
        "bizevents.retry.billing.1h": state("bizevents.retry.billing.1h"),
        "bizevents.dlq.shipping": state("bizevents.dlq.shipping"),  # a group not in the plan
        "com.other.crm.Lead.v1": state("com.other.crm.Lead.v1"),  # another namespace
        "payments-ledger": state("payments-ledger"),
    }
    kept = {c.topic: c.action for c in diff(wanted, extra) if c.spec is None}
    assert kept == {
        "com.acme.orders.OrderRefunded.v1": Action.KEEP_EXTRA,
        "bizevents.retry.billing.1h": Action.KEEP_EXTRA,
    }
    deleted = {c.topic: c.action for c in diff(wanted, extra, allow_delete=True) if c.spec is None}
    assert set(deleted.values()) == {Action.DELETE}
    assert set(deleted) == set(kept)
    assert not managed("com.acme.Thing", wanted)


def test_unchanged_cluster_means_no_change() -> None:
    wanted = plan(load_contracts(ROOT / "contracts"), [BILLING], Defaults(3, 1))
    actual = {s.name: TopicState(s.name, s.partitions, s.replicas, dict(s.config)) for s in wanted}
    assert all(c.action is Action.UNCHANGED and not c.warnings for c in diff(wanted, actual))


def test_strimzi_resources_have_valid_unique_names_and_the_real_topic_name() -> None:
    wanted = plan(load_contracts(ROOT / "contracts"), [BILLING], Defaults(3, 3))
    resources = kafka_topics(wanted, cluster="prod", namespace="events")
    dns = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
    names = [r["metadata"]["name"] for r in resources]
    assert len(set(names)) == len(names) == len(wanted)
    for resource, spec in zip(resources, wanted, strict=True):
        assert dns.match(resource["metadata"]["name"]) and len(resource["metadata"]["name"]) <= 253
        assert resource["spec"].get("topicName", resource["metadata"]["name"]) == spec.name
        assert resource["metadata"]["labels"]["strimzi.io/cluster"] == "prod"
        assert resource["metadata"]["namespace"] == "events"
        assert resource["spec"]["replicas"] == 3
    placed = next(r for r in resources if r["spec"].get("topicName") == PLACED)
    assert placed["spec"]["config"] == {"retention.ms": 604_800_000}
    # Names differing only in case or in characters Kubernetes refuses do not collide.
    assert resource_name("a.B_c") != resource_name("a.b-c")
    assert resource_name("bizevents.dlq.billing") == "bizevents.dlq.billing"


def test_a_space_prefixes_event_topics_and_the_groups_topics() -> None:
    from bizevents.mesh import Naming

    specs = {
        s.name
        for s in plan(
            load_contracts(ROOT / "contracts"), [BILLING], Defaults(3, 1), Naming(space="blue")
        )
    }
    assert f"blue.{PLACED}" in specs and PLACED not in specs
    assert {
        "bizevents.retry.blue.billing.10s",
        "bizevents.replay.blue.billing",
        "bizevents.dlq.blue.billing",
    } <= specs
