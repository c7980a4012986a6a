"""One consumer group: fetch, schedule per key, route verdicts, commit offsets.

Built on aiokafka directly, not FastStream: FastStream acks one message at a time per
subscriber, in order, which rules out what this module is for: many records of one partition in
flight at once (different keys), finishing out of order, committed up to the lowest unfinished
offset in one request per interval, with pause/resume backpressure and a rebalance listener that
commits on revoke.

Flow of a record:
1. Fetched (read_committed, no auto-commit) and added to its partition's `OffsetTracker`. A
   partition with too many open records is paused (backpressure) until they settle; handlers
   share the process's `Slots` (the concurrency limit), handed out oldest record first.
2. Decoded at once. Poison (not a CloudEvent, unknown type) is dead-lettered with the reason;
   a type known but not handled by this group is done ("ignored"). A payload that breaks the
   contract is found in step 5 and dead-lettered too, without retries.
3. A record from a delayed-retry topic waits until it is due, outside any lane (one waiter per
   retry partition: one delay per topic, so due times follow log order).
4. Queued in its key's lane (`KeyLanes`): one key runs one record at a time, in fetch order;
   records without a key, or of `ordered=False` subscribers, get a lane of their own. (Order is
   Kafka's: per key within one topic; records of one key on two topics never run at once, but
   their relative order is whatever the fetches give.)
   Retry holds (`Holds`): while an earlier record of the key is parked in a retry topic, a
   record that is not the head of the key is not run but parked behind the head (sent to the
   head's retry topic, keyed the same, so it lands after the head). A parked record runs when
   it becomes the head. So per-key order survives non-blocking retries.
5. The `Executor` runs the handler with immediate retries (exponential backoff, jitter); the
   verdict is routed: done; to the next delayed-retry topic (the key becomes held); or to the
   dead-letter topic (retries used up, `DeadLetter`, a never-retried exception, poison).
6. Only then is the offset marked done. A commit task commits, per partition, the lowest offset
   not yet done, every `commit_interval`. On shutdown (and for revoked partitions) fetching
   stops, what is fetched is finished within the timeout, then committed: only records still
   running at the timeout come again.

Holds live in this process. After a restart or rebalance they are rebuilt from the retry topics:
source partitions are held back until the retry partitions are read to their end (bounded by
backpressure and `warmup_timeout`). Several workers of one group keep them right because a
record goes to the retry partition with its source partition's number and the co-partitioned
assignor (`assignor.py`) gives partition i of every topic of the group to one member: a key's
source and retry partitions are always read by the same process. (Should a head still sit in a
partition owned elsewhere, e.g. topics of unequal partition counts, its hold is dropped rather
than stall the key.)
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Coroutine, Hashable
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

from .. import topics
from ..envelope import from_kafka
from ..errors import EnvelopeError, UnknownEventTypeError
from ..mesh import Inbound
from .assignor import CoPartitionedAssignor
from .backoff import delay_label
from .database import Database, DatabaseUnavailable
from .deadletter import (
    DeadLetterSink,
    FailureState,
)
from .handling import Done, Executor, Failed, failure
from .keys import Holds, KeyLanes, Origin
from .metrics import DEAD_LETTERS, HANDLED, IN_FLIGHT, LAG, OUTCOMES, RETRIES, RETRY_KINDS
from .offsets import OffsetTracker
from .router import Subscription
from .routing import Forwarder, Item, Source
from .settings import WorkerSettings
from .slots import Slots

log = structlog.get_logger("bizevents.worker")
NO_FAILURE = FailureState()


class GroupConsumer:
    def __init__(
        self,
        group: str,
        subscriptions: dict[str, Subscription],
        source_topics: list[str],
        contracts: Any,
        settings: WorkerSettings,
        producer: AIOKafkaProducer,
        slots: Slots,
        database: Database | None,
        sink: DeadLetterSink | None,
        *,
        inbound: Inbound | None = None,
    ) -> None:
        self.group = group
        # Records of Mendix topics: wire names back to contract types (see bizevents.mesh).
        self.inbound = inbound or None
        self.subs = subscriptions
        self.contracts = contracts
        self.settings = settings
        self.producer = producer
        self.sink = sink
        self.stopping = asyncio.Event()
        self.executor = Executor(
            group, contracts, slots, database, settings.inbox_schema, self.stopping
        )
        self.forward = Forwarder(group, producer, sink, self.stopping)
        self.source_topics = sorted(set(source_topics))
        delays = {d for s in subscriptions.values() for d in (s.retry.delays or ())}
        self.retry_topics = {topics.retry_topic(group, delay_label(d)): d for d in delays}
        self.replay_topic = topics.replay_topic(group)
        self.dead_letter_topic = topics.dead_letter_topic(group)
        self.consumer: AIOKafkaConsumer | None = None
        self.trackers: dict[TopicPartition, OffsetTracker] = {}
        self.lanes: KeyLanes[Item] = KeyLanes()
        self.holds = Holds()
        self.delayed: dict[TopicPartition, deque[tuple[Hashable, Item]]] = {}
        self.paused: set[TopicPartition] = set()
        self.warmup: dict[TopicPartition, int] = {}
        self.held_back: set[TopicPartition] = set()
        self.warmup_deadline = 0.0
        self.revoking: set[TopicPartition] = set()
        # Records handed to a key's lane and not finished yet (running or queued), per partition:
        # a stop or a revoke waits for these to reach zero.
        self.scheduled: dict[TopicPartition, int] = {}
        self._fetched = 0  # fetch order of records (their priority for handler slots)
        self.changed = asyncio.Condition()
        # Backpressure hysteresis: paused at max_pending_per_partition, resumed at half of it.
        self._resume_below = settings.max_pending_per_partition // 2
        self.draining = 0  # coroutines waiting in _wait_idle: only then notify `changed`
        self.commit_lock = asyncio.Lock()
        self.tasks: set[asyncio.Task[None]] = set()
        self._unique = 0
        self._outcomes: dict[str, Any] = {}
        self._fetch_task: asyncio.Task[None] | None = None
        self._commit_task: asyncio.Task[None] | None = None

    def _handled(self, outcome: str) -> Any:
        child = self._outcomes.get(outcome)
        if child is None:
            child = self._outcomes[outcome] = HANDLED.labels(self.group, outcome)
        return child

    @property
    def all_topics(self) -> list[str]:
        return [*self.source_topics, *sorted(self.retry_topics), self.replay_topic]

    # -- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        for outcome in OUTCOMES:
            self._handled(outcome)
        for kind in RETRY_KINDS:
            RETRIES.labels(self.group, kind)
        instance_id = self.settings.static_member_id()
        self.consumer = AIOKafkaConsumer(
            **self.settings.kafka_client_options(),
            group_id=self.group,
            group_instance_id=instance_id,
            # Co-partitioned first; round-robin only while older workers of the group still run
            # (the broker picks a strategy every member supports).
            partition_assignment_strategy=(CoPartitionedAssignor, RoundRobinPartitionAssignor),
            client_id=f"bizevents-worker-{self.group}",
            enable_auto_commit=False,
            isolation_level="read_committed",
            auto_offset_reset=self.settings.auto_offset_reset,
            max_poll_records=self.settings.fetch_max_records,
            fetch_max_wait_ms=self.settings.fetch_max_wait_ms,
            metadata_max_age_ms=self.settings.metadata_max_age_ms,
            session_timeout_ms=self.settings.session_timeout_ms,
            # A member finishes its revoked partitions' records before it rejoins: the broker
            # must wait that long (aiokafka's default is the session timeout).
            rebalance_timeout_ms=self.settings.session_timeout_ms
            + int(self.settings.revoke_timeout * 1000),
            heartbeat_interval_ms=max(100, self.settings.session_timeout_ms // 3),
        )
        await self.consumer.start()
        self.consumer.subscribe(self.all_topics, listener=_Listener(self))
        self._fetch_task = asyncio.create_task(self._fetch_loop(), name=f"fetch-{self.group}")
        self._commit_task = asyncio.create_task(self._commit_loop(), name=f"commit-{self.group}")
        log.info(
            "worker group started",
            group=self.group,
            topics=self.all_topics,
            static_member=instance_id,
        )

    async def stop(self, timeout: float) -> None:
        """Stop fetching; finish what is fetched (oldest first) within `timeout`; commit.

        Only records still unfinished at the timeout come again after a restart. Records in a
        delayed-retry topic that are not due yet are left for later, unrun.
        """
        self.stopping.set()
        if self._fetch_task is not None:
            await asyncio.gather(self._fetch_task, return_exceptions=True)
        left = sum(self.scheduled.values())
        log.info("finishing fetched records", group=self.group, records=left, timeout=timeout)
        drained = await self._wait_idle(lambda: not any(self.scheduled.values()), timeout)
        if not drained:
            log.warning(
                "shutdown timeout: cancelling unfinished handlers",
                group=self.group,
                unfinished=sum(self.scheduled.values()),
            )
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self._commit_task is not None:
            self._commit_task.cancel()
            await asyncio.gather(self._commit_task, return_exceptions=True)
        if self.consumer is not None:
            with contextlib.suppress(Exception):
                await self.commit()
            await self.consumer.stop()
        log.info("worker group stopped", group=self.group, drained=drained)

    def failed(self) -> BaseException | None:
        """The fetch loop's crash, if it crashed."""
        task = self._fetch_task
        if task is not None and task.done() and not task.cancelled():
            return task.exception()
        return None

    # -- fetching ---------------------------------------------------------------------------------
    async def _fetch_loop(self) -> None:
        assert self.consumer is not None
        while not self.stopping.is_set():
            batch = await self.consumer.getmany(
                timeout_ms=200, max_records=self.settings.fetch_max_records
            )
            for tp, records in batch.items():
                if tp in self.revoking:
                    continue
                tracker = self.trackers.setdefault(tp, OffsetTracker())
                for record in records:
                    if tracker.add(record.offset):
                        self._accept(tp, tracker, record)
                if tracker.pending >= self.settings.max_pending_per_partition:
                    self.consumer.pause(tp)
                    self.paused.add(tp)
            self._resume_settled()
            await self._check_warmup()
            IN_FLIGHT.labels(self.group).set(sum(t.pending for t in self.trackers.values()))

    def _resume_settled(self) -> None:
        assert self.consumer is not None
        ready = [
            tp
            for tp in self.paused
            if tp not in self.trackers or self.trackers[tp].pending <= self._resume_below
        ]
        if ready:
            self.paused.difference_update(ready)
            assigned = self.consumer.assignment()
            self.consumer.resume(*[tp for tp in ready if tp in assigned])

    def _accept(self, tp: TopicPartition, tracker: OffsetTracker, record: ConsumerRecord) -> None:
        source = (
            Source.RETRY
            if record.topic in self.retry_topics
            else Source.REPLAY
            if record.topic == self.replay_topic
            else Source.EVENTS
        )
        state = FailureState.from_headers(record.headers) if source is Source.RETRY else NO_FAILURE
        origin: Origin = (record.topic, record.partition, record.offset)
        if source is Source.RETRY and state.original_topic is not None:
            origin = (
                state.original_topic,
                state.original_partition or 0,
                state.original_offset or 0,
            )
        item = Item(record, tp, tracker, source, state, origin)
        self._fetched += 1
        item.seq = self._fetched
        try:
            item.envelope = from_kafka(record.key, record.value, record.headers)
            if self.inbound is not None:
                came_from = origin[0] if source is not Source.REPLAY else None
                item.envelope = self.inbound(came_from, item.envelope)
            item.sub = self.subs.get(item.envelope.type)
            if item.sub is None:
                if self.contracts is not None and item.envelope.type not in self.contracts:
                    raise UnknownEventTypeError(item.envelope.type)
                self._handled("ignored").inc()
                tracker.done(record.offset)  # another group's event on a shared topic
                return
        except (EnvelopeError, UnknownEventTypeError) as exc:
            item.poison = exc
        key = item.ordered_key
        if source is Source.RETRY and key is not None:
            self.holds.park(key, origin, self._tier_of(record.topic), (tp.topic, tp.partition))
        lane: Hashable = key if key is not None else self._next_unique()
        if source is Source.RETRY and (item.state.due_ms or 0) > time.time() * 1000:
            self._delay(lane, item)
        else:
            self._submit(lane, item)

    def _next_unique(self) -> Hashable:
        self._unique += 1
        return ("unordered", self._unique)

    def _submit(self, lane: Hashable, item: Item) -> None:
        self.scheduled[item.tp] = self.scheduled.get(item.tp, 0) + 1
        if self.lanes.submit(lane, item):
            self._spawn(self._run_lane(lane, item))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # -- delayed retries: wait outside the key's lane, so the lane keeps parking newcomers ---------
    def _delay(self, lane: Hashable, item: Item) -> None:
        queue = self.delayed.setdefault(item.tp, deque())
        queue.append((lane, item))
        if len(queue) == 1:
            self._spawn(self._release_when_due(item.tp, queue))

    async def _release_when_due(
        self, tp: TopicPartition, queue: deque[tuple[Hashable, Item]]
    ) -> None:
        """One waiter per retry partition: one delay per topic, so due times are in log order."""
        while queue and not self.stopping.is_set():
            lane, item = queue[0]
            wait = (item.state.due_ms or 0) / 1000 - time.time()
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), wait)
                continue
            queue.popleft()
            self._submit(lane, item)
        if self.delayed.get(tp) is queue and not queue:
            del self.delayed[tp]

    # -- a key's lane -----------------------------------------------------------------------------
    async def _run_lane(self, lane: Hashable, first: Item) -> None:
        item: Item | None = first
        while item is not None:
            try:
                # Also while stopping or revoking: what is fetched is finished, then committed.
                if self.trackers.get(item.tp) is item.tracker:
                    await self._run_one(item)
            finally:
                self.scheduled[item.tp] -= 1
                if self.draining:
                    async with self.changed:
                        self.changed.notify_all()
            item = self.lanes.next(lane)

    async def _run_one(self, item: Item) -> None:
        try:
            await self._process(item)
            item.tracker.done(item.record.offset)
            if item.tp in self.paused and item.tracker.pending <= self._resume_below:
                self._resume_settled()  # at once: waiting for the next fetch round idles
        except asyncio.CancelledError:
            raise
        except DatabaseUnavailable:
            pass  # stopping during a database outage: the offset stays open, it comes again
        except Exception:
            # A bug or Kafka unavailable past the producer's retries: the offset stays open, so
            # the record comes back after a restart.
            log.exception("record left unfinished", group=self.group, offset=item.record.offset)

    async def _wait_idle(self, idle: Callable[[], bool], timeout: float) -> bool:
        """Wait until `idle()` (nothing scheduled on some partitions), at most `timeout`."""
        self.draining += 1
        try:
            async with self.changed:
                return await _wait_for(self.changed, idle, timeout)
        finally:
            self.draining -= 1

    async def _process(self, item: Item) -> None:
        if item.poison is not None:
            await self._dead_letter(item, failure(item.poison, item.state.attempts, dead=True))
            return
        assert item.envelope is not None and item.sub is not None
        key = item.ordered_key
        if key is not None:
            self._forget_foreign_head(key)
        if key is not None and not self.holds.is_head(key, item.origin):
            head = self.holds.head(key)
            assert head is not None
            tier = max(head.tier, self._tier_of(item.record.topic))
            await self._park(item, key, tier)
            return
        verdict = await self.executor.run(
            item.sub,
            item.envelope,
            item.state.attempts,
            (item.record.topic, item.record.partition, item.record.offset),
            item.seq,
        )
        if isinstance(verdict, Done):
            self._handled(verdict.outcome).inc()
            if key is not None:
                self.holds.release(key, item.origin)
            return
        delay = None if verdict.dead else self._next_delay(item, verdict)
        if delay is None:
            await self._dead_letter(item, verdict)
            if key is not None:
                self.holds.release(key, item.origin)
            return
        await self._retry(item, verdict, delay, key)

    def _assigned(self, location: tuple[str, int]) -> bool:
        assert self.consumer is not None
        return TopicPartition(*location) in self.consumer.assignment()

    def _hold(self, key: bytes, origin: Origin, tier: float, location: tuple[str, int]) -> None:
        """Hold the key for a record just sent to a retry partition, if we consume that partition:
        another worker's partition would never give the record back to us."""
        if self._assigned(location):
            self.holds.park(key, origin, tier, location)
        else:
            self.holds.release(key, origin)

    def _forget_foreign_head(self, key: bytes) -> None:
        """Safety net: a head parked in a partition we no longer own can never resolve here."""
        head = self.holds.head(key)
        while head is not None and head.location is not None and not self._assigned(head.location):
            self.holds.release(key, head.origin)
            head = self.holds.head(key)

    def _next_delay(self, item: Item, verdict: Failed) -> float | None:
        """The delayed-retry tier for this failure, or None when retries are used up."""
        assert item.sub is not None
        delays = item.sub.retry.delays or ()
        remaining = list(delays[item.state.stage :])
        if not remaining:
            return None
        if verdict.after is not None:
            return next((d for d in remaining if d >= verdict.after), remaining[-1])
        return remaining[0]

    def _tier_of(self, topic: str) -> float:
        return self.retry_topics.get(topic, 0.0)

    # -- routing ----------------------------------------------------------------------------------
    async def _retry(self, item: Item, verdict: Failed, delay: float, key: bytes | None) -> None:
        assert item.sub is not None
        stage = list(item.sub.retry.delays or ()).index(delay, item.state.stage) + 1
        topic, partition = await self.forward.retry(item, verdict, delay, stage)
        RETRIES.labels(self.group, "delayed").inc()
        self._handled("retry").inc()
        if key is not None:
            self._hold(key, item.origin, delay, (topic, partition))

    async def _park(self, item: Item, key: bytes, delay: float) -> None:
        """Route a record behind the head of its key, without running it."""
        topic, partition = await self.forward.park(item, delay)
        self._hold(key, item.origin, delay, (topic, partition))
        self._handled("parked").inc()

    async def _dead_letter(self, item: Item, verdict: Failed) -> None:
        await self.forward.dead_letter(item, verdict)
        DEAD_LETTERS.labels(self.group, verdict.error_type).inc()
        self._handled("dead_letter").inc()

    # -- commits and rebalances -------------------------------------------------------------------
    async def _commit_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.commit_interval)
            try:
                await self.commit()
            except Exception as exc:
                # Rebalancing or the coordinator moved: the next round (or the revoke) commits.
                log.warning("commit failed", group=self.group, error=str(exc))

    async def commit(self, only: set[TopicPartition] | None = None) -> dict[TopicPartition, int]:
        """Commit, in one request, the committable offset of every (or the given) partition."""
        assert self.consumer is not None
        async with self.commit_lock:
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
            return offsets

    def _report_lag(self) -> None:
        assert self.consumer is not None
        for tp, tracker in self.trackers.items():
            high = self.consumer.highwater(tp)
            position = tracker.position
            if high is not None and position is not None:
                LAG.labels(self.group, tp.topic, str(tp.partition)).set(max(0, high - position))

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        """Finish what is fetched from the revoked partitions (within `revoke_timeout`), commit
        it, forget them. Their new owner starts from that commit."""
        self.revoking.update(revoked)
        started = time.monotonic()
        left = sum(self.scheduled.get(tp, 0) for tp in revoked)
        finished = await self._wait_idle(
            lambda: not any(self.scheduled.get(tp, 0) for tp in revoked),
            self.settings.revoke_timeout,
        )
        if not finished:
            log.warning("revoke timeout: unfinished records will come again", group=self.group)
        try:
            await self.commit(only=revoked)
        except Exception as exc:
            log.warning("commit on revoke failed", group=self.group, error=str(exc))
        for tp in revoked:
            self.trackers.pop(tp, None)
            self.delayed.pop(tp, deque()).clear()
            self.paused.discard(tp)
            self.warmup.pop(tp, None)
            self.held_back.discard(tp)
        self.holds.release_locations({(tp.topic, tp.partition) for tp in revoked})
        log.info(
            "partitions revoked",
            group=self.group,
            partitions=len(revoked),
            finished=left,
            seconds=round(time.monotonic() - started, 2),
        )

    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        self.revoking.difference_update(assigned)
        for tp in assigned:
            # A partition we get back starts from the committed offset: fresh bookkeeping.
            self.trackers.pop(tp, None)
        await self._start_warmup(assigned)

    # -- warm-up: rebuild holds from the retry topics before running source records -------------
    async def _start_warmup(self, assigned: set[TopicPartition]) -> None:
        """Hold back the source partitions until the retry partitions are read to their current
        end: records parked there before a restart or rebalance hold their keys again first."""
        assert self.consumer is not None
        retry_tps = [tp for tp in assigned if tp.topic in self.retry_topics]
        if not retry_tps:
            return
        try:
            ends = await self.consumer.end_offsets(retry_tps)
            targets = {}
            for tp, end in ends.items():
                if end > (await self.consumer.committed(tp) or 0):
                    targets[tp] = end
        except Exception as exc:  # best effort: never block consuming on it
            log.warning("retry warm-up skipped", group=self.group, error=str(exc))
            return
        if not targets:
            return
        self.warmup = targets
        self.held_back = {tp for tp in assigned if tp.topic not in self.retry_topics}
        self.consumer.pause(*self.held_back)
        self.warmup_deadline = time.monotonic() + self.settings.warmup_timeout
        log.info("reading retry topics first", group=self.group, partitions=len(targets))

    async def _check_warmup(self) -> None:
        if not self.held_back:
            return
        assert self.consumer is not None
        assigned = self.consumer.assignment()
        for tp, end in list(self.warmup.items()):
            # Paused by backpressure: as much as we can hold is in memory already.
            if tp in self.paused or tp not in assigned or await self.consumer.position(tp) >= end:
                del self.warmup[tp]
        if self.warmup and time.monotonic() < self.warmup_deadline:
            return
        self.warmup.clear()
        ready = [tp for tp in self.held_back if tp in assigned and tp not in self.paused]
        self.held_back.clear()
        self.consumer.resume(*ready)


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, group: GroupConsumer) -> None:
        self.group = group

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.group.on_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self.group.on_assigned(set(assigned))


async def _wait_for(cond: asyncio.Condition, predicate: Callable[[], bool], timeout: float) -> bool:
    """Condition.wait_for with a timeout; the caller holds `cond`."""
    try:
        await asyncio.wait_for(cond.wait_for(predicate), timeout)
        return True
    except TimeoutError:
        return predicate()
