"""A worker joins its group with the same protocols every time.

aiokafka 0.14 sends one JoinGroup per configured assignor, each with one more protocol than the
last (aio-libs/aiokafka#1168). The broker takes the second as a member whose metadata changed
and rebalances again, and a group of several workers rebalanced for minutes (seen in the
multi-worker test: 1,661 rebalances in five minutes). This test watches the JoinGroup requests
a consumer configured like the worker's sends to the real Kafka.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from bizevents.worker.assignor import ASSIGNMENT_STRATEGY

from .worker_helpers import Kafka, wait_until

pytestmark = pytest.mark.services


async def test_every_join_group_request_offers_the_same_protocols(
    kafka: Kafka, group: str, services: Any
) -> None:
    topic = await kafka.new_type(partitions=2)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=services.kafka_bootstrap,
        group_id=group,
        partition_assignment_strategy=ASSIGNMENT_STRATEGY,
        enable_auto_commit=False,
    )
    await consumer.start()
    offered: list[list[tuple[str, bytes]]] = []
    coordinator = consumer._coordinator  # the seam: every group request goes through _send_req
    send = coordinator._send_req

    async def watching(request: Any) -> Any:
        if type(request).__name__.startswith("JoinGroupRequest"):
            offered.append([tuple(p) for p in request._group_protocols])
        return await send(request)

    coordinator._send_req = watching
    try:
        consumer.subscribe([topic])
        await wait_until(lambda: bool(consumer.assignment()), 30)
        await asyncio.sleep(0.5)
    finally:
        await consumer.stop()
    assert offered, "no JoinGroup seen"
    assert all(protocols == offered[0] for protocols in offered), offered
    assert [name for name, _ in offered[0]] == [a.name for a in ASSIGNMENT_STRATEGY]
