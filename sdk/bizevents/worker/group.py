"""One consumer group: fetch, schedule per key, route verdicts, commit offsets.

Built on aiokafka directly, not FastStream: FastStream acks one message at a time per
subscriber, in order, which rules out what this module is for: many records of one partition in
flight at once (different keys), finishing out of order, committed up to the lowest unfinished
offset in one request per interval, with pause/resume backpressure and a rebalance listener that
commits on revoke.

Flow of a record:
1. Fetched (read_committed, no auto-commit) in batches; each partition's share of a batch is one
   offset run of its `OffsetTracker`. A partition with too many open records is paused
   (backpressure) until they settle.
2. Decoded at once, the whole batch in one loop (`_intake`). Poison (not a CloudEvent, unknown
   type) is dead-lettered with the reason; a type known but not handled by this group is done
   ("ignored"). A payload that breaks the contract is found in step 5 and dead-lettered too,
   without retries.
3. A record from a delayed-retry topic waits until it is due, outside any lane (one waiter per
   retry partition: one delay per topic, so due times follow log order).
4. Queued in its key's lane (`KeyLanes`): one key runs one record at a time, in fetch order;
   records without a key, or of `ordered=False` subscribers, get a lane of their own. The
   process's `Scheduler` runs the first record of every lane on a fixed pool of `concurrency`
   long-lived tasks, oldest record first (no task or semaphore per record). (Order is
   Kafka's: per key within one topic; records of one key on two topics never run at once, but
   their relative order is whatever the fetches give.)
   Retry holds (`Holds`): while an earlier record of the key is parked in a retry topic, a
   record that is not the head of the key is not run but parked behind the head (sent to the
   head's retry topic, keyed the same, so it lands after the head). A parked record runs when
   it becomes the head. So per-key order survives non-blocking retries.
5. The handler runs (`run`: the first attempt inline, then `Executor` for immediate retries with
   exponential backoff and jitter, inbox transactions, database outages); the verdict is routed:
   done; to the next delayed-retry topic (the key becomes held); or to the dead-letter topic
   (retries used up, `DeadLetter`, a never-retried exception, poison).
6. Only then is the offset marked done (a flag in its run). A commit task commits, per partition,
   the lowest offset not yet done, every `commit_interval`; outcome counts and handler times are
   kept in plain numbers and added to the Prometheus metrics once per batch and commit.
   On shutdown (and for revoked partitions) fetching stops, what is fetched is finished within
   the timeout, then committed: only records still running at the timeout come again.

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
from collections.abc import Callable, Coroutine
from time import perf_counter
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
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
from .handling import DECODE_ERRORS, Done, Executor, Failed, Verdict, failure
from .keys import Holds, KeyLanes, Origin
from .metrics import DEAD_LETTERS, IN_FLIGHT, LAG, RETRIES, GroupMetrics
from .offsets import OffsetTracker, Run
from .outcomes import Outcome
from .router import Subscription
from .routing import Forwarder, Item, Source
from .scheduler import Scheduler
from .settings import WorkerSettings

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
        scheduler: Scheduler,
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
        self.closed = False  # stopped: records still queued are left unrun (and uncommitted)
        self.scheduler = scheduler
        self.metrics = GroupMetrics(group)
        self.executor = Executor(
            group, contracts, self.metrics, database, settings.inbox_schema, self.stopping
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
        self.delayed: dict[TopicPartition, deque[Item]] = {}
        self.paused: set[TopicPartition] = set()
        self.warmup: dict[TopicPartition, int] = {}
        self.held_back: set[TopicPartition] = set()
        self.warmup_deadline = 0.0
        self.revoking: set[TopicPartition] = set()
        # Records handed to a key's lane and not finished yet (running or queued), per partition:
        # a stop or a revoke waits for these to reach zero.
        self.scheduled: dict[TopicPartition, int] = {}
        self.changed = asyncio.Condition()
        # Backpressure hysteresis: paused at max_pending_per_partition, resumed at half of it.
        self._resume_below = settings.max_pending_per_partition // 2
        self.draining = 0  # coroutines waiting in _wait_idle: only then notify `changed`
        self.commit_lock = asyncio.Lock()
        self.tasks: set[asyncio.Task[None]] = set()
        self._fetch_task: asyncio.Task[None] | None = None
        self._commit_task: asyncio.Task[None] | None = None

    @property
    def all_topics(self) -> list[str]:
        return [*self.source_topics, *sorted(self.retry_topics), self.replay_topic]

    # -- lifecycle ---------------------------------------------------------------------------------
    async def start(self, consumer: Any = None) -> None:
        """Join the group and start fetching; `consumer`: one made elsewhere (the in-memory
        harness), with AIOKafkaConsumer's calls, instead of a Kafka consumer."""
        instance_id = self.settings.static_member_id()
        if consumer is not None:
            self.consumer = consumer
        else:
            self.consumer = await self._kafka_consumer(instance_id)
        self.consumer.subscribe(self.all_topics, listener=_Listener(self))
        self._fetch_task = asyncio.create_task(self._fetch_loop(), name=f"fetch-{self.group}")
        self._commit_task = asyncio.create_task(self._commit_loop(), name=f"commit-{self.group}")
        log.info(
            "worker group started",
            group=self.group,
            topics=self.all_topics,
            static_member=instance_id,
        )

    async def _kafka_consumer(self, instance_id: str | None) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(
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
        await consumer.start()
        return consumer

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
        self.closed = True
        self.scheduler.cancel(self)
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        # Cancelled handlers end at their next step: let them, briefly.
        for _ in range(100):
            if not self.scheduler.busy(self):
                break
            await asyncio.sleep(0.01)
        if self._commit_task is not None:
            self._commit_task.cancel()
            await asyncio.gather(self._commit_task, return_exceptions=True)
        if self.consumer is not None:
            with contextlib.suppress(Exception):
                await self.commit()
            await self.consumer.stop()
        self.metrics.flush()
        log.info("worker group stopped", group=self.group, drained=drained)

    def failed(self) -> BaseException | None:
        """The fetch loop's crash, if it crashed."""
        task = self._fetch_task
        if task is not None and task.done() and not task.cancelled():
            return task.exception()
        return None

    # -- fetching and intake ----------------------------------------------------------------------
    async def _fetch_loop(self) -> None:
        consumer = self.consumer
        assert consumer is not None
        limit = self.settings.max_pending_per_partition
        while not self.stopping.is_set():
            batch = await consumer.getmany(
                timeout_ms=200, max_records=self.settings.fetch_max_records
            )
            for tp, records in batch.items():
                if tp in self.revoking:
                    continue
                tracker = self.trackers.get(tp)
                if tracker is None:
                    tracker = self.trackers[tp] = OffsetTracker()
                run = tracker.add_run(records)
                if run is not None:
                    self._intake(tp, run)
                if tracker.pending >= limit:
                    consumer.pause(tp)
                    self.paused.add(tp)
            self._resume_settled()
            await self._check_warmup()
            IN_FLIGHT.labels(self.group).set(sum(t.pending for t in self.trackers.values()))
            self.metrics.flush()

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

    def _intake(self, tp: TopicPartition, run: Run) -> None:
        """Decode one partition's fetched records in one loop and queue each in its key's lane
        (in offset order); poison is queued too, for the dead-letter topic."""
        topic = tp.topic
        source = (
            Source.RETRY
            if topic in self.retry_topics
            else Source.REPLAY
            if topic == self.replay_topic
            else Source.EVENTS
        )
        retry = source is Source.RETRY
        # Records of Mendix topics: where they came from decides their contract type.
        came_from = topic if source is not Source.REPLAY else None
        subs, inbound, contracts = self.subs, self.inbound, self.contracts
        next_seq = self.scheduler.next_seq
        now_ms = time.time() * 1000 if retry else 0.0
        queued = 0
        for index, record in enumerate(run.records):
            state = NO_FAILURE
            origin: Origin = (topic, record.partition, record.offset)
            if retry:
                state = FailureState.from_headers(record.headers)
                if state.original_topic is not None:
                    origin = (
                        state.original_topic,
                        state.original_partition or 0,
                        state.original_offset or 0,
                    )
            envelope = sub = poison = None
            try:
                envelope = from_kafka(record.key, record.value, record.headers)
                if inbound is not None:
                    envelope = inbound(origin[0] if retry else came_from, envelope)
                sub = subs.get(envelope.type)
                if sub is None:
                    if contracts is not None and envelope.type not in contracts:
                        raise UnknownEventTypeError(envelope.type)
                    self.metrics.handled["ignored"] += 1
                    run.done(index)  # another group's event on a shared topic
                    continue
            except (EnvelopeError, UnknownEventTypeError) as exc:
                poison = exc
            item = Item(
                record, tp, run, index, source, state, origin, envelope, sub, poison, next_seq()
            )
            if retry:
                if item.key is not None:
                    self.holds.park(item.key, origin, self._tier_of(topic), (topic, tp.partition))
                if (state.due_ms or 0) > now_ms:
                    self._delay(item)
                    continue
            self._queue(item)
            queued += 1
        if queued:
            self.scheduled[tp] = self.scheduled.get(tp, 0) + queued

    def _queue(self, item: Item) -> None:
        """Into its key's lane (the caller counts it in `scheduled`)."""
        key = item.key
        if key is None or self.lanes.claim(key, item):
            self.scheduler.ready(self, item)

    def following(self, item: Item) -> Item | None:
        """The next record of `item`'s lane (the scheduler runs it next)."""
        return None if item.key is None else self.lanes.next(item.key)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # -- delayed retries: wait outside the key's lane, so the lane keeps parking newcomers ---------
    def _delay(self, item: Item) -> None:
        queue = self.delayed.setdefault(item.tp, deque())
        queue.append(item)
        if len(queue) == 1:
            self._spawn(self._release_when_due(item.tp, queue))

    async def _release_when_due(self, tp: TopicPartition, queue: deque[Item]) -> None:
        """One waiter per retry partition: one delay per topic, so due times are in log order."""
        while queue and not self.stopping.is_set():
            item = queue[0]
            wait = (item.state.due_ms or 0) / 1000 - time.time()
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), wait)
                continue
            queue.popleft()
            self.scheduled[tp] = self.scheduled.get(tp, 0) + 1
            self._queue(item)
        if self.delayed.get(tp) is queue and not queue:
            del self.delayed[tp]

    # -- running one record (called by the scheduler's tasks, one record of a key at a time) -------
    async def run(self, item: Item) -> None:
        """Run one record and mark it done. The usual case (no hold on its key, no inbox) makes
        the first attempt right here, a call less per record; anything else, and any failure,
        goes through `Executor.run` (immediate retries) and `_settle` (retry topics, dead
        letters)."""
        tp = item.tp
        try:
            # Also while stopping or revoking: what is fetched is finished, then committed.
            tracker = item.run.tracker
            if self.closed or self.trackers.get(tp) is not tracker:
                return
            try:
                key, sub, envelope = item.key, item.sub, item.envelope
                if (
                    sub is None
                    or envelope is None
                    or item.poison is not None
                    or (key is not None and self.holds.held(key))
                    or sub.inbox
                ):
                    await self._process(item)
                else:
                    record = item.record
                    executor = self.executor
                    attempts = item.state.attempts
                    try:
                        event = executor.decode(sub, envelope)
                    except DECODE_ERRORS as exc:
                        await self._settle(item, failure(exc, attempts, dead=True))
                    else:
                        ctx = executor.context(
                            envelope, attempts + 1, record.topic, record.partition, record.offset
                        )
                        failed: Exception | None = None
                        started = perf_counter()
                        try:
                            result = await sub.handler(event, ctx)
                            if isinstance(result, Outcome):
                                failed = result
                        except Exception as exc:
                            failed = exc
                        finally:
                            self.metrics.observe(envelope.type, perf_counter() - started)
                        if failed is None:
                            self.metrics.handled["success"] += 1
                        else:
                            verdict = await executor.run(
                                sub,
                                envelope,
                                attempts,
                                record.topic,
                                record.partition,
                                record.offset,
                                event=event,
                                first=failed,
                            )
                            await self._settle(item, verdict)
            except asyncio.CancelledError:
                raise
            except DatabaseUnavailable:
                return  # stopping during a database outage: the offset stays open, it comes again
            except Exception:
                # A bug or Kafka unavailable past the producer's retries: the offset stays open,
                # so the record comes back after a restart.
                log.exception("record left unfinished", group=self.group, offset=item.record.offset)
                return
            item.run.done(item.index)
            if self.paused and tp in self.paused and tracker.pending <= self._resume_below:
                self._resume_settled()  # at once: waiting for the next fetch round idles
        finally:
            self.scheduled[tp] -= 1
            if self.draining:
                async with self.changed:
                    self.changed.notify_all()

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
        key = item.key
        holds = self.holds
        if key is not None and holds.held(key):
            self._forget_foreign_head(key)
            if not holds.is_head(key, item.origin):
                head = holds.head(key)
                assert head is not None
                tier = max(head.tier, self._tier_of(item.record.topic))
                await self._park(item, key, tier)
                return
        record = item.record
        verdict = await self.executor.run(
            item.sub,
            item.envelope,
            item.state.attempts,
            record.topic,
            record.partition,
            record.offset,
        )
        await self._settle(item, verdict)

    async def _settle(self, item: Item, verdict: Verdict) -> None:
        """Count a finished record; send a failed one on (retry topic, dead letters)."""
        key = item.key
        holds = self.holds
        if isinstance(verdict, Done):
            self.metrics.handled[verdict.outcome] += 1
            if key is not None and holds.held(key):
                holds.release(key, item.origin)
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
        self.metrics.handled["retry"] += 1
        if key is not None:
            self._hold(key, item.origin, delay, (topic, partition))

    async def _park(self, item: Item, key: bytes, delay: float) -> None:
        """Route a record behind the head of its key, without running it."""
        topic, partition = await self.forward.park(item, delay)
        self._hold(key, item.origin, delay, (topic, partition))
        self.metrics.handled["parked"] += 1

    async def _dead_letter(self, item: Item, verdict: Failed) -> None:
        await self.forward.dead_letter(item, verdict)
        DEAD_LETTERS.labels(self.group, verdict.error_type).inc()
        self.metrics.handled["dead_letter"] += 1

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
            self.metrics.flush()
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
                # An empty partition has nothing to read (and asking costs a round trip each).
                if end > 0 and end > (await self.consumer.committed(tp) or 0):
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
