"""A topic plan as Strimzi `KafkaTopic` resources (kafka.strimzi.io/v1beta2)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any

from .topicplan import TopicSpec

API_VERSION = "kafka.strimzi.io/v1beta2"
_NOT_DNS = re.compile(r"[^a-z0-9.-]+")


def resource_name(topic: str) -> str:
    """A Kubernetes object name (DNS-1123 subdomain) for a topic name, which may hold capitals
    and underscores: lowercased, with a short hash when that changed it (no two topics collide)."""
    name = _NOT_DNS.sub("-", topic.lower()).strip(".-")
    if name != topic:
        name = f"{name[:200]}-{hashlib.sha256(topic.encode()).hexdigest()[:8]}"
    return name


def kafka_topic(spec: TopicSpec, cluster: str, namespace: str | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": resource_name(spec.name),
        "labels": {
            "strimzi.io/cluster": cluster,
            "app.kubernetes.io/part-of": "bizevents",
            "bizevents.io/role": spec.role.value,
        },
    }
    if namespace:
        metadata["namespace"] = namespace
    body: dict[str, Any] = {"partitions": spec.partitions, "replicas": spec.replicas}
    if metadata["name"] != spec.name:
        body["topicName"] = spec.name
    if spec.config:
        body["config"] = {k: _config_value(v) for k, v in sorted(spec.config.items())}
    return {"apiVersion": API_VERSION, "kind": "KafkaTopic", "metadata": metadata, "spec": body}


def _config_value(value: str) -> int | str:
    # Strimzi takes numbers as numbers (retention.ms: 604800000).
    return int(value) if re.fullmatch(r"-?[0-9]+", value) else value


def kafka_topics(
    specs: Iterable[TopicSpec], cluster: str, namespace: str | None = None
) -> list[dict[str, Any]]:
    return [kafka_topic(spec, cluster, namespace) for spec in specs]
