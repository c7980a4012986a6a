"""Replay of stored dead letters: each goes, unchanged, to its group's replay topic, which only
that group's worker reads; the worker dispatches it to the handler of its CloudEvent type."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from aiokafka import AIOKafkaProducer

from ..deadletter import Status
from ..logging import get_logger
from ..topics import replay_topic
from .kafka import ensure_topics, replay_producer
from .query import DeadLetterFilter
from .settings import DeadLetterSettings
from .store import DeadLetterStore

log = get_logger(__name__)

Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class ReplayResult:
    replayed: int
    skipped: int  # purged letters have no bytes left


def replayable(f: DeadLetterFilter) -> DeadLetterFilter:
    """Replays take 'dead' letters unless a status is asked for; purged ones never."""
    statuses = tuple(s for s in (f.statuses or (Status.DEAD,)) if s is not Status.PURGED)
    return replace(f, statuses=statuses or (Status.DEAD,))


async def replay_dead_letters(
    store: DeadLetterStore,
    f: DeadLetterFilter,
    settings: DeadLetterSettings | None = None,
    *,
    producer: AIOKafkaProducer | None = None,
    on_progress: Progress | None = None,
) -> ReplayResult:
    """Sends matching letters oldest first; a batch is marked replayed only after Kafka
    acknowledged all of it, so a crash mid-replay at worst replays a batch twice."""
    settings = settings or DeadLetterSettings()
    f = replayable(f)
    groups: set[str] = set()
    own = producer is None
    prod = producer or replay_producer(settings)
    if own:
        await prod.start()
    replayed = skipped = 0
    try:
        pending: list[tuple[int, datetime, asyncio.Future[object]]] = []
        ensured: set[str] = set()

        async def flush() -> None:
            nonlocal replayed
            if not pending:
                return
            await asyncio.gather(*(fut for _, _, fut in pending))
            await store.mark_replayed([i for i, _, _ in pending], [t for _, t, _ in pending])
            replayed += len(pending)
            if on_progress:
                on_progress(len(pending))
            pending.clear()

        async for letter in store.iterate(f, batch=settings.replay_batch):
            if letter.value is None:
                skipped += 1
                if on_progress:
                    on_progress(1)
                continue
            groups.add(letter.group)
            topic = replay_topic(letter.group)
            if topic not in ensured:
                await ensure_topics(settings, [topic])
                ensured.add(topic)
            # The marker: if it fails again, the worker's letter updates this row.
            headers = replace(letter, replay_of=letter.id).travelling_headers()
            fut = await prod.send(topic, value=letter.value, key=letter.key, headers=headers)
            pending.append((letter.id, letter.last_failure, fut))
            if len(pending) >= settings.replay_batch:
                await flush()
        await flush()
    finally:
        if own:
            await prod.stop()
    log.info("dead letters replayed", replayed=replayed, skipped=skipped, groups=sorted(groups))
    return ReplayResult(replayed, skipped)
