"""Topics the worker creates follow the settings (replication factor) and the contracts
(x-bizevents-retention), not hard-coded values or the broker's defaults."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from bizevents import Events
from bizevents.worker import Context, Worker
from contracts.helpers import document, thing_channel, write

from .worker_helpers import running

pytestmark = [pytest.mark.services]


async def _retention(admin: AIOKafkaAdminClient, topic: str) -> str:
    (response,) = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    for resource in response.resources:
        for entry in resource[4]:  # (error code, message, type, name, config entries)
            if entry[0] == "retention.ms":
                return str(entry[1])
    raise AssertionError(f"no retention.ms for {topic}")


async def test_event_topic_gets_the_contract_retention(
    kafka_admin: AIOKafkaAdminClient, fast_settings: Any, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:8]
    etype = f"com.acme.things.Kept{suffix}.v1"
    channel = thing_channel(etype, **{"x-bizevents-retention": "3d"})
    channel["x-bizevents-subscribers"] = ["keeper"]
    write(tmp_path, "things.yaml", document(events={"kept": channel}))
    events = Events(app="keeper", contracts=tmp_path)

    @events.subscriber(etype, group=f"keeper-{suffix}")
    async def handle(event: dict[str, Any], ctx: Context) -> None:
        pass

    async with running(Worker(events, fast_settings(topic_replication_factor=1))):
        assert etype in await kafka_admin.list_topics()
        assert await _retention(kafka_admin, etype) == str(3 * 24 * 3600 * 1000)
        # The group's own topics exist too, created with the configured replication factor.
        described = await kafka_admin.describe_topics([f"bizevents.dlq.keeper-{suffix}"])
        assert len(described[0]["partitions"][0]["replicas"]) == 1
