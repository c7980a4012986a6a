"""Per-key order under late commits: the scenario that broke the relay's claim-ahead.

Writers own their keys and run one transaction at a time, so one key's events commit strictly one
after another; some transactions sleep before committing (their rows took low ids but become
visible late) and most reuse the last key. The relay claims one row at a time, so it always
claims the next batch while the current one is in flight. An independent reader (a raw consumer,
not our worker) checks that first arrivals of each key are in commit order and nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest

from bizevents.app import Events
from bizevents.relay import Relay
from bizevents.settings import RelaySettings

pytestmark = pytest.mark.services
BIZEVENTS = str(Path(sys.executable).parent / "bizevents")
WRITERS = 8
KEYS_PER_WRITER = 6


@pytest.fixture
async def topic(make_topic) -> str:
    return str(await make_topic("com.acme.order"))


@dataclass
class Writers:
    """Keyed writers: per key, event `seq` n commits only after event n-1 committed."""

    events: Events
    db_url: str
    topic: str
    late_share: float = 0.3
    late_max: float = 0.3
    reuse_share: float = 0.7
    committed: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    async def write(self, writer: int, count: int, rng: random.Random) -> None:
        conn = await asyncpg.connect(self.db_url)
        try:
            key = f"w{writer}-k0"
            for _ in range(count):
                if rng.random() >= self.reuse_share:
                    key = f"w{writer}-k{rng.randrange(KEYS_PER_WRITER)}"
                seq = self.committed[key] + 1
                async with conn.transaction():
                    await self.events.publish(conn, self.topic, {"seq": seq}, key=key)
                    if rng.random() < self.late_share:
                        await asyncio.sleep(rng.uniform(0, self.late_max))
                self.committed[key] = seq
        finally:
            await conn.close()

    async def run(self, total: int, seed: int) -> None:
        rng = random.Random(seed)
        each = total // WRITERS
        await asyncio.gather(
            *(self.write(w, each, random.Random(rng.random())) for w in range(WRITERS))
        )

    @property
    def total(self) -> int:
        return sum(self.committed.values())


def order_report(records, committed: dict[str, int]) -> tuple[int, list[str], list[str]]:  # type: ignore[no-untyped-def]
    """(duplicates, inversions, losses) from the records in partition order, first arrivals only."""
    seen: set[bytes] = set()
    last: dict[str, int] = {}
    got: dict[str, set[int]] = defaultdict(set)
    duplicates, inversions = 0, []
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        event_id = dict(r.headers)["ce_id"]
        if event_id in seen:
            duplicates += 1
            continue
        seen.add(event_id)
        key, seq = r.key.decode(), json.loads(r.value)["seq"]
        if seq < last.get(key, 0):
            inversions.append(f"{key}: {seq} after {last[key]}")
        last[key] = max(seq, last.get(key, 0))
        got[key].add(seq)
    losses = [
        f"{key}: {sorted(set(range(1, n + 1)) - got[key])[:5]}"
        for key, n in committed.items()
        if got[key] != set(range(1, n + 1))
    ]
    return duplicates, inversions, losses


@contextlib.asynccontextmanager
async def in_process_relay(settings: RelaySettings) -> AsyncIterator[Relay]:
    relay = Relay(settings)
    task = asyncio.create_task(relay.run())
    try:
        yield relay
    finally:
        relay.stop()
        await asyncio.wait_for(task, 15)


async def test_late_commits_with_claim_ahead_keep_per_key_order(
    services, db, db_url, db_schema, topic, read_topic
):
    events = Events(app="orders", outbox_schema=db_schema, require_transaction=False)
    await events.migrate(db)
    writers = Writers(events, db_url, topic)
    settings = RelaySettings(
        database_url=db_url,
        kafka_bootstrap=services.kafka_bootstrap,
        outbox_schema=db_schema,
        relay_batch_size=1,
        relay_poll_interval=0.2,
    )
    async with in_process_relay(settings):
        await writers.run(3_000, seed=8)
        records = await read_topic(topic, writers.total, timeout=120)
    duplicates, inversions, losses = order_report(records, writers.committed)
    assert not losses, losses
    assert not inversions, f"{len(inversions)} per-key inversions, e.g. {inversions[:5]}"
    assert duplicates == 0  # no fault, so nothing is sent twice


async def test_late_commit_while_the_relay_claims_ahead_is_sent_before_its_next_event(
    services, db, db_url, db_schema, topic, read_topic
):
    """The mechanism, made deterministic with a row lock instead of timing: the relay has claimed
    the next batch while the current one is in flight, and is held at deleting the current one.
    Meanwhile key a's first event commits late (it took the lowest id) and its second commits.
    The relay's next claim must send a:1 before a:2."""
    events = Events(app="orders", outbox_schema=db_schema, require_transaction=False)
    await events.migrate(db)
    late = await asyncpg.connect(db_url)
    locker = await asyncpg.connect(db_url)
    late_tx, lock_tx = late.transaction(), locker.transaction()
    try:
        await late_tx.start()
        await events.publish(late, topic, {"seq": 1}, key="a")  # the lowest id, not yet committed
        for i in range(25):
            await events.publish(db, topic, {"seq": i + 1}, key=f"f{i}")
        await lock_tx.start()
        first_filler = await locker.fetchval(
            f"SELECT id FROM {db_schema}.outbox ORDER BY id LIMIT 1 FOR UPDATE"
        )
        settings = RelaySettings(
            database_url=db_url,
            kafka_bootstrap=services.kafka_bootstrap,
            outbox_schema=db_schema,
            relay_batch_size=10,
        )
        async with in_process_relay(settings):
            async with asyncio.timeout(60):  # the first batch is sent; its delete waits
                while not await db.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query LIKE $1",
                    f"DELETE FROM {db_schema}.outbox%",
                ):
                    await asyncio.sleep(0.005)
            await late_tx.commit()
            await events.publish(db, topic, {"seq": 2}, key="a")
            await lock_tx.rollback()
            records = await read_topic(topic, 27)
    finally:
        await late.close()
        await locker.close()
    assert first_filler is not None
    firsts = [json.loads(r.value)["seq"] for r in records if r.key == b"a"]
    assert firsts == [1, 2]


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_late_commits_and_relay_kills_keep_per_key_order(
    services, db, db_url, db_schema, topic, read_topic, tmp_path
):
    """The same writers while the relay process is killed with SIGKILL every 2 s and restarted."""
    events = Events(app="orders", outbox_schema=db_schema, require_transaction=False)
    await events.migrate(db)
    writers = Writers(events, db_url, topic)
    env = {
        **os.environ,
        "BIZEVENTS_DATABASE_URL": db_url,
        "BIZEVENTS_KAFKA_BOOTSTRAP": services.kafka_bootstrap,
        "BIZEVENTS_OUTBOX_SCHEMA": db_schema,
        "BIZEVENTS_RELAY_BATCH_SIZE": "1",
    }
    log = tmp_path / "relay.log"

    def start() -> subprocess.Popen[bytes]:
        with open(log, "ab") as out:
            return subprocess.Popen(
                [BIZEVENTS, "relay"], env=env, stdout=out, stderr=subprocess.STDOUT
            )

    relay = start()
    kills = 0
    writing = asyncio.create_task(writers.run(4_000, seed=9))
    try:
        while not writing.done():
            await asyncio.wait({writing}, timeout=2)
            relay.send_signal(signal.SIGKILL)
            relay.wait()
            kills += 1
            relay = start()
        await writing
        records = await read_topic(topic, None, timeout=120, idle=5)
    finally:
        relay.terminate()
        relay.wait(15)
    assert kills >= 3
    duplicates, inversions, losses = order_report(records, writers.committed)
    assert not losses, losses
    assert not inversions, f"{len(inversions)} per-key inversions, e.g. {inversions[:5]}"
    assert duplicates <= kills  # at most the batch in flight (one row) per kill
