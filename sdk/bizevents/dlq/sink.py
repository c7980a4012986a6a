"""The worker's `dead_letter_sink` hook, storing each dead letter straight into PostgreSQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ..logging import get_logger
from .model import DeadLetterLike, from_dead_letter
from .store import DeadLetterStore

log = get_logger(__name__)


def store_sink(store: DeadLetterStore) -> Callable[[DeadLetterLike], Awaitable[None]]:
    """`Worker(..., dead_letter_sink=store_sink(store))`: idempotent on the original record's
    (group, topic, partition, offset), so a record dead-lettered twice keeps one row."""

    async def sink(dead_letter: DeadLetterLike) -> None:
        record = from_dead_letter(dead_letter)
        letter_id, inserted = await store.add(record)
        log.info(
            "dead letter stored",
            id=letter_id,
            new=inserted,
            group=record.group,
            event_id=record.event_id,
            event_type=record.event_type,
        )

    return sink
