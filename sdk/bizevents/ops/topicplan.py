"""The Kafka topics the contracts and the subscriber groups need, and the difference to what a
cluster has. Pure: reading and changing the cluster is `topicadmin`'s job.

Event topics: one per contract (its channel address), partitions and replicas from the channel's
standard AsyncAPI Kafka binding (`bindings.kafka.partitions` / `.replicas`), `retention.ms` from
`x-bizevents-retention`. Per subscriber group: its delayed-retry topics, its replay topic and its
dead-letter topic, with as many partitions as the group's widest source topic (a key's retries
then land on the partition number of its source partition).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .. import topics
from ..contracts.model import ContractSet, EventContract
from ..errors import ConfigurationError
from ..mesh import Naming


class Role(StrEnum):
    EVENTS = "events"
    RETRY = "retry"
    REPLAY = "replay"
    DEAD_LETTER = "dead-letter"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replicas: int
    config: Mapping[str, str] = field(default_factory=dict)
    role: Role = Role.EVENTS
    owner: str = ""  # the service (event topics) or group (the others)


@dataclass(frozen=True)
class TopicState:
    """A topic as the cluster has it: effective config values by name."""

    name: str
    partitions: int
    replicas: int
    config: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GroupTopics:
    """What the plan needs to know of one subscriber group."""

    group: str
    event_types: tuple[str, ...]
    retry_topics: tuple[str, ...]


class Action(StrEnum):
    CREATE = "create"
    ADD_PARTITIONS = "add-partitions"
    ALTER_CONFIG = "alter-config"
    DELETE = "delete"
    KEEP_EXTRA = "keep-extra"  # not in the plan: deleted only with --allow-delete
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class Change:
    action: Action
    topic: str
    spec: TopicSpec | None = None
    detail: str = ""
    config: Mapping[str, str] = field(default_factory=dict)  # ALTER_CONFIG: the new values
    warnings: tuple[str, ...] = ()

    @property
    def changes_cluster(self) -> bool:
        return self.action in (
            Action.CREATE,
            Action.ADD_PARTITIONS,
            Action.ALTER_CONFIG,
            Action.DELETE,
        )

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"action": self.action.value, "topic": self.topic}
        if self.spec is not None:
            data |= {
                "role": self.spec.role.value,
                "owner": self.spec.owner,
                "partitions": self.spec.partitions,
                "replicas": self.spec.replicas,
                "config": dict(self.spec.config),
            }
        if self.detail:
            data["detail"] = self.detail
        if self.warnings:
            data["warnings"] = list(self.warnings)
        return data


@dataclass(frozen=True)
class Defaults:
    partitions: int = 3
    replicas: int = 3


def _binding_int(contract: EventContract, contracts: ContractSet, key: str) -> int | None:
    service = contracts.services.get(contract.service)
    if service is None:
        return None
    channel = service.document.get("channels", {}).get(contract.channel, {})
    kafka = (channel.get("bindings") or {}).get("kafka") or {}
    value = kafka.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigurationError(
            f"{contract.file or contract.service}: channel {contract.channel!r}: "
            f"bindings.kafka.{key} must be a positive integer, not {value!r}"
        )
    return value


def event_topics(
    contracts: ContractSet, defaults: Defaults, naming: Naming | None = None
) -> list[TopicSpec]:
    """One topic per contract topic (in the naming's space); contracts sharing a topic must agree
    on its settings."""
    naming = naming or Naming()
    by_name: dict[str, TopicSpec] = {}
    for contract in contracts:
        config = {}
        if contract.retention_ms is not None:
            config["retention.ms"] = str(contract.retention_ms)
        spec = TopicSpec(
            name=naming.topic_of(contract),
            partitions=_binding_int(contract, contracts, "partitions") or defaults.partitions,
            replicas=_binding_int(contract, contracts, "replicas") or defaults.replicas,
            config=config,
            role=Role.EVENTS,
            owner=contract.service,
        )
        other = by_name.setdefault(spec.name, spec)
        if (other.partitions, other.replicas, dict(other.config)) != (
            spec.partitions,
            spec.replicas,
            config,
        ):
            raise ConfigurationError(
                f"topic {spec.name!r} is declared twice with different partitions, replicas "
                "or retention"
            )
    return sorted(by_name.values(), key=lambda s: s.name)


def group_topics(
    groups: Iterable[GroupTopics],
    events: Sequence[TopicSpec],
    contracts: ContractSet,
    naming: Naming | None = None,
) -> list[TopicSpec]:
    naming = naming or Naming()
    width = {spec.name: spec.partitions for spec in events}
    replicas = max((spec.replicas for spec in events), default=Defaults().replicas)
    specs = []
    for g in sorted(groups, key=lambda g: g.group):
        sources = {
            naming.topic_of(contracts.get(t))
            if t in contracts
            else naming.scoped(topics.event_topic(t))
            for t in g.event_types
        }
        partitions = max((width.get(s, Defaults().partitions) for s in sources), default=1)
        group = naming.scoped(g.group)  # the worker's consumer group in this space
        named = [
            (naming_retry(name, g.group, group), Role.RETRY) for name in sorted(g.retry_topics)
        ]
        named += [(topics.replay_topic(group), Role.REPLAY)]
        named += [(topics.dead_letter_topic(group), Role.DEAD_LETTER)]
        specs += [TopicSpec(name, partitions, replicas, {}, role, group) for name, role in named]
    return specs


def naming_retry(name: str, group: str, scoped: str) -> str:
    """A retry topic named for the unscoped group, renamed for the group in its space."""
    prefix = topics.retry_topic(group, "")
    return topics.retry_topic(scoped, name[len(prefix) :]) if name.startswith(prefix) else name


def plan(
    contracts: ContractSet,
    groups: Iterable[GroupTopics],
    defaults: Defaults | None = None,
    naming: Naming | None = None,
) -> list[TopicSpec]:
    events = event_topics(contracts, defaults or Defaults(), naming)
    return events + group_topics(groups, events, contracts, naming)


def managed(name: str, wanted: Iterable[TopicSpec]) -> bool:
    """Whether a topic the plan does not list is ours to delete: a retry/replay/dead-letter topic
    of a planned group, or an event type of a namespace the contracts use (`com.acme.orders.`)."""
    specs = list(wanted)
    groups = {s.owner for s in specs if s.role is not Role.EVENTS}
    for group in groups:
        if name.startswith(topics.retry_topic(group, "")) or name in (
            topics.replay_topic(group),
            topics.dead_letter_topic(group),
        ):
            return True
    namespaces = {_namespace(s.name) for s in specs if s.role is Role.EVENTS} - {None}
    return _namespace(name) in namespaces


_EVENT_TOPIC = re.compile(
    r"^(?P<ns>[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+)\.[A-Z][A-Za-z0-9]*\.v[1-9][0-9]*$"
)


def _namespace(topic: str) -> str | None:
    match = _EVENT_TOPIC.match(topic)
    return match.group("ns") if match else None


def diff(
    wanted: Sequence[TopicSpec], actual: Mapping[str, TopicState], *, allow_delete: bool = False
) -> list[Change]:
    """What to do to the cluster, topic by topic, in the order it should happen."""
    changes: list[Change] = []
    for spec in wanted:
        have = actual.get(spec.name)
        if have is None:
            changes.append(Change(Action.CREATE, spec.name, spec))
            continue
        warnings = []
        if have.replicas != spec.replicas:
            warnings.append(
                f"has {have.replicas} replicas, the plan says {spec.replicas}: changing the "
                "replication factor needs a partition reassignment (kafka-reassign-partitions)"
            )
        if have.partitions > spec.partitions:
            warnings.append(
                f"has {have.partitions} partitions, the plan says {spec.partitions}: Kafka "
                "cannot remove partitions (kept)"
            )
        config = {k: v for k, v in spec.config.items() if have.config.get(k) != v}
        if have.partitions < spec.partitions:
            changes.append(
                Change(
                    Action.ADD_PARTITIONS,
                    spec.name,
                    spec,
                    f"{have.partitions} -> {spec.partitions} partitions "
                    "(keys move to other partitions: order holds only for new "
                    "events)",
                    warnings=tuple(warnings),
                )
            )
            warnings = []
        if config:
            detail = ", ".join(
                f"{k}: {have.config.get(k, '(unset)')} -> {v}" for k, v in sorted(config.items())
            )
            changes.append(
                Change(Action.ALTER_CONFIG, spec.name, spec, detail, config, tuple(warnings))
            )
            warnings = []
        if not any(c.topic == spec.name for c in changes):
            changes.append(Change(Action.UNCHANGED, spec.name, spec, warnings=tuple(warnings)))
    names = {s.name for s in wanted}
    for name in sorted(set(actual) - names):
        if managed(name, wanted):
            action = Action.DELETE if allow_delete else Action.KEEP_EXTRA
            detail = "not in the plan" + ("" if allow_delete else " (--allow-delete deletes it)")
            changes.append(Change(action, name, None, detail))
    return changes
