"""The independent checker: its own raw Kafka consumer and its own SQL, none of our worker code.

Sources of truth:
- `chaos.ledger`: one row per event, written in the same transaction as the publish. A row there
  means the event committed, whatever the writer saw (a commit cut off by a PostgreSQL kill is
  decided here, not by the writer).
- `chaos.rolled_back`: ids of events whose transaction the writer rolled back on purpose (written
  outside that transaction).
- The topic, read from the beginning with read_committed.
- `chaos.effects`: what the handlers did, in commit order (a bigserial).
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer

from bizevents.topics import dead_letter_topic


@dataclass
class Report:
    committed: int = 0
    received: int = 0
    lost: int = 0
    rolled_back: int = 0
    rolled_back_published: int = 0
    duplicates_on_kafka: int = 0
    order_violations_kafka: int = 0
    effects: dict[str, dict[str, int]] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        inbox = self.effects.get("inbox", {})
        plain = self.effects.get("plain", {})
        return bool(
            self.lost
            or self.rolled_back_published
            or self.order_violations_kafka
            or inbox.get("missing")
            or inbox.get("duplicated")
            or inbox.get("order_violations")
            or plain.get("missing")
            or plain.get("order_violations")
        )

    def rows(self) -> list[tuple[str, int]]:
        out = [
            ("events committed", self.committed),
            ("received on Kafka (distinct)", self.received),
            ("lost", self.lost),
            ("rolled back", self.rolled_back),
            ("rolled back but published", self.rolled_back_published),
            ("duplicates on Kafka", self.duplicates_on_kafka),
            ("per-key order violations on Kafka", self.order_violations_kafka),
        ]
        for grp in ("inbox", "plain"):
            for name, value in self.effects.get(grp, {}).items():
                out.append((f"effects {grp}: {name.replace('_', ' ')}", value))
        return out


async def read_topic(
    bootstrap: str, topic: str, idle: float = 5.0, limit: float = 180
) -> list[Any]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await consumer.start()
    records: list[Any] = []
    loop = asyncio.get_running_loop()
    try:
        deadline, last = loop.time() + limit, loop.time()
        while loop.time() < deadline and loop.time() - last < idle:
            batch = await consumer.getmany(timeout_ms=500)
            for recs in batch.values():
                records.extend(recs)
                last = loop.time()
    finally:
        await consumer.stop()
    return records


def _first_arrival_order(
    items: list[tuple[str, str, int]], report: Report, what: str
) -> tuple[int, int, int, set[str]]:
    """(distinct, duplicates, per-key order violations among first arrivals, ids) of
    (event id, key, seq) items in delivery order."""
    seen: set[str] = set()
    last: dict[str, int] = {}
    duplicates = violations = 0
    for event_id, key, seq in items:
        if event_id in seen:
            duplicates += 1
            continue
        seen.add(event_id)
        if seq < last.get(key, 0):
            violations += 1
            if len(report.examples) < 10:
                report.examples.append(f"{what}: key {key} seq {seq} after {last[key]}")
        last[key] = max(seq, last.get(key, 0))
    return len(seen), duplicates, violations, seen


async def check(conn: asyncpg.Connection, bootstrap: str, topic: str) -> Report:
    report = Report()
    ledger = {r["event_id"]: (r["key"], r["seq"]) for r in await conn.fetch(
        "SELECT event_id::text, key, seq FROM chaos.ledger")}  # fmt: skip
    rolled = {r[0] for r in await conn.fetch("SELECT event_id::text FROM chaos.rolled_back")}
    report.committed, report.rolled_back = len(ledger), len(rolled)

    records = await read_topic(bootstrap, topic)
    by_partition: dict[int, list[Any]] = defaultdict(list)
    for r in records:
        by_partition[r.partition].append(r)
    kafka_items: list[tuple[str, str, int]] = []
    for part in sorted(by_partition):
        for r in sorted(by_partition[part], key=lambda r: r.offset):
            data = json.loads(r.value)
            kafka_items.append((dict(r.headers)["ce_id"].decode(), data["key"], data["seq"]))
    received, dupes, violations, ids = _first_arrival_order(kafka_items, report, "kafka")
    report.received, report.duplicates_on_kafka = received, dupes
    report.order_violations_kafka = violations
    lost = set(ledger) - ids
    report.lost = len(lost)
    report.examples += [f"lost: {i} {ledger[i]}" for i in sorted(lost)[:5]]
    published_rolled = rolled & ids
    report.rolled_back_published = len(published_rolled)

    for grp in ("inbox", "plain"):
        rows = await conn.fetch(
            "SELECT event_id, key, seq FROM chaos.effects WHERE grp = $1 ORDER BY id", grp
        )
        distinct, dup, violations, done = _first_arrival_order(
            [(r[0], r[1], r[2]) for r in rows], report, f"effects {grp}"
        )
        # An event whose retries ran out is in the group's dead-letter topic with its reason
        # (replayable): accounted for, not missing.
        letters = await read_topic(bootstrap, dead_letter_topic(f"chaos-{grp}"))
        dead = {_event_id(r) for r in letters}
        unhandled = set(ledger) - done
        report.effects[grp] = {
            "handled": distinct,
            "dead-lettered, not handled": len(unhandled & dead),
            "missing": len(unhandled - dead),
            "duplicated": dup,
            "order_violations": violations,
        }
    return report


def _event_id(record: Any) -> str:
    headers = dict(record.headers)
    if "ce_id" in headers:
        return str(headers["ce_id"].decode())
    return str(json.loads(record.value).get("id", ""))
