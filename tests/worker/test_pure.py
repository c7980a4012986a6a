"""Unit tests of the worker's pure logic: offset tracker, scheduler, holds, backoff, headers."""

from __future__ import annotations

import asyncio
import gc
import random
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel

from bizevents.deadletter import (
    H_ATTEMPTS,
    H_DUE,
    H_FIRST,
    H_STAGE,
    DeadLetterRecord,
    FailureState,
    original_headers,
    short_stack,
)
from bizevents.envelope import Envelope, to_kafka
from bizevents.errors import ConfigurationError
from bizevents.worker import Context, RetryPolicy, Router, WorkerSettings, runner
from bizevents.worker.backoff import backoff_delay, delay_label
from bizevents.worker.offsets import OffsetTracker
from bizevents.worker.ordering import Behind, Holds, KeyLanes
from bizevents.worker.scheduler import Scheduler


class TestOffsetTracker:
    def test_commits_only_below_the_lowest_open_offset(self) -> None:
        t = OffsetTracker()
        for o in range(10, 15):
            t.add(o)
        assert t.committable() is None  # nothing done: committing 10 would be a no-op
        t.done(12)
        t.done(13)
        assert t.committable() is None  # 10 and 11 still open
        t.done(10)
        assert t.committable() == 11
        t.done(11)
        assert t.committable() == 14
        t.done(14)
        assert t.committable() == 15
        assert t.pending == 0

    def test_a_waiting_record_holds_commits_but_not_backpressure(self) -> None:
        t = OffsetTracker()
        first = t.add_run([_Rec(o) for o in range(0, 4)])
        second = t.add_run([_Rec(o) for o in range(4, 8)])
        assert first is not None and second is not None
        first.done(0)
        first.wait(1)  # waits for its key's head
        for i in (2, 3):
            first.done(i)
        second.done(0)
        assert t.committable() == 1  # the commit stops at the waiting record...
        assert t.held == 7
        assert t.pending == 3  # ...backpressure counts from the first one still to run (5)
        second.wait(1)
        assert t.pending == 2 and t.held == 7
        first.wait(1, False)  # woken: it runs again, and counts again
        assert t.pending == 7
        first.done(1)
        assert t.committable() == 5 and t.held == 3
        second.done(1)
        second.done(1)  # idempotent
        for i in (2, 3):
            second.done(i)
        assert t.committable() == 8 and t.pending == t.held == 0

    def test_committed_offset_is_not_reported_again(self) -> None:
        t = OffsetTracker()
        t.add(0)
        t.add(1)
        t.done(0)
        assert t.committable() == 1
        t.committed(1)
        assert t.committable() is None
        assert t.position == 1

    def test_gaps_from_transaction_markers(self) -> None:
        t = OffsetTracker()
        for o in (5, 7, 9):
            t.add(o)
        t.done(7)
        t.done(9)
        assert t.committable() is None
        t.done(5)
        assert t.committable() == 10

    def test_done_is_idempotent_and_ignores_unknown(self) -> None:
        t = OffsetTracker()
        t.add(3)
        t.add(4)
        t.done(4)
        t.done(4)
        t.done(99)
        t.done(1)
        assert t.pending == 2
        assert t.committable() is None

    def test_ignores_offsets_seen_already(self) -> None:
        t = OffsetTracker()
        assert t.add(5) is True
        assert t.add(5) is False
        assert t.add(4) is False
        assert t.pending == 1

    def test_random_completion_order_never_passes_an_open_offset(self) -> None:
        rng = random.Random(7)
        t = OffsetTracker()
        offsets = list(range(1000))
        for o in offsets:
            t.add(o)
        rng.shuffle(offsets)
        finished: set[int] = set()
        for o in offsets:
            t.done(o)
            finished.add(o)
            c = t.committable()
            if c is not None:
                assert all(x in finished for x in range(c))
                t.committed(c)
        assert t.position == 1000


class _Rec:
    def __init__(self, offset: int) -> None:
        self.offset = offset


class _Record:
    def __init__(self, key: bytes | None, seq: int, wait: asyncio.Event | None = None) -> None:
        self.key, self.seq, self.wait = key, seq, wait


class _Owner:
    """Queues records in per-key lanes as the group consumer does, and records the runs."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        self.lanes: KeyLanes[_Record] = KeyLanes()
        self.started: list[int] = []
        self.running: set[bytes | None] = set()
        self.overlap = False
        self.most = 0
        self.now = 0

    def queue(self, record: _Record) -> None:
        if record.key is None or self.lanes.claim(record.key, record):
            self.scheduler.ready(self, record)

    def following(self, item: _Record) -> _Record | None:
        return None if item.key is None else self.lanes.next(item.key)

    async def run(self, item: _Record) -> None:
        self.overlap |= item.key is not None and item.key in self.running
        self.running.add(item.key)
        self.now += 1
        self.most = max(self.most, self.now)
        self.started.append(item.seq)
        try:
            if item.wait is not None:
                await item.wait.wait()
            await asyncio.sleep(0)
        finally:
            self.now -= 1
            self.running.discard(item.key)


class TestKeyLanes:
    def test_one_record_of_a_key_at_a_time_in_fifo_order(self) -> None:
        lanes: KeyLanes[str] = KeyLanes()
        assert lanes.claim(b"a", "a1") is True
        assert lanes.claim(b"a", "a2") is False
        assert lanes.claim(b"b", "b1") is True
        assert lanes.claim(b"a", "a3") is False
        assert lanes.active == 2
        assert lanes.queued == 2
        assert lanes.next(b"a") == "a2"
        assert lanes.next(b"a") == "a3"
        assert lanes.next(b"a") is None
        assert lanes.claim(b"a", "a4") is True  # lane closed: runs at once
        assert lanes.next(b"b") is None


class TestScheduler:
    async def test_one_record_of_a_key_at_a_time_in_order_within_the_task_limit(self) -> None:
        scheduler = Scheduler(4)
        owner = _Owner(scheduler)
        rng = random.Random(3)
        for seq in range(1, 301):
            owner.queue(_Record(f"k{rng.randrange(12)}".encode(), seq))
        for seq in range(301, 321):
            owner.queue(_Record(None, seq))  # no key: a lane of its own
        while len(owner.started) < 320:
            await asyncio.sleep(0)
        await scheduler.close()
        assert not owner.overlap
        assert owner.most == 4
        assert sorted(owner.started) == list(range(1, 321))
        assert owner.lanes.active == 0  # every lane closed once empty
        rng = random.Random(3)
        keys = [f"k{rng.randrange(12)}".encode() for _ in range(300)]
        for k in set(keys):
            mine = [s for s in owner.started if s <= 300 and keys[s - 1] == k]
            assert mine == sorted(mine), k

    async def test_a_free_task_takes_the_oldest_ready_record(self) -> None:
        scheduler = Scheduler(1)
        owner = _Owner(scheduler)
        gate = asyncio.Event()
        owner.queue(_Record(b"a", 1, gate))
        await asyncio.sleep(0)
        for seq in (30, 10, 20):
            owner.queue(_Record(f"k{seq}".encode(), seq))
        gate.set()
        while len(owner.started) < 4:
            await asyncio.sleep(0)
        await scheduler.close()
        assert owner.started == [1, 10, 20, 30]

    async def test_ready_all_runs_a_fetched_run_on_every_task_in_order(self) -> None:
        scheduler = Scheduler(4)
        owner = _Owner(scheduler)
        gates = [asyncio.Event() for _ in range(4)]
        # Four idle tasks wait for work: one step must wake all four, not one.
        owner.queue(_Record(b"w", 1))
        while len(owner.started) < 1:
            await asyncio.sleep(0)
        await asyncio.sleep(0)
        records = [_Record(f"k{i}".encode(), 2 + i, gates[i]) for i in range(4)]
        try:
            scheduler.ready_all(owner, records)
            for _ in range(5):
                await asyncio.sleep(0)
            assert owner.now == 4 and owner.started == [1, 2, 3, 4, 5]
        finally:
            for gate in gates:
                gate.set()
            await scheduler.close()

    async def test_ready_all_keeps_the_oldest_first_after_a_newer_record(self) -> None:
        scheduler = Scheduler(1)
        owner = _Owner(scheduler)
        gate = asyncio.Event()
        owner.queue(_Record(b"a", 1, gate))
        await asyncio.sleep(0)
        owner.queue(_Record(b"b", 50))
        # Older than the newest waiting record (a lane's next one, a due retry): still oldest
        # first.
        scheduler.ready_all(owner, [_Record(b"c", 20), _Record(b"d", 30)])
        scheduler.ready_all(owner, [])
        gate.set()
        try:
            while len(owner.started) < 4:
                await asyncio.sleep(0)
        finally:
            await scheduler.close()
        assert owner.started == [1, 20, 30, 50]

    async def test_cancel_stops_only_the_owners_running_records(self) -> None:
        scheduler = Scheduler(2)
        stopping, staying = _Owner(scheduler), _Owner(scheduler)
        gate = asyncio.Event()
        stopping.queue(_Record(b"a", 1, asyncio.Event()))  # never released
        staying.queue(_Record(b"b", 2, gate))
        await asyncio.sleep(0)
        assert scheduler.busy(stopping) and scheduler.running == 2
        assert scheduler.cancel(stopping) == 1
        await asyncio.sleep(0)
        assert not scheduler.busy(stopping)
        gate.set()
        staying.queue(_Record(b"c", 3))
        while len(staying.started) < 2:
            await asyncio.sleep(0)
        await scheduler.close()  # the pool survived the cancelled record


class TestStartupHeap:
    def test_frozen_once_per_process(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(runner, "_frozen", False)
        gc.unfreeze()
        runner.freeze_startup_heap()
        frozen = gc.get_freeze_count()
        assert frozen > 0
        kept = [[i] for i in range(1000)]  # new objects: a second freeze would take them too
        runner.freeze_startup_heap()
        assert gc.get_freeze_count() == frozen
        assert kept


class TestBehind:
    def test_takes_up_to_the_head_and_keeps_at_most_limit_per_partition(self) -> None:
        b: Behind[str] = Behind(limit=2)
        assert b.add(b"k", ("t", 0, 7), "r0", "seven")
        assert b.add(b"k", ("t", 0, 3), "r0", "three")
        assert not b.add(b"j", ("t", 0, 9), "r0", "full")  # r0 is full...
        assert b.add(b"j", ("t", 0, 9), "r1", "nine")  # ...r1 is not
        assert b.count("r0") == 2 and b.held_keys() == [b"k", b"j"]
        assert b.take(b"k", ("t", 0, 1)) == []  # the head is parked elsewhere: both wait on
        assert b.take(b"k", ("t", 0, 3)) == ["three"]
        assert b.count("r0") == 1 and len(b) == 2
        assert b.take(b"k", ("t", 0, 3)) == []  # taken once
        # A head further on: an earlier message (its hold dropped) must not wait forever.
        assert b.take(b"k", ("t", 0, 8)) == ["seven"]

    def test_a_second_copy_of_a_waiting_message_is_not_kept(self) -> None:
        b: Behind[str] = Behind(limit=10)
        assert b.add(b"k", ("t", 0, 3), "r0", "first copy")
        assert not b.add(b"k", ("t", 0, 3), "r1", "second copy")
        assert b.take(b"k", None) == ["first copy"] and b.count("r1") == 0

    def test_a_key_no_longer_held_gives_back_everything_in_origin_order(self) -> None:
        b: Behind[str] = Behind(limit=10)
        for offset in (9, 2, 5):
            b.add(b"k", ("t", 0, offset), "r0", f"n{offset}")
        assert b.take(b"k", None) == ["n2", "n5", "n9"]
        assert not b and b.count("r0") == 0

    def test_drop_takes_out_the_given_partitions_in_origin_order(self) -> None:
        b: Behind[str] = Behind(limit=10)
        b.add(b"a", ("t", 1, 4), "r1", "a4")
        b.add(b"b", ("t", 0, 8), "r0", "b8")
        b.add(b"a", ("t", 1, 2), "r1", "a2")
        assert b.drop({"r1"}) == ["a2", "a4"]
        assert b.held_keys() == [b"b"] and b.count("r1") == 0
        assert b.drop() == ["b8"] and not b


class TestHolds:
    def test_head_is_the_earliest_origin(self) -> None:
        h = Holds()
        assert h.is_head(b"k", ("t", 0, 5))  # nothing held: anyone may run
        h.park(b"k", ("t", 0, 9), 10.0, ("r10", 0))
        h.park(b"k", ("t", 0, 5), 60.0, ("r60", 0))  # rebuilt after a restart: fetched later
        head = h.head(b"k")
        assert head is not None and head.origin == ("t", 0, 5) and head.tier == 60.0
        assert not h.is_head(b"k", ("t", 0, 9))
        h.release(b"k", ("t", 0, 5))
        assert h.is_head(b"k", ("t", 0, 9))
        h.release(b"k", ("t", 0, 9))
        assert not h.held(b"k")

    def test_park_moves_an_existing_token(self) -> None:
        h = Holds()
        h.park(b"k", ("t", 0, 1), 10.0, ("r10", 1))
        h.park(b"k", ("t", 0, 1), 60.0, ("r60", 2))
        assert len(h) == 1
        head = h.head(b"k")
        assert head is not None and head.location == ("r60", 2)

    def test_release_locations_of_revoked_partitions(self) -> None:
        h = Holds()
        h.park(b"a", ("t", 0, 1), 10.0, ("r", 0))
        h.park(b"b", ("t", 1, 1), 10.0, ("r", 1))
        assert h.release_locations({("r", 0)}) == 1
        assert not h.held(b"a") and h.held(b"b")

    def test_agrees_with_a_plain_model_under_random_operations(self) -> None:
        rng = random.Random(5)
        h = Holds()
        model: dict[bytes, dict[tuple[str, int, int], tuple[float, tuple[str, int]]]] = {}
        for _ in range(5000):
            key = rng.choice((b"a", b"b", b"c"))
            origin = ("t", rng.randrange(2), rng.randrange(40))
            roll = rng.random()
            if roll < 0.5:
                tier, location = rng.choice((10.0, 60.0)), ("r", rng.randrange(3))
                h.park(key, origin, tier, location)
                model.setdefault(key, {})[origin] = (tier, location)
            elif roll < 0.9:
                h.release(key, origin)
                model.get(key, {}).pop(origin, None)
            else:
                gone = {("r", rng.randrange(3))}
                expected = sum(loc in gone for held in model.values() for _, loc in held.values())
                assert h.release_locations(gone) == expected
                for held in model.values():
                    for o in [o for o, (_, loc) in held.items() if loc in gone]:
                        del held[o]
            model = {k: v for k, v in model.items() if v}
            assert len(h) == sum(len(v) for v in model.values())
            for k in (b"a", b"b", b"c"):
                head = h.head(k)
                if k in model:
                    first = min(model[k])
                    assert head is not None and head.origin == first
                    assert (head.tier, head.location) == model[k][first]
                else:
                    assert head is None and not h.held(k)


class TestBackoff:
    def test_grows_exponentially_with_jitter_and_cap(self) -> None:
        rng = random.Random(1)
        for attempt, step in ((1, 0.1), (2, 0.2), (3, 0.4), (10, 2.0)):
            for _ in range(50):
                d = backoff_delay(attempt, 0.1, 2.0, rng=rng)
                assert step / 2 <= d <= step

    def test_attempt_starts_at_one(self) -> None:
        with pytest.raises(ValueError):
            backoff_delay(0, 0.1, 1.0)

    def test_labels(self) -> None:
        assert [delay_label(d) for d in (10, 60, 600, 7200, 0.05, 1.5)] == [
            "10s",
            "1m",
            "10m",
            "2h",
            "50ms",
            "1_5s",
        ]


class TestDeadLetterHeaders:
    def test_round_trip_and_original_headers_kept(self) -> None:
        first = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        letter = DeadLetterRecord.build(
            group="billing",
            error="boom",
            error_type="RuntimeError",
            stack="x" * 5000,
            attempts=4,
            first_failure=first,
            last_failure=first,
            original_topic="orders",
            original_partition=2,
            original_offset=41,
            key=b"k",
            value=b"{}",
            headers=[("ce_id", b"1"), ("bizevents_replay_id", b"7")],
        )
        key, value, headers = letter.retry_record(2, first)
        assert (key, value) == (b"k", b"{}")
        names = [n for n, _ in headers]
        assert names[:2] == ["ce_id", "bizevents_replay_id"]
        assert dict(headers)["bizevents_stack"] == b"x" * 2048
        state = FailureState.from_headers(headers)
        assert (state.attempts, state.stage, state.first_failure) == (4, 2, first)
        assert state.due_ms == int(first.timestamp() * 1000)
        assert (state.original_topic, state.original_partition, state.original_offset) == (
            "orders",
            2,
            41,
        )
        # The next hop starts from the original headers again: no duplicates pile up; the replay
        # marker travels along.
        assert letter.headers == [("ce_id", b"1")] and letter.replay_of == 7
        assert original_headers(headers) == [("ce_id", b"1"), ("bizevents_replay_id", b"7")]
        again = DeadLetterRecord.build(**{**_record_fields(letter), "headers": headers})
        assert again.record() == letter.record()
        assert {H_ATTEMPTS, H_FIRST, H_STAGE, H_DUE} <= set(names)

    def test_a_letter_of_a_decoded_event_carries_its_attributes(self) -> None:
        event = Envelope(id="e-1", type="com.acme.X.v1", source="/s", time=FIRST, data=b"{}")
        key, value, headers = to_kafka(event)
        now = datetime.now(UTC)
        common: dict[str, Any] = {
            "group": "g", "original_topic": "t", "original_partition": 0, "original_offset": 1,
            "error": "e", "error_type": "E", "attempts": 1, "first_failure": now,
            "last_failure": now, "key": key, "value": value, "headers": headers,
        }  # fmt: skip
        decoded = DeadLetterRecord.build(**common)
        assert (decoded.event_id, decoded.event_type, decoded.event_source) == (
            "e-1",
            "com.acme.X.v1",
            "/s",
        )
        # The worker hands over the envelope it decoded (and translated, on Mendix topics).
        renamed = replace(event, type="com.acme.Y.v1")
        assert DeadLetterRecord.build(**common, envelope=renamed).event_type == "com.acme.Y.v1"
        poison = DeadLetterRecord.build(**{**common, "value": b"junk", "headers": []})
        assert poison.event_id is None and poison.value == b"junk"

    def test_malformed_headers_fall_back_to_defaults(self) -> None:
        state = FailureState.from_headers([(H_ATTEMPTS, b"x"), (H_FIRST, b"yesterday")])
        assert state.attempts == 0 and state.first_failure is None

    def test_short_stack_is_bounded(self) -> None:
        try:
            raise RuntimeError("y" * 4000)
        except RuntimeError as exc:
            text = short_stack(exc)
        assert len(text.encode()) <= 2048
        assert "RuntimeError" in text or text.endswith("y")


class Shipped(BaseModel):
    order_id: str


class TestRouter:
    def test_models_from_annotations(self) -> None:
        router = Router()

        @router.subscriber("a.v1", "b.v1", group="g")
        async def typed(event: Shipped, ctx: Context) -> None: ...

        @router.subscriber("c.v1", group="g")
        async def raw(event: dict[str, object], ctx: Context) -> None: ...

        by_type = router.for_group("g")
        assert by_type["a.v1"].model_for("b.v1") is Shipped
        assert by_type["c.v1"].model_for("c.v1") is None

    def test_one_handler_per_type_and_group(self) -> None:
        router = Router()

        @router.subscriber("a.v1", group="g")
        async def one(event: dict[str, object], ctx: Context) -> None: ...

        with pytest.raises(ConfigurationError, match="already handles"):

            @router.subscriber("a.v1", group="g")
            async def two(event: dict[str, object], ctx: Context) -> None: ...

        @router.subscriber("a.v1", group="other")  # another group may
        async def three(event: dict[str, object], ctx: Context) -> None: ...

    def test_sync_handler_refused(self) -> None:
        with pytest.raises(ConfigurationError, match="async"):
            Router().subscriber("a.v1", group="g")(lambda e, c: None)

    def test_policy_defaults_from_settings(self) -> None:
        router = Router()

        @router.subscriber("a.v1", group="g", retry=RetryPolicy(attempts=5))
        async def h(event: dict[str, object], ctx: Context) -> None: ...

        settings = WorkerSettings(retry_delays=[1.0, 2.0], retry_backoff_initial=0.01)
        policy = router.with_policy(settings).subscriptions[0].retry
        assert policy == RetryPolicy(5, 0.01, settings.retry_backoff_max, (1.0, 2.0))

    def test_settings_reject_bad_delays(self) -> None:
        with pytest.raises(ValueError, match="positive"):
            WorkerSettings(retry_delays=[0])


class TestWorkerChecks:
    def test_subscribing_needs_a_contract_that_allows_the_app(self) -> None:
        from pathlib import Path

        from bizevents.app import Events
        from bizevents.errors import PermissionDeniedError, UnknownEventTypeError
        from bizevents.worker import Worker

        contracts = Path(__file__).resolve().parents[2] / "contracts"
        billing = Events(app="billing", contracts=contracts)

        @billing.subscriber("com.acme.orders.OrderShipped.v1", group="billing")
        async def ok(event: dict[str, object], ctx: Context) -> None: ...

        Worker(billing, WorkerSettings())  # billing is a declared subscriber

        stranger = Events(app="stranger", contracts=contracts)

        @stranger.subscriber("com.acme.orders.OrderShipped.v1", group="stranger")
        async def nope(event: dict[str, object], ctx: Context) -> None: ...

        with pytest.raises(PermissionDeniedError, match="stranger"):
            Worker(stranger, WorkerSettings())

        unknown = Events(app="billing", contracts=contracts)

        @unknown.subscriber("com.acme.nothing.Nope.v1", group="billing")
        async def missing(event: dict[str, object], ctx: Context) -> None: ...

        with pytest.raises(UnknownEventTypeError):
            Worker(unknown, WorkerSettings())


class TestStaticMembership:
    def test_the_setting_wins_and_off_disables(self) -> None:
        from bizevents.worker.membership import group_instance_id

        pod = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "HOSTNAME": "billing-worker-0"}
        assert group_instance_id("w-7", pod) == "w-7"
        assert group_instance_id("off", pod) is None
        assert group_instance_id("", pod) == "billing-worker-0"

    def test_only_statefulset_pod_names_are_used(self) -> None:
        from bizevents.worker.membership import group_instance_id

        def pod(name: str) -> dict[str, str]:
            return {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "HOSTNAME": name}

        assert group_instance_id("", pod("worker-12")) == "worker-12"
        assert group_instance_id("", pod("worker-5d8f7c9b6-x7k2p")) is None  # a Deployment's
        assert group_instance_id("", pod("worker-01")) is None
        assert group_instance_id("", {"HOSTNAME": "worker-0"}) is None  # not in a pod

    def test_each_process_of_a_multi_process_worker_gets_its_own_id(self) -> None:
        from bizevents.worker.membership import for_process

        assert for_process("worker-0", 2) == "worker-0-p2"
        assert for_process("worker-0", None) == "worker-0"
        assert for_process(None, 1) is None


class TestCoPartitionedAssignment:
    def test_partition_i_of_every_topic_goes_to_one_member(self) -> None:
        from bizevents.worker.assignor import co_partitioned

        counts = {"orders": 6, "retry.10s": 6, "retry.1m": 6, "replay": 6}
        members = {m: list(counts) for m in ("m-b", "m-a", "m-c", "m-d")}
        plan = co_partitioned(counts, members)
        for member, topics in plan.items():
            numbers = {tuple(p) for p in topics.values()}
            assert len(numbers) == 1, f"{member} got different numbers per topic: {topics}"
        owners = {p: m for m, topics in plan.items() for p in topics["orders"]}
        assert sorted(owners) == list(range(6))
        assert owners[0] == owners[4] == "m-a" and owners[3] == "m-d"  # dealt round-robin

    def test_a_topic_read_by_some_members_only_still_gets_an_owner(self) -> None:
        from bizevents.worker.assignor import co_partitioned

        plan = co_partitioned({"a": 2, "b": 2}, {"old": ["a"], "new": ["a", "b"]})
        assert plan["new"]["b"] == [0, 1]
        assert sorted(plan["new"].get("a", []) + plan["old"]["a"]) == [0, 1]
        assert co_partitioned({"a": 3}, {}) == {}


FIRST = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _record_fields(letter: DeadLetterRecord) -> dict[str, Any]:
    names = ("group", "original_topic", "original_partition", "original_offset", "error")
    names += ("error_type", "stack", "attempts", "first_failure", "last_failure", "key", "value")
    return {name: getattr(letter, name) for name in names}
