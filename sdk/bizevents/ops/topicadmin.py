"""Reading and changing Kafka topics for a topic plan (aiokafka's admin client)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from .topicplan import Action, Change, TopicState

# DescribeConfigs' config_source for a value set on the topic itself (not a broker default).
TOPIC_CONFIG_SOURCE = 1


async def broker_count(admin: AIOKafkaAdminClient) -> int:
    cluster = await admin.describe_cluster()
    return len(cluster["brokers"])


async def read_state(
    admin: AIOKafkaAdminClient, wanted: Callable[[str], bool] = lambda _: True
) -> tuple[dict[str, TopicState], dict[str, dict[str, str]]]:
    """The `wanted` topics that exist: their state (effective config) and topic-level overrides.

    Only those are described: a cluster may hold tens of thousands of topics."""
    names = sorted(t for t in await admin.list_topics() if not t.startswith("__") and wanted(t))
    if not names:
        return {}, {}
    described = await admin.describe_topics(names)
    shape: dict[str, tuple[int, int]] = {}
    for topic in described:
        if topic["error_code"] != 0:
            continue
        partitions = topic["partitions"]
        replicas = max((len(p["replicas"]) for p in partitions), default=0)
        shape[topic["topic"]] = (len(partitions), replicas)
    effective: dict[str, dict[str, str]] = {}
    overrides: dict[str, dict[str, str]] = {}
    for chunk in _chunks(sorted(shape), 200):
        resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in chunk]
        for response in await admin.describe_configs(resources):
            for resource in response.resources:
                _, _, _, name, entries = resource[:5]
                for entry in entries:
                    key, value, source = entry[0], entry[1], entry[3]
                    effective.setdefault(name, {})[key] = value
                    if source == TOPIC_CONFIG_SOURCE:
                        overrides.setdefault(name, {})[key] = value
    state = {
        name: TopicState(name, partitions, replicas, effective.get(name, {}))
        for name, (partitions, replicas) in shape.items()
    }
    return state, overrides


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def apply(
    admin: AIOKafkaAdminClient, changes: Sequence[Change], overrides: dict[str, dict[str, str]]
) -> list[Change]:
    """Carry out the changes that change the cluster; returns those done, in order."""
    done: list[Change] = []
    creates = [c for c in changes if c.action is Action.CREATE and c.spec is not None]
    if creates:
        response = await admin.create_topics(
            [
                NewTopic(
                    c.topic, c.spec.partitions, c.spec.replicas, topic_configs=dict(c.spec.config)
                )
                for c in creates
                if c.spec is not None
            ]
        )
        _raise_errors(response)
        done += creates
    grow = {
        c.topic: NewPartitions(c.spec.partitions)
        for c in changes
        if c.action is Action.ADD_PARTITIONS and c.spec is not None
    }
    if grow:
        _raise_errors(await admin.create_partitions(grow))
        done += [c for c in changes if c.action is Action.ADD_PARTITIONS]
    alters = [c for c in changes if c.action is Action.ALTER_CONFIG]
    if alters:
        # AlterConfigs replaces a topic's whole set of overrides: send the ones it has as well.
        resources = [
            ConfigResource(
                ConfigResourceType.TOPIC, c.topic, {**overrides.get(c.topic, {}), **c.config}
            )
            for c in alters
        ]
        for response in await admin.alter_configs(resources):
            _raise_errors(response)
        done += alters
    deletes = [c.topic for c in changes if c.action is Action.DELETE]
    if deletes:
        _raise_errors(await admin.delete_topics(deletes))
        done += [c for c in changes if c.action is Action.DELETE]
    return done


class TopicChangeError(Exception):
    pass


def _raise_errors(response: Any) -> None:
    """Kafka answers admin requests with per-topic error codes instead of raising."""
    problems = []
    for topic, code, message in _errors(response):
        if code != 0:
            problems.append(f"{topic}: Kafka error {code}" + (f" ({message})" if message else ""))
    if problems:
        raise TopicChangeError("; ".join(problems))


def _errors(response: Any) -> Iterable[tuple[str, int, str]]:
    for topic, code, message in getattr(response, "topic_errors", None) or ():
        yield topic, code, message or ""
    for topic, code in getattr(response, "topic_error_codes", None) or ():
        yield topic, code, ""
    for code, message, _, name in getattr(response, "resources", None) or ():
        yield name, code, message or ""
