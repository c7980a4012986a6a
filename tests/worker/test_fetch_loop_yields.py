"""The fetch loop lets other tasks run between fetches, however much is buffered.

aiokafka's `getmany` returns buffered records without suspending. A worker whose retry warm-up
scanned tens of thousands of parked records in one stretch starved the consumer's heartbeat, the
group expired it mid-scan, the next assignment started the scan again, and the worker handled
nothing more (found by the long chaos run: 32k parked records, a 6 s session timeout). The
in-memory consumer behaves like aiokafka here, so the starvation shows without timing: a task
that counts its turns must get one between any two fetches.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bizevents import topics
from bizevents.deadletter import DeadLetterRecord
from bizevents.envelope import to_kafka
from bizevents.testing import MemoryConsumer, TestEvents
from bizevents.worker import Context, Router
from bizevents.worker.backoff import delay_label

from .worker_helpers import envelope, wait_until

PARKED = 3_000


async def test_a_long_warm_up_scan_leaves_room_for_the_heartbeat(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    etype, group = f"test.{uuid.uuid4().hex[:8]}.Thing.v1", f"g-{uuid.uuid4().hex[:8]}"
    router = Router()

    @router.subscriber(etype, group=group)
    async def handle(event: dict[str, int], ctx: Context) -> None:
        return None

    harness = TestEvents(router, time_scale=1, partitions=1,
                         settings={"retry_delays": [30.0], "fetch_max_records": 50})  # fmt: skip
    assert harness.memory is not None
    # Records parked in the retry topic by an earlier worker, due long after this test.
    due, now = datetime.now(UTC) + timedelta(hours=1), datetime.now(UTC)
    retry_topic = topics.retry_topic(group, delay_label(30.0))
    for n in range(PARKED):
        key, value, headers = to_kafka(envelope(etype, {"n": n}, key=f"k{n % 40}"))
        letter = DeadLetterRecord(
            group=group, original_topic=etype, original_partition=0, original_offset=n,
            error="parked", error_type="Parked", attempts=0, first_failure=now,
            last_failure=now, key=key, value=value, headers=headers,
        )  # fmt: skip
        await harness.memory.append(retry_topic, *_value_key_headers(letter, due))

    turns = 0
    seen: list[tuple[int, bool]] = []  # (turns of the other task, records returned) per fetch
    original = MemoryConsumer.getmany

    async def counted(self: MemoryConsumer, *args: Any, **kwargs: Any) -> Any:
        batch = await original(self, *args, **kwargs)
        seen.append((turns, bool(batch)))
        return batch

    async def other_task() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    monkeypatch.setattr(MemoryConsumer, "getmany", counted)
    ticker = asyncio.create_task(other_task())
    try:
        async with harness:
            consumer_group = harness.worker.groups[0] if harness.worker else None
            assert consumer_group is not None
            await wait_until(lambda: len(seen) > PARKED // 50 and not consumer_group.warmup.units)
    finally:
        ticker.cancel()
    fetches_with_records = [i for i in range(1, len(seen)) if seen[i - 1][1]]
    assert len(fetches_with_records) >= PARKED // 50  # the scan came in many fetches
    starved = [i for i in fetches_with_records if seen[i][0] == seen[i - 1][0]]
    assert starved == [], f"{len(starved)} fetches followed another without a turn for others"


def _value_key_headers(letter: DeadLetterRecord, due: datetime) -> tuple[Any, Any, Any]:
    key, value, headers = letter.retry_record(1, due, parked=True)
    return value, key, headers
