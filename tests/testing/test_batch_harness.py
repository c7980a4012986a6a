"""Batch subscribers on the in-memory harness: lists of events, bounded batches, per-key order
within and across batches (retry holds included), a failed batch split down to its poison event."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from typing import Any

from pydantic import BaseModel

from bizevents.app import Events
from bizevents.testing import TestEvents
from bizevents.worker import BatchContext, DeadLetter, RetryPolicy, Skip
from bizevents.worker.metrics import HANDLED


class Tick(BaseModel):
    k: str
    n: int


def names() -> tuple[str, str]:
    ns = uuid.uuid4().hex[:8]
    return f"com.acme.t{ns}.Tick.v1", f"ticks-{ns}"


async def test_batches_are_bounded_and_keep_per_key_order_within_and_across_batches() -> None:
    tick, group = names()
    events = Events(app="ticks")
    seen: dict[str, list[int]] = defaultdict(list)
    sizes: list[int] = []
    running: set[str] = set()
    overlaps: list[str] = []

    @events.subscriber(tick, group=group, batch=True, batch_size=16, batch_wait=0.01)
    async def handle(batch: list[Tick], ctx: BatchContext) -> None:
        keys = {e.k for e in batch}
        overlaps.extend(keys & running)  # a key in two batches at once
        running.update(keys)
        sizes.append(len(batch))
        assert [c.key for c in ctx.items] == [e.k for e in batch]
        await asyncio.sleep(0.001)
        for e in batch:
            seen[e.k].append(e.n)
        running.difference_update(keys)

    keys, per_key = 12, 25
    async with TestEvents(events, settings={"concurrency": 4}) as t:
        for n in range(per_key):
            for k in range(keys):
                await t.publish(tick, {"k": f"k{k}", "n": n}, key=f"k{k}", wait=False)
        await t.drain()
        assert len(t.handled(tick)) == keys * per_key
        assert {c.batch for c in t.handled(tick)} <= set(range(1, 17))
    assert overlaps == []
    assert max(sizes) == 16 and sum(sizes) == keys * per_key
    assert all(seen[f"k{k}"] == list(range(per_key)) for k in range(keys))


async def test_one_keys_consecutive_events_share_a_batch_in_order() -> None:
    tick, group = names()
    events = Events(app="ticks")
    batches: list[list[int]] = []

    @events.subscriber(tick, group=group, batch=True, batch_size=50, batch_wait=0.05)
    async def handle(batch: list[dict[str, Any]], ctx: BatchContext) -> None:
        batches.append([e["n"] for e in batch])

    async with TestEvents(events, partitions=1) as t:
        for n in range(120):
            await t.publish(tick, {"k": "hot", "n": n}, key="hot", wait=False)
        await t.drain()
    assert [n for b in batches for n in b] == list(range(120))
    assert max(len(b) for b in batches) == 50  # not one event per batch for a hot key


async def test_a_failed_batch_is_split_and_only_the_poison_event_is_dead_lettered() -> None:
    tick, group = names()
    events = Events(app="ticks")
    done: list[int] = []
    calls: list[int] = []

    @events.subscriber(
        tick, group=group, batch=True, batch_size=32, retry=RetryPolicy(attempts=2, delays=())
    )
    async def handle(batch: list[Tick], ctx: BatchContext) -> None:
        calls.append(len(batch))
        for e in batch:
            if e.n == 13:
                raise ValueError(f"cannot price tick {e.n}")
        done.extend(e.n for e in batch)

    async with TestEvents(events, partitions=1) as t:
        for n in range(32):
            await t.publish(tick, {"k": f"k{n}", "n": n}, key=f"k{n}", wait=False)
        await t.drain()
        (letter,) = t.dead_letters()
        assert "cannot price tick 13" in letter.error
        assert letter.attempts == 2  # the poison event alone got its immediate retries
    assert sorted(done) == [n for n in range(32) if n != 13]  # each good event once
    # Halves, earlier first, down to the poison event (n=13), which gets its immediate retry:
    # 0-31 fails; 0-15 fails; 0-7; 8-15 fails; 8-11; 12-15 fails; 12-13 fails; 12; 13; 13
    # again; 14-15; 16-31.
    assert calls == [32, 16, 8, 8, 4, 4, 2, 1, 1, 1, 2, 16]


async def test_a_retried_event_holds_its_key_so_later_events_of_the_key_wait_behind_it() -> None:
    tick, group = names()
    events = Events(app="ticks")
    failing = {"k1": 3}  # event n=3 of k1 fails its first two attempts: to the retry topic
    seen: dict[str, list[int]] = defaultdict(list)

    @events.subscriber(
        tick,
        group=group,
        batch=True,
        batch_size=8,
        retry=RetryPolicy(attempts=2, delays=(0.5, 0.5)),
    )
    async def handle(batch: list[Tick], ctx: BatchContext) -> None:
        for e, c in zip(batch, ctx.items, strict=True):
            if failing.get(e.k) == e.n and c.attempt <= 2:
                raise ConnectionError("ledger unavailable")
        for e in batch:
            seen[e.k].append(e.n)

    async with TestEvents(events, partitions=1) as t:
        for n in range(10):
            for k in ("k0", "k1", "k2"):
                await t.publish(tick, {"k": k, "n": n}, key=k, wait=False)
        await t.drain()
        assert not t.dead_letters()
        retried = [c for c in t.handled(tick) if c.key == "k1" and c.event.n == 3]
        assert [(c.attempt, c.batch) for c in retried] == [(3, 1)]  # from the retry topic, alone
    assert seen == {k: list(range(10)) for k in ("k0", "k1", "k2")}
    # k1's later events in the failed batch were parked behind n=3, not run before it.
    assert HANDLED.labels(group, "parked")._value.get() >= 1


async def test_a_returned_skip_skips_the_whole_batch() -> None:
    tick, group = names()
    events = Events(app="ticks")

    @events.subscriber(tick, group=group, batch=True, batch_wait=0.05)
    async def handle(batch: list[Tick], ctx: BatchContext) -> Skip:
        return Skip("closed market")

    async with TestEvents(events, partitions=1) as t:
        for n in range(5):
            await t.publish(tick, {"k": "k", "n": n}, key="k", wait=False)
        await t.drain()
        calls = t.calls(tick)
        assert len(calls) == 5 and all(c.ok and c.batch == 5 for c in calls)
        assert not t.dead_letters()


async def test_a_dead_letter_outcome_raised_for_a_batch_dead_letters_only_its_event() -> None:
    tick, group = names()
    events = Events(app="ticks")

    @events.subscriber(tick, group=group, batch=True, batch_size=8, batch_wait=0.05)
    async def handle(batch: list[Tick], ctx: BatchContext) -> None:
        for e in batch:
            if e.n == 5:
                raise DeadLetter(f"tick {e.n} refers to a closed market")

    async with TestEvents(events, partitions=1) as t:
        for n in range(8):
            await t.publish(tick, {"k": f"k{n}", "n": n}, key=f"k{n}", wait=False)
        await t.drain()
        (letter,) = t.dead_letters()
        assert letter.error == "tick 5 refers to a closed market"
        assert letter.error_type == "DeadLetter"
        handled = sorted(c.event.n for c in t.handled(tick))
    assert handled == [0, 1, 2, 3, 4, 6, 7]


async def test_an_event_its_model_refuses_is_dead_lettered_alone_and_the_batch_runs() -> None:
    tick, group = names()
    events = Events(app="ticks")
    batches: list[list[int]] = []

    @events.subscriber(tick, group=group, batch=True, batch_size=8, batch_wait=0.05)
    async def handle(batch: list[Tick], ctx: BatchContext) -> None:
        batches.append([e.n for e in batch])

    async with TestEvents(events, partitions=1) as t:
        for n in range(6):
            data: dict[str, Any] = {"k": f"k{n}", "n": n if n != 2 else "two"}
            await t.publish(tick, data, key=f"k{n}", wait=False)
        await t.drain()
        (letter,) = t.dead_letters()
        assert letter.error_type.endswith("ValidationError")
        assert letter.attempts == 0  # never reached the handler
    assert batches == [[0, 1, 3, 4, 5]]


async def test_a_stop_hands_a_partial_batch_over_at_once() -> None:
    tick, group = names()
    events = Events(app="ticks")
    batches: list[list[int]] = []

    @events.subscriber(tick, group=group, batch=True, batch_size=100, batch_wait=600)
    async def handle(batch: list[Tick], ctx: BatchContext) -> None:
        batches.append([e.n for e in batch])

    loop = asyncio.get_running_loop()
    async with TestEvents(events, partitions=1) as t:
        for n in range(3):
            await t.publish(tick, {"k": f"k{n}", "n": n}, key=f"k{n}", wait=False)
        assert t.worker is not None
        batchers = list(t.worker.groups[0].batchers.values())
        await t.wait_for(lambda: sum(b.waiting for b in batchers) == 3)
        stopping = loop.time()
    # Finished (and committed) by the stop, not after the ten minutes the batch could wait.
    assert loop.time() - stopping < 10
    assert batches == [[0, 1, 2]]
    assert t.memory is not None
    (partition,) = t.memory.partitions_of(tick)
    assert t.memory.committed[group][partition] == 3
