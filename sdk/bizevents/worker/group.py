"""One consumer group: fetch, schedule per key, route verdicts, commit offsets.

Built on aiokafka directly, not FastStream: FastStream acks one message at a time per
subscriber, in order, which rules out what this module is for: many records of one partition in
flight at once (different keys), finishing out of order, committed up to the lowest unfinished
offset in one request per interval, with pause/resume backpressure and a rebalance listener that
commits on revoke.

The concerns, one module each: `intake` (a fetched batch decoded in one loop), `scheduler` (the
handler tasks), `ordering` (key lanes and retry holds), `handling` (handler, immediate retries,
inbox), `resend` (retry and dead-letter topics), `offsets` and `commits`, `rebalance`. This
module wires them together and keeps the state they share.

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
   it becomes the head. So per-key order survives non-blocking retries. A parked record back
   from its retry topic while the head is still unresolved waits in memory (`Behind`, its offset
   open) and runs as soon as the head resolves, instead of going round the retry topic once per
   pass of the head. Backpressure does not count it (a paused partition could be the one that
   holds the head), but it holds the commit point, so its partition keeps what is fetched after
   it: at `HELD_FACTOR` times the backpressure limit, or at a stop or revoke, what waits goes
   round the retry topic after all.
   Records of batch subscribers (`batch=True`) that may run go to their subscriber's `Batcher`
   instead, which hands the scheduler a `Batch` (bounded size and wait) that runs as one unit
   and releases its keys' lanes when it ends; a failed batch is split in halves until the
   failing records stand alone (`_run_batch`, `batching.py`).
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
the retry partitions are first scanned to the end they had at the assignment (keys and origins
only), with everything else of their partition number paused, then rewound and read as usual
(`RetryWarmup`: no timeout, no escape; a retry partition is not in origin order, so not even a
retry record runs before its partition number is scanned). Several workers of one
group keep them right because a record goes to the retry partition with its source partition's
number and the co-partitioned assignor (`assignor.py`) gives partition i of every topic of the
group to one member: a key's source and retry partitions are always read by the same process.
(Should a head still sit in a partition owned elsewhere, e.g. topics of unequal partition
counts, its hold is dropped rather than stall the key.)
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

from .. import topics
from ..deadletter import DeadLetterSink
from ..mesh import Inbound
from .assignor import ASSIGNMENT_STRATEGY
from .backoff import delay_label
from .batching import Batch, Batcher
from .commits import Commits
from .database import Database, DatabaseUnavailable
from .delivery import Delivery, Source
from .handling import DECODE_ERRORS, Done, Executor, Failed, Verdict, failure
from .intake import Intake
from .metrics import DEAD_LETTERS, IN_FLIGHT, RETRIES, GroupMetrics
from .offsets import OffsetTracker, Run
from .ordering import Behind, Holds, KeyLanes, Origin
from .outcomes import Outcome
from .rebalance import RebalanceListener, RetryWarmup
from .resend import Resender
from .router import Subscription
from .scheduler import Scheduler
from .settings import WorkerSettings

log = structlog.get_logger("bizevents.worker")
RETRY = Source.RETRY
# Records waiting for their key's head may hold this many times the backpressure limit behind a
# partition's commit point (in memory) before they go round the retry topic after all.
HELD_FACTOR = 10


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
        self.resend = Resender(group, producer, sink, self.stopping)
        self.source_topics = sorted(set(source_topics))
        delays = {d for s in subscriptions.values() for d in (s.retry.delays or ())}
        self.retry_topics = {topics.retry_topic(group, delay_label(d)): d for d in delays}
        self.replay_topic = topics.replay_topic(group)
        self.intake = Intake(
            subscriptions,
            contracts,
            inbound,
            self.retry_topics,
            self.replay_topic,
            self.metrics,
            scheduler.next_seq,
        )
        self.dead_letter_topic = topics.dead_letter_topic(group)
        self.consumer: AIOKafkaConsumer | None = None
        self.commits = Commits(group, settings.commit_interval, self.metrics)
        self.lanes: KeyLanes[Delivery] = KeyLanes()
        # One batcher per batch subscriber (by identity: a subscriber may handle several types).
        self.batchers: dict[int, Batcher] = {}
        for sub in subscriptions.values():
            if sub.batch and id(sub) not in self.batchers:
                self.batchers[id(sub)] = Batcher(
                    sub.batch_size, sub.batch_wait, self._batch_flusher(sub)
                )
        self.holds = Holds()
        # Parked records back before their key's head resolved, waiting for it in memory: not
        # counted by backpressure, but a partition keeps at most `_held_limit` records behind
        # its commit point (then they go round the retry topic after all).
        self._held_limit = HELD_FACTOR * settings.max_pending_per_partition
        self.behind: Behind[Delivery] = Behind(self._held_limit)
        self.delayed: dict[TopicPartition, deque[Delivery]] = {}
        self.paused: set[TopicPartition] = set()
        self._resumed = asyncio.Event()  # set when backpressure resumes a partition
        self.warmup = RetryWarmup(group, self.retry_topics, warn_after=30.0)
        self.revoking: set[TopicPartition] = set()
        # Records handed to a key's lane and not finished yet (running or queued), per partition:
        # a stop or a revoke waits for these to reach zero.
        self.scheduled: dict[TopicPartition, int] = {}
        self.changed = asyncio.Condition()
        # Backpressure hysteresis: paused at max_pending_per_partition, resumed at half of it.
        self._resume_below = settings.max_pending_per_partition // 2
        self.draining = 0  # coroutines waiting in _wait_idle: only then notify `changed`
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
        self.commits.consumer = self.consumer
        self.consumer.subscribe(self.all_topics, listener=RebalanceListener(self))
        self._fetch_task = asyncio.create_task(self._fetch_loop(), name=f"fetch-{self.group}")
        self._commit_task = asyncio.create_task(self.commits.loop(), name=f"commit-{self.group}")
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
            partition_assignment_strategy=ASSIGNMENT_STRATEGY,
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
        for batcher in self.batchers.values():
            batcher.hurry()  # nothing more is coming: partial batches need not wait
        left = sum(self.scheduled.values())
        log.info("finishing fetched records", group=self.group, records=left, timeout=timeout)
        drained = await self._wait_idle(lambda: not any(self.scheduled.values()), timeout)
        if not drained:
            log.warning(
                "shutdown timeout: cancelling unfinished handlers",
                group=self.group,
                unfinished=sum(self.scheduled.values()),
            )
        await self._park_all(self.behind.drop())
        self.closed = True
        for batcher in self.batchers.values():
            batcher.close()
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
            assigned = consumer.assignment()
            if assigned and assigned <= self.paused | self.warmup.held_back:
                # Every partition paused (backpressure): a fetch could only wait out its timeout,
                # so wait for the handlers to resume one instead (a fast handler would idle).
                self._resumed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._resumed.wait(), 0.2)
            batch = await consumer.getmany(
                timeout_ms=200, max_records=self.settings.fetch_max_records
            )
            scanning = self.warmup.scanning
            for tp, records in batch.items():
                if tp in self.revoking:
                    continue
                if tp in scanning:
                    self._scan(tp, records)
                    continue
                tracker = self.commits.tracker(tp)
                run = tracker.add_run(records)
                if run is not None:
                    self._intake(tp, run)
                if tracker.held >= self._held_limit and self.behind.count(tp):
                    # What waits holds too much back: round the retry topic after all.
                    self._spawn(self._park_all(self.behind.drop({tp})))
                if tracker.pending >= limit:
                    consumer.pause(tp)
                    self.paused.add(tp)
            self._resume_settled()
            await self.warmup.check(consumer, self.paused)
            IN_FLIGHT.labels(self.group).set(sum(t.pending for t in self.trackers.values()))
            self.metrics.flush()
            # getmany hands out buffered records without suspending: without this, a long run
            # of them (a warm-up scan of thousands of retry records) starves every other task,
            # the consumer's heartbeat included, and the group expires this member mid-scan.
            await asyncio.sleep(0)

    def _resume_settled(self) -> None:
        assert self.consumer is not None
        ready = [
            tp
            for tp in self.paused
            if tp not in self.trackers or self.trackers[tp].pending <= self._resume_below
        ]
        if ready:
            self._resumed.set()
            self.paused.difference_update(ready)
            assigned = self.consumer.assignment()
            # A partition still held back for the retry warm-up stays paused.
            held = self.warmup.held_back
            self.consumer.resume(*[tp for tp in ready if tp in assigned and tp not in held])

    def _scan(self, tp: TopicPartition, records: list[Any]) -> None:
        """Retry warm-up: hold the keys of a retry partition's records, keep nothing else (the
        partition is rewound and read again once its partition number is scanned)."""
        if not records:
            return
        self.warmup.scanned(tp, records[0].offset)
        tier, location = self._tier_of(tp.topic), (tp.topic, tp.partition)
        for item in self.intake.decode(tp, Run(OffsetTracker(), records), counting=False):
            if item.key is not None:
                self.holds.park(item.key, item.origin, tier, location)

    def _intake(self, tp: TopicPartition, run: Run) -> None:
        """Decode a partition's fetched run (`Intake`) and queue each record in its key's lane, in
        offset order; records of a delayed-retry topic hold their keys, and wait until due."""
        items = self.intake.decode(tp, run)
        if not items:
            return
        queued = 0
        if tp.topic in self.retry_topics:
            tier = self._tier_of(tp.topic)
            now_ms = time.time() * 1000
            for item in items:
                if item.key is not None:
                    self.holds.park(item.key, item.origin, tier, (tp.topic, tp.partition))
                if (item.state.due_ms or 0) > now_ms:
                    self._delay(item)
                else:
                    self._queue(item)
                    queued += 1
        elif self.batchers:
            queue = self._queue
            for item in items:
                queue(item)
            queued = len(items)
        else:
            # No batch subscriber: every record that opens its lane goes to the scheduler, all
            # in one step.
            claim = self.lanes.claim
            self.scheduler.ready_all(self, [i for i in items if i.key is None or claim(i.key, i)])
            queued = len(items)
        if queued:
            self.scheduled[tp] = self.scheduled.get(tp, 0) + queued

    def _queue(self, item: Delivery) -> None:
        """Into its key's lane (the caller counts it in `scheduled`)."""
        key = item.key
        if key is None or self.lanes.claim(key, item):
            self._ready(item)

    def _ready(self, item: Delivery) -> None:
        """`item` may run: to its batcher (a batch subscriber's fresh record), else to the
        scheduler."""
        sub = item.sub
        if sub is not None and sub.batch and item.poison is None and item.source is not RETRY:
            self.batchers[id(sub)].add(item)
        else:
            self.scheduler.ready(self, item)

    def following(self, item: Delivery | Batch) -> Delivery | None:
        """The next record of `item`'s lane (the scheduler runs it next, unless it goes to a
        batcher). A batch releases its own lanes."""
        if item.key is None:
            return None
        following = self.lanes.next(item.key)
        if following is not None and following.sub is not None and following.sub.batch:
            self._ready(following)
            return None
        return following

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # -- delayed retries: wait outside the key's lane, so the lane keeps parking newcomers ---------
    def _delay(self, item: Delivery) -> None:
        queue = self.delayed.setdefault(item.tp, deque())
        queue.append(item)
        if len(queue) == 1:
            self._spawn(self._release_when_due(item.tp, queue))

    async def _release_when_due(self, tp: TopicPartition, queue: deque[Delivery]) -> None:
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
    async def run(self, item: Delivery | Batch) -> None:
        """Run one record (or a batch) and mark it done. The usual case (no hold on its key, no
        inbox) makes the first attempt right here, a call less per record; anything else, and
        any failure, goes through `Executor.run` (immediate retries) and `_settle` (retry
        topics, dead letters)."""
        if type(item) is Batch:
            await self._run_batch(item)
            return
        assert isinstance(item, Delivery)
        tp = item.tp
        try:
            # Also while stopping or revoking: what is fetched is finished, then committed.
            tracker = item.run.tracker
            if self.closed or self.commits.trackers.get(tp) is not tracker:
                return
            try:
                key, sub, envelope = item.key, item.sub, item.envelope
                if (
                    sub is None
                    or envelope is None
                    or item.poison is not None
                    or (key is not None and self.holds.held(key))
                    or sub.inbox
                    or sub.batch
                ):
                    if not await self._process(item):
                        return  # waits for its key's head (`behind`), its offset open
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

    # -- batches -----------------------------------------------------------------------------------
    def _batch_flusher(self, sub: Subscription) -> Callable[[list[Delivery]], None]:
        def flush(items: list[Delivery]) -> None:
            self.scheduler.ready(self, Batch(sub, self._with_followers(sub, items)))

        return flush

    def _with_followers(self, sub: Subscription, items: list[Delivery]) -> list[Delivery]:
        """`items` plus, while there is room, the records of the same subscriber waiting right
        behind them in their keys' lanes (taken from the lanes: the batch holds the lanes until
        it ends), in fetch order."""
        room = sub.batch_size - len(items)
        if room > 0:
            lanes, holds = self.lanes, self.holds
            for item in list(items):
                key = item.key
                if key is None or holds.held(key):
                    continue
                while room:
                    waiting = lanes.peek(key)
                    if waiting is None or waiting.sub is not sub or waiting.source is Source.RETRY:
                        break
                    items.append(waiting)
                    lanes.next(key)
                    room -= 1
                if not room:
                    break
            items.sort(key=_seq)
        return items

    async def _run_batch(self, batch: Batch) -> None:
        """Run a batch and mark its records done; then release its keys' lanes."""
        items = batch.items
        try:
            if self.closed:
                return
            trackers = self.commits.trackers
            live = [i for i in items if trackers.get(i.tp) is i.run.tracker]
            try:
                await self._handle_batch(batch.sub, live)
            except asyncio.CancelledError:
                raise
            except DatabaseUnavailable:
                return  # stopping during a database outage: unfinished records come again
            except Exception:
                log.exception("batch left unfinished", group=self.group, records=len(live))
                return
            if self.paused:
                self._resume_settled()
        finally:
            scheduled = self.scheduled
            for item in items:
                scheduled[item.tp] -= 1
            lanes = self.lanes
            for key in dict.fromkeys(i.key for i in items if i.key is not None):
                following = lanes.next(key)
                if following is not None:
                    self._ready(following)
            if self.draining:
                async with self.changed:
                    self.changed.notify_all()

    async def _handle_batch(self, sub: Subscription, items: list[Delivery]) -> None:
        """Decode, then run the batch (`_split`); a record whose payload breaks the contract is
        dead-lettered on its own, as for any subscriber."""
        events: list[Any] = []
        decoded: list[Delivery] = []
        decode = self.executor.decode
        for item in items:
            assert item.envelope is not None
            try:
                events.append(decode(sub, item.envelope))
            except DECODE_ERRORS as exc:
                await self._settle(item, failure(exc, item.state.attempts, dead=True))
                item.run.done(item.index)
            else:
                decoded.append(item)
        await self._split(sub, decoded, events)

    async def _split(
        self, sub: Subscription, items: list[Delivery], events: list[Any], depth: int = 0
    ) -> None:
        """One handler call for the batch; when it fails, the same for each half, earlier half
        first, down to single records, which get the usual retries and dead letters."""
        holds = self.holds
        if any(i.key is not None and holds.held(i.key) for i in items):
            # An earlier record of these keys went to a retry topic (a failed half, or before
            # the batch ran): they are parked behind it, in order, one at a time.
            kept_items, kept_events = [], []
            for item, event in zip(items, events, strict=True):
                if item.key is not None and holds.held(item.key):
                    if await self._process(item):
                        item.run.done(item.index)
                else:
                    kept_items.append(item)
                    kept_events.append(event)
            items, events = kept_items, kept_events
        if not items:
            return
        executor = self.executor
        if len(items) == 1:
            item = items[0]
            record = item.record
            assert item.envelope is not None
            verdict = await executor.run(
                sub,
                item.envelope,
                item.state.attempts,
                record.topic,
                record.partition,
                record.offset,
                event=events[0],
            )
            await self._settle(item, verdict)
            item.run.done(item.index)
            return
        contexts = []
        for item in items:
            record = item.record
            assert item.envelope is not None
            contexts.append(
                executor.item_context(
                    item.envelope,
                    item.state.attempts + 1,
                    record.topic,
                    record.partition,
                    record.offset,
                )
            )
        verdicts = await executor.attempt_batch(sub, events, contexts)
        if isinstance(verdicts, list):
            handled = self.metrics.handled
            for item, verdict in zip(items, verdicts, strict=True):
                handled[verdict.outcome] += 1
                item.run.done(item.index)
            return
        # Said once per batch; the halves' failures are details.
        (log.debug if depth else log.info)(
            "batch failed: splitting it",
            group=self.group,
            events=len(items),
            error=f"{type(verdicts).__name__}: {verdicts}",
        )
        middle = len(items) // 2
        await self._split(sub, items[:middle], events[:middle], depth + 1)
        await self._split(sub, items[middle:], events[middle:], depth + 1)

    async def _wait_idle(self, idle: Callable[[], bool], timeout: float) -> bool:
        """Wait until `idle()` (nothing scheduled on some partitions), at most `timeout`."""
        self.draining += 1
        try:
            async with self.changed:
                return await _wait_for(self.changed, idle, timeout)
        finally:
            self.draining -= 1

    async def _process(self, item: Delivery) -> bool:
        """Run, park or dead-letter `item`; False: it waits in memory for its key's head."""
        if item.poison is not None:
            await self._dead_letter(item, failure(item.poison, item.state.attempts, dead=True))
            return True
        assert item.envelope is not None and item.sub is not None
        key = item.key
        holds = self.holds
        if key is not None and holds.held(key):
            self._forget_foreign_head(key)
            if not holds.is_head(key, item.origin):
                if (
                    item.source is RETRY
                    and item.tracker.held < self._held_limit
                    and self.behind.add(key, item.origin, item.tp, item)
                ):
                    item.run.wait(item.index)
                    return False
                await self._park(item, key)
                return True
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
        return True

    async def _settle(self, item: Delivery, verdict: Verdict) -> None:
        """Count a finished record; send a failed one on (retry topic, dead letters)."""
        key = item.key
        holds = self.holds
        if isinstance(verdict, Done):
            self.metrics.handled[verdict.outcome] += 1
            if key is not None and holds.held(key):
                holds.release(key, item.origin)
                self._wake(key)
            return
        delay = None if verdict.dead else self._next_delay(item, verdict)
        if delay is None:
            await self._dead_letter(item, verdict)
            if key is not None:
                self.holds.release(key, item.origin)
                self._wake(key)
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
            self._wake(key)

    def _wake(self, key: bytes) -> None:
        """A hold on `key` was released: run its new head now if it waits in `behind`."""
        if not self.behind or self.closed:
            return
        head = self.holds.head(key)
        for item in self.behind.take(key, None if head is None else head.origin):
            item.run.wait(item.index, False)
            self.scheduled[item.tp] = self.scheduled.get(item.tp, 0) + 1
            self._queue(item)

    async def _park_all(self, items: list[Delivery]) -> None:
        """Records taken out of `behind` (a stop, a revoke, a partition held back by them) go
        round the retry topic after all, so that their partition's commit moves past them.
        All at once: a stop may find thousands, and one send after another would outlast it."""
        if not items:
            return

        async def park(item: Delivery) -> None:
            assert item.key is not None  # only keyed records wait for a head
            await self._park(item, item.key)

        sent = await asyncio.gather(*(park(item) for item in items), return_exceptions=True)
        failed: list[BaseException] = []
        for item, result in zip(items, sent, strict=True):
            if isinstance(result, BaseException):
                # Left open: it comes again from its retry partition, with those after it.
                failed.append(result)
                item.run.wait(item.index, False)
            else:
                item.run.done(item.index)
        if failed:
            log.warning(
                "could not park waiting records: they come again after a restart",
                group=self.group,
                records=len(failed),
                error=str(failed[0]),
            )

    def _forget_foreign_head(self, key: bytes) -> None:
        """Safety net: a head parked in a partition we no longer own can never resolve here."""
        head = self.holds.head(key)
        released = False
        while head is not None and head.location is not None and not self._assigned(head.location):
            self.holds.release(key, head.origin)
            head = self.holds.head(key)
            released = True
        if released:
            self._wake(key)

    def _next_delay(self, item: Delivery, verdict: Failed) -> float | None:
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
    async def _retry(
        self, item: Delivery, verdict: Failed, delay: float, key: bytes | None
    ) -> None:
        assert item.sub is not None
        stage = list(item.sub.retry.delays or ()).index(delay, item.state.stage) + 1
        topic, partition = await self.resend.retry(item, verdict, delay, stage)
        RETRIES.labels(self.group, "delayed").inc()
        self.metrics.handled["retry"] += 1
        if key is not None:
            self._hold(key, item.origin, delay, (topic, partition))

    async def _park(self, item: Delivery, key: bytes) -> None:
        """Route a record behind the head of its key (into the head's retry tier, or its own when
        that is later), without running it."""
        head = self.holds.head(key)
        delay = max(head.tier if head is not None else 0.0, self._tier_of(item.record.topic))
        topic, partition = await self.resend.park(item, delay)
        self._hold(key, item.origin, delay, (topic, partition))
        self.metrics.handled["parked"] += 1

    async def _dead_letter(self, item: Delivery, verdict: Failed) -> None:
        await self.resend.dead_letter(item, verdict)
        DEAD_LETTERS.labels(self.group, verdict.error_type).inc()
        self.metrics.handled["dead_letter"] += 1

    # -- commits and rebalances -------------------------------------------------------------------
    @property
    def trackers(self) -> dict[TopicPartition, OffsetTracker]:
        return self.commits.trackers

    async def commit(self, only: set[TopicPartition] | None = None) -> dict[TopicPartition, int]:
        """Commit, in one request, the committable offset of every (or the given) partition."""
        return await self.commits.commit(only)

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        """Finish what is fetched from the revoked partitions (within `revoke_timeout`), commit
        it, forget them. Their new owner starts from that commit."""
        self.revoking.update(revoked)
        started = time.monotonic()
        for batcher in self.batchers.values():
            batcher.flush()  # what waits in a partial batch is finished before the revoke
        left = sum(self.scheduled.get(tp, 0) for tp in revoked)
        finished = await self._wait_idle(
            lambda: not any(self.scheduled.get(tp, 0) for tp in revoked),
            self.settings.revoke_timeout,
        )
        if not finished:
            log.warning("revoke timeout: unfinished records will come again", group=self.group)
        await self._park_all(self.behind.drop(revoked))
        try:
            await self.commit(only=revoked)
        except Exception as exc:
            log.warning("commit on revoke failed", group=self.group, error=str(exc))
        for tp in revoked:
            self.trackers.pop(tp, None)
            self.delayed.pop(tp, deque()).clear()
            self.paused.discard(tp)
            self.warmup.forget(tp)
        self.holds.release_locations({(tp.topic, tp.partition) for tp in revoked})
        for key in self.behind.held_keys():
            self._wake(key)  # its head sat in a revoked partition
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
        self.behind.drop(assigned)
        assert self.consumer is not None
        self.warmup.start(self.consumer, assigned)


def _seq(item: Delivery) -> int:
    return item.seq


async def _wait_for(cond: asyncio.Condition, predicate: Callable[[], bool], timeout: float) -> bool:
    """Condition.wait_for with a timeout; the caller holds `cond`."""
    try:
        await asyncio.wait_for(cond.wait_for(predicate), timeout)
        return True
    except TimeoutError:
        return predicate()
