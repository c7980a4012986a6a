"""`bizevents dlq ...` and `bizevents replay` end to end (real PostgreSQL and Kafka)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from typer.testing import CliRunner

from bizevents.cli import app
from bizevents.dlq import DeadLetterFilter, Status
from bizevents.envelope import Envelope, new_event_id, to_kafka
from bizevents.topics import replay_topic

from .conftest import letter

pytestmark = pytest.mark.services
runner = CliRunner()


@pytest.fixture
def env(services, db_schema, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("BIZEVENTS_DATABASE_URL", services.database_url)
    monkeypatch.setenv("BIZEVENTS_KAFKA_BOOTSTRAP", services.kafka_bootstrap)
    monkeypatch.setenv("BIZEVENTS_DLQ_SCHEMA", db_schema)
    monkeypatch.setenv("COLUMNS", "200")  # rich tables unwrapped
    yield
    structlog.reset_defaults()  # the command configured logging for its (here: our) process


async def run(*args: str, code: int = 0) -> str:
    # In a thread: the command runs its own event loop (asyncio.run), as it does for users.
    result = await asyncio.to_thread(runner.invoke, app, list(args))
    assert result.exit_code == code, result.output
    return result.stdout if code == 0 else result.output


async def test_list_show_and_filters(env, store):  # type: ignore[no-untyped-def]
    await store.add_many(
        [
            letter(1, group="billing", error="SAP timeout"),
            letter(2, group="shipping", minutes=90),
            letter(3, group="shipping", minutes=95, value=b"junk"),
        ]
    )
    listed = json.loads(await run("dlq", "list", "--json"))
    assert [i["original_offset"] for i in listed["items"]] == [3, 2, 1]
    assert (
        json.loads(await run("dlq", "list", "--json", "--group", "shipping", "--limit", "1"))[
            "next"
        ]
        == listed["items"][0]["id"]
    )
    assert [
        i["original_offset"]
        for i in json.loads(await run("dlq", "list", "--json", "-e", "sap"))["items"]
    ] == [1]
    since = "2026-11-01T13:32:00Z"
    assert [
        i["original_offset"]
        for i in json.loads(await run("dlq", "list", "--json", "--since", since))["items"]
    ] == [3]
    table = await run("dlq", "list", "--group", "billing")
    assert "SAP timeout" in table and "shipping" not in table

    shown = json.loads(await run("dlq", "show", str(listed["items"][2]["id"]), "--json"))
    assert shown["value"] == {"order_id": "o-1", "n": 1}
    assert shown["headers"]["ce_type"] == "com.acme.orders.OrderPlaced.v1"
    assert "ValueError" in shown["stack"]
    assert "no dead letter with id" in await run("dlq", "show", "999999", code=1)
    assert "--status must be one of" in await run("dlq", "list", "--status", "alive", code=1)


async def test_purge_needs_a_filter_and_confirmation(env, store):  # type: ignore[no-untyped-def]
    await store.add_many([letter(n, group="g") for n in range(4)])
    assert "no filter given" in await run("dlq", "purge", "--yes", code=1)
    assert "4 dead letter(s) match; nothing purged" in await run(
        "dlq", "purge", "--group", "g", code=2
    )
    assert await store.count(DeadLetterFilter(statuses=(Status.DEAD,))) == 4
    assert "purged 4" in await run("dlq", "purge", "--group", "g", "--yes")
    assert await store.count(DeadLetterFilter(statuses=(Status.PURGED,))) == 4
    assert "purged 4" in await run("dlq", "purge", "--all", "--hard", "--yes")
    assert await store.count(DeadLetterFilter()) == 0


async def test_dlq_replay_command(env, store):  # type: ignore[no-untyped-def]
    group = f"g-{uuid.uuid4().hex[:8]}"
    await store.add_many([letter(n, group=group) for n in range(3)])
    out = json.loads(await run("dlq", "replay", "--group", group, "--limit", "2", "--json"))
    assert out == {"replayed": 2, "skipped": 0, "not_dead": 0}
    assert await store.count(DeadLetterFilter(groups=(group,), statuses=(Status.REPLAYED,))) == 2
    out = json.loads(await run("dlq", "replay", "--group", group, "--json"))
    assert out == {"replayed": 1, "skipped": 0, "not_dead": 2}  # only the one still 'dead'
    assert await store.count(DeadLetterFilter(groups=(group,), statuses=(Status.REPLAYED,))) == 3


async def _events(bootstrap: str, topic: str, types: list[str]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for n, event_type in enumerate(types):
            env = Envelope(
                id=new_event_id(),
                type=event_type,
                source="/acme/orders",
                time=datetime.now(UTC),
                data=b'{"n":%d}' % n,
                partitionkey=f"k{n}",
            )
            key, value, headers = to_kafka(env)
            await producer.send(topic, value, key=key, headers=headers)
        await producer.flush()
    finally:
        await producer.stop()


async def test_history_replay_copies_one_groups_matching_records(env, services, topic):  # type: ignore[no-untyped-def]
    group = f"hist-{uuid.uuid4().hex[:8]}"
    placed, shipped = "com.acme.orders.OrderPlaced.v1", "com.acme.orders.OrderShipped.v1"
    await _events(services.kafka_bootstrap, topic, [placed, shipped] * 10)
    # The group has consumed and committed everything so far.
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=services.kafka_bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        seen = 0
        while seen < 20:
            seen += sum(len(m) for m in (await consumer.getmany(timeout_ms=500)).values())
        await consumer.commit()
    finally:
        await consumer.stop()

    out = await run("replay", "--group", group, "--from", "0", "--type", shipped)
    assert "scanned 20 record(s)" in out and "copied 10" in out
    # From a time after everything: nothing to copy. Default topics come from the group's offsets.
    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert "copied 0" in await run("replay", "--group", group, "--from", later)

    reader = AIOKafkaConsumer(
        replay_topic(group),
        bootstrap_servers=services.kafka_bootstrap,
        group_id=f"reader-{group}",
        auto_offset_reset="earliest",
    )
    await reader.start()
    got = []
    try:
        async with asyncio.timeout(20):
            while len(got) < 10:
                for msgs in (await reader.getmany(timeout_ms=500)).values():
                    got.extend(msgs)
    finally:
        await reader.stop()
    types = {dict(m.headers)["ce_type"].decode() for m in got}
    assert types == {shipped}
    origins = {dict(m.headers)["bizevents_replayed_from"].decode().rsplit("/", 2)[0] for m in got}
    assert origins == {topic}
    assert "has no committed offsets" in await run(
        "replay", "--group", "nobody-" + group, "--from", "1h", code=1
    )


async def test_messages_say_what_to_do(env, store):  # type: ignore[no-untyped-def]
    group = f"g-{uuid.uuid4().hex[:8]}"
    empty = await asyncio.to_thread(runner.invoke, app, ["dlq", "list", "--group", group])
    assert empty.exit_code == 0
    assert "bizevents dlq ingest" in empty.output and "bizevents.dlq.<group>" in empty.output
    await store.add_many([letter(1, group=group, minutes=30)])
    # Durations as people write them (the letters' failures lie weeks back).
    assert (
        json.loads(await run("dlq", "list", "--group", group, "--since", "2hours", "--json"))[
            "items"
        ]
        == []
    )
    recent = json.loads(await run("dlq", "list", "--group", group, "--since", "400 days", "--json"))
    assert len(recent["items"]) == 1
    bad = await run("dlq", "list", "--since", "yesterday-ish", code=1)
    assert "--since 'yesterday-ish'" in bad and "--from" not in bad
    (item,) = recent["items"]
    await run("dlq", "replay", "--id", str(item["id"]))
    again = await asyncio.to_thread(runner.invoke, app, ["dlq", "replay", "--id", str(item["id"])])
    assert again.exit_code == 0
    assert "replayed 0" in again.output and "already replayed or purged" in again.output
    assert "--status replayed" in again.output
    purge_help = await asyncio.to_thread(runner.invoke, app, ["dlq", "purge", "--help"])
    assert "exits with code 2" in " ".join(purge_help.output.split())
