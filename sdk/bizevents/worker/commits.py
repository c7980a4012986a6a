"""Offset commits of one group: per partition, the lowest offset not yet done, in one request for
all partitions, every `commit_interval` (and on revoke and stop). Never one per message."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from aiokafka import TopicPartition

from .metrics import LAG, GroupMetrics
from .offsets import OffsetTracker

log = structlog.get_logger("bizevents.worker")


class Commits:
    def __init__(self, group: str, interval: float, metrics: GroupMetrics) -> None:
        self.group = group
        self.interval = interval
        self.metrics = metrics
        self.trackers: dict[TopicPartition, OffsetTracker] = {}
        self.consumer: Any = None  # set when the group starts
        self._lock = asyncio.Lock()

    def tracker(self, tp: TopicPartition) -> OffsetTracker:
        tracker = self.trackers.get(tp)
        if tracker is None:
            tracker = self.trackers[tp] = OffsetTracker()
        return tracker

    async def loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.commit()
            except Exception as exc:
                # Rebalancing or the coordinator moved: the next round (or the revoke) commits.
                log.warning("commit failed", group=self.group, error=str(exc))

    async def commit(self, only: set[TopicPartition] | None = None) -> dict[TopicPartition, int]:
        """Commit, in one request, the committable offset of every (or the given) partition."""
        assert self.consumer is not None
        async with self._lock:
            offsets: dict[TopicPartition, int] = {}
            for tp, tracker in self.trackers.items():
                if only is not None and tp not in only:
                    continue
                offset = tracker.committable()
                if offset is not None:
                    offsets[tp] = offset
            if offsets:
                await self.consumer.commit(offsets)
                for tp, offset in offsets.items():
                    self.trackers[tp].committed(offset)
            self._report_lag()
            self.metrics.flush()
            return offsets

    def _report_lag(self) -> None:
        for tp, tracker in self.trackers.items():
            high = self.consumer.highwater(tp)
            position = tracker.position
            if high is not None and position is not None:
                LAG.labels(self.group, tp.topic, str(tp.partition)).set(max(0, high - position))
