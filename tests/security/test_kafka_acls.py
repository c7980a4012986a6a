"""ACLs derived from the contracts, enforced by a real Kafka (SASL/SCRAM + StandardAuthorizer)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    TopicAuthorizationFailedError,
)
from aiokafka.protocol.fetch import FetchRequest
from pydantic import SecretStr
from typer.testing import CliRunner

from bizevents.cli import app as cli
from bizevents.kafka import ensure_topics
from bizevents.settings import ConnectionSettings

from .conftest import SecureKafka, write_contracts

# The first test also starts the secured broker; all of it must tolerate a loaded machine.
pytestmark = [pytest.mark.services, pytest.mark.timeout(300)]

runner = CliRunner()


def bizevents(secure: SecureKafka, *args: str) -> Any:
    result = runner.invoke(cli, list(args), env=secure.env(secure.admin))
    return result


def acl_plan(secure: SecureKafka, folder: Path) -> dict[str, Any]:
    result = bizevents(secure, "kafka", "acl", "plan", str(folder), "--json")
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def acl_apply(secure: SecureKafka, folder: Path, *extra: str) -> str:
    result = bizevents(secure, "kafka", "acl", "apply", str(folder), *extra)
    assert result.exit_code == 0, result.output
    return str(result.stdout)


async def produce(settings: ConnectionSettings, topic: str, value: bytes) -> None:
    producer = AIOKafkaProducer(
        **settings.kafka_client_options(), acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        await asyncio.wait_for(producer.send_and_wait(topic, value, key=b"k"), 30)
    finally:
        await producer.stop()


async def read_one(settings: ConnectionSettings, topic: str, group: str) -> bytes:
    """The first record of `topic`, read in consumer group `group` as `settings`' principal."""
    consumer = AIOKafkaConsumer(
        **settings.kafka_client_options(),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        consumer.subscribe([topic])
        record = await asyncio.wait_for(consumer.getone(), 30)
        return bytes(record.value)
    finally:
        await consumer.stop()


async def fetch_error(settings: ConnectionSettings, topic: str) -> int:
    """Kafka's answer to a plain Fetch of partition 0 (0: records served, 29: not authorized).

    A consumer only waits when its metadata says "not authorized"; the Fetch request shows the
    broker's own refusal of the read.
    """
    client = AIOKafkaClient(**settings.kafka_client_options())
    await client.bootstrap()
    try:
        request = FetchRequest(100, 1, 1_000_000, 0, [(topic, [(0, 0, 1_000_000)])])
        response = await client.send(client.get_random_node(), request)
        return int(response.topics[0][1][0][1])
    finally:
        await client.close()


@pytest.fixture
def domain(
    tmp_path: Path,
    secure_kafka: SecureKafka,
    names: Callable[[str], str],
    app_user: Callable[[str], ConnectionSettings],
) -> dict[str, Any]:
    """orders publishes OrderPlaced, billing subscribes; shipping is in no contract yet."""
    apps = {a: names(a) for a in ("orders", "billing", "shipping")}
    event_type = f"com.acme.{apps['orders'].replace('-', '')}.OrderPlaced.v1"
    folder = write_contracts(
        tmp_path / "contracts", "orders", {event_type: ([apps["orders"]], [apps["billing"]])}
    )
    asyncio.run(ensure_topics(secure_kafka.admin, [event_type]))
    acl_apply(secure_kafka, folder)
    return {
        "folder": folder,
        "topic": event_type,
        "apps": apps,
        "users": {role: app_user(name) for role, name in apps.items()},
    }


def test_plan_shows_the_diff_and_apply_is_idempotent(
    tmp_path: Path, secure_kafka: SecureKafka, names: Callable[[str], str]
) -> None:
    pub, sub = names("pub"), names("sub")
    event_type = f"com.acme.{pub.replace('-', '')}.Thing.v1"
    folder = write_contracts(tmp_path / "c", "things", {event_type: ([pub], [sub])})

    ours = {f"User:{pub}", f"User:{sub}"}

    def mine(acls: list[dict[str, str]]) -> list[dict[str, str]]:
        # The broker is shared by this session's tests: look at this test's principals only.
        return [a for a in acls if a["principal"] in ours]

    planned = mine(acl_plan(secure_kafka, folder)["add"])
    wanted = {
        (a["principal"], a["operation"], a["resource_type"], a["resource_name"]) for a in planned
    }
    assert (f"User:{pub}", "WRITE", "TOPIC", event_type) in wanted
    assert (f"User:{sub}", "READ", "TOPIC", event_type) in wanted
    assert (f"User:{sub}", "READ", "GROUP", sub) in wanted
    assert (f"User:{sub}", "CREATE", "TOPIC", f"bizevents.retry.{sub}.") in wanted
    # The publisher may not read its own event, the subscriber may not write it.
    assert (f"User:{pub}", "READ", "TOPIC", event_type) not in wanted
    assert (f"User:{sub}", "WRITE", "TOPIC", event_type) not in wanted
    assert not any(a[0] == f"User:{pub}" and a[2] == "GROUP" for a in wanted)

    acl_apply(secure_kafka, folder)
    assert mine(acl_plan(secure_kafka, folder)["add"]) == []
    assert "applied: 0 added" in acl_apply(secure_kafka, folder)  # idempotent

    # The subscriber leaves the contract: its ACLs are to be removed, but only with --remove.
    write_contracts(folder, "things", {event_type: ([pub], [])})
    removals = mine(acl_plan(secure_kafka, folder)["remove"])
    assert removals and {a["principal"] for a in removals} == {f"User:{sub}"}
    text = bizevents(secure_kafka, "kafka", "acl", "plan", str(folder)).stdout
    assert f"- User:{sub} ALLOW READ TOPIC {event_type}" in text
    assert "only with `bizevents kafka acl apply --remove`" in acl_apply(secure_kafka, folder)
    assert mine(acl_plan(secure_kafka, folder)["remove"]) == removals  # nothing was removed
    acl_apply(secure_kafka, folder, "--remove")
    after = acl_plan(secure_kafka, folder)
    assert mine(after["add"]) == [] and mine(after["remove"]) == []


async def test_publisher_writes_subscriber_reads_others_are_refused(
    domain: dict[str, Any],
) -> None:
    users, topic = domain["users"], domain["topic"]
    await produce(users["orders"], topic, b"placed")
    assert await read_one(users["billing"], topic, group=domain["apps"]["billing"]) == b"placed"

    # Not a subscriber: Kafka itself refuses the read.
    refused = TopicAuthorizationFailedError.errno
    assert await fetch_error(users["shipping"], topic) == refused
    assert await fetch_error(users["billing"], topic) == 0
    # A subscriber is not a publisher: Kafka refuses its write.
    with pytest.raises(TopicAuthorizationFailedError):
        await produce(users["billing"], topic, b"forged")
    # The publisher cannot read what it publishes either (it is not a subscriber).
    assert await fetch_error(users["orders"], topic) == refused


async def test_an_app_cannot_join_another_apps_group(domain: dict[str, Any]) -> None:
    users, topic, apps = domain["users"], domain["topic"], domain["apps"]
    await produce(users["orders"], topic, b"placed")
    # orders authenticates fine, but billing's consumer group is not orders' to join.
    with pytest.raises(GroupAuthorizationFailedError):
        await read_one(users["orders"], topic, group=apps["billing"])
    with pytest.raises(GroupAuthorizationFailedError):
        await read_one(users["orders"], topic, group=f"{apps['billing']}.audit")


async def test_wrong_password_is_refused(domain: dict[str, Any]) -> None:
    billing = domain["users"]["billing"]
    wrong = billing.model_copy(update={"kafka_sasl_password": SecretStr("not-the-password")})
    with pytest.raises(KafkaConnectionError):
        await read_one(wrong, domain["topic"], group=domain["apps"]["billing"])


def test_a_new_subscriber_reads_after_contract_change_and_apply(
    domain: dict[str, Any], secure_kafka: SecureKafka
) -> None:
    users, topic, apps = domain["users"], domain["topic"], domain["apps"]
    asyncio.run(produce(users["orders"], topic, b"placed"))
    refused = TopicAuthorizationFailedError.errno
    assert asyncio.run(fetch_error(users["shipping"], topic)) == refused

    write_contracts(
        domain["folder"], "orders", {topic: ([apps["orders"]], [apps["billing"], apps["shipping"]])}
    )
    out = acl_apply(secure_kafka, domain["folder"])
    assert f"+ User:{apps['shipping']} ALLOW READ TOPIC {topic}" in out
    assert asyncio.run(read_one(users["shipping"], topic, group=apps["shipping"])) == b"placed"


def test_acl_commands_need_a_super_user(domain: dict[str, Any], secure_kafka: SecureKafka) -> None:
    billing = domain["users"]["billing"]
    result = runner.invoke(
        cli, ["kafka", "acl", "plan", str(domain["folder"])], env=secure_kafka.env(billing)
    )
    assert result.exit_code == 1
    assert "error: Kafka refused describing ACLs: ClusterAuthorizationFailedError" in result.output
    assert "Traceback" not in result.output


async def test_relay_as_the_app_cannot_write_another_apps_topic(
    domain: dict[str, Any], secure_kafka: SecureKafka, db: Any, db_schema: str, db_url: str
) -> None:
    """A row in orders' outbox for a topic orders may not write (put there by hand, or left
    over from before a contract change) stays in the outbox: Kafka refuses it, the rest goes."""
    from bizevents.app import Events
    from bizevents.outbox import OutgoingEvent
    from bizevents.relay import Relay
    from bizevents.settings import RelaySettings

    users, topic, apps = domain["users"], domain["topic"], domain["apps"]
    foreign = f"{topic}.foreign"
    await ensure_topics(secure_kafka.admin, [foreign])
    events = Events(app=apps["orders"], contracts=domain["folder"], outbox_schema=db_schema)
    await events.migrate(db)
    forged = events.build(topic, {"id": "forged"})
    async with db.transaction():
        await events.outbox.write(db, [OutgoingEvent(foreign, forged.envelope)])
        await events.publish(db, topic, {"id": "legit"})

    settings = RelaySettings(
        **users["orders"].model_dump(exclude={"database_url"}),
        database_url=db_url,
        outbox_schema=db_schema,
        relay_poll_interval=0.2,
        relay_max_backoff=0.5,
    )
    relay = Relay(settings)
    task = asyncio.create_task(relay.run())
    try:
        value = await read_one(users["billing"], topic, group=apps["billing"])
        assert json.loads(value)["id"] == "legit"
        await asyncio.sleep(1)  # a few more rounds: the forged row is refused each time
        left = await db.fetch(f"SELECT topic, event_id::text FROM {db_schema}.outbox")
    finally:
        relay.stop()
        await asyncio.wait_for(task, 15)
    assert [(r["topic"], r["event_id"]) for r in left] == [(foreign, forged.envelope.id)]
    assert await fetch_error(secure_kafka.admin, foreign) == 0
    consumer = AIOKafkaConsumer(**secure_kafka.admin.kafka_client_options())
    await consumer.start()
    try:
        from aiokafka import TopicPartition

        ends = await consumer.end_offsets([TopicPartition(foreign, p) for p in range(3)])
    finally:
        await consumer.stop()
    assert sum(ends.values()) == 0  # nothing reached the foreign topic


def test_user_commands_take_the_password_on_stdin(
    secure_kafka: SecureKafka, names: Callable[[str], str]
) -> None:
    import secrets as pysecrets

    from secrets_registry import remember_secret

    name = names("crm")
    password = remember_secret("pw-" + pysecrets.token_urlsafe(16))
    env = secure_kafka.env(secure_kafka.admin)
    set_ = runner.invoke(cli, ["kafka", "user", "set", name], input=password + "\n", env=env)
    assert set_.exit_code == 0, set_.output
    assert password not in set_.output
    listed = runner.invoke(cli, ["kafka", "user", "list", "--json"], env=env)
    assert json.loads(listed.stdout)[name] == ["SCRAM-SHA-512"]

    login = ConnectionSettings(
        kafka_bootstrap=secure_kafka.bootstrap,
        kafka_sasl_username=name,
        kafka_sasl_password=SecretStr(password),
    )

    async def can_log_in() -> bool:
        client = AIOKafkaClient(**login.kafka_client_options())
        try:
            await client.bootstrap()
        except KafkaConnectionError:
            return False
        finally:
            await client.close()
        return True

    assert asyncio.run(can_log_in())
    deleted = runner.invoke(cli, ["kafka", "user", "delete", name], env=env)
    assert deleted.exit_code == 0, deleted.output
    assert not asyncio.run(can_log_in())
    empty = runner.invoke(cli, ["kafka", "user", "set", name], input="", env=env)
    assert empty.exit_code == 1 and "no password on standard input" in empty.output


async def test_dlq_principal_ingests_and_replays_and_reads_nothing_else(
    tmp_path: Path,
    secure_kafka: SecureKafka,
    names: Callable[[str], str],
    app_user: Callable[[str], ConnectionSettings],
    services: Any,
    db_schema: str,
) -> None:
    """`acl apply --dlq NAME`: `dlq ingest` reads every group's dead-letter topic and replays
    into replay topics as User:NAME, which reads no event topic."""
    from datetime import UTC, datetime

    import asyncpg

    from bizevents.deadletter import DeadLetterRecord
    from bizevents.dlq import (
        DeadLetterFilter,
        DeadLetterIngester,
        DeadLetterSettings,
        DeadLetterStore,
        replay_dead_letters,
    )
    from bizevents.topics import dead_letter_topic, replay_topic

    orders, billing, dlq = names("orders"), names("billing"), names("dlq")
    event_type = f"com.acme.{orders.replace('-', '')}.OrderPlaced.v1"
    folder = write_contracts(tmp_path / "c", "orders", {event_type: ([orders], [billing])})
    await ensure_topics(secure_kafka.admin, [event_type, dead_letter_topic(billing)])
    applied = await asyncio.to_thread(acl_apply, secure_kafka, folder, "--dlq", dlq)
    assert f"+ User:{dlq} ALLOW READ TOPIC bizevents.dlq.*" in applied
    now = datetime.now(UTC)
    letter = DeadLetterRecord.build(
        group=billing, error="boom", error_type="ValueError", stack="", attempts=3,
        first_failure=now, last_failure=now, original_topic=event_type, original_partition=0,
        original_offset=5, key=b"o-1", value=b'{"id": "o-1"}',
    )  # fmt: skip
    key, value, headers = letter.record()
    producer = AIOKafkaProducer(**secure_kafka.admin.kafka_client_options())
    await producer.start()
    try:
        await producer.send_and_wait(dead_letter_topic(billing), value, key=key, headers=headers)
    finally:
        await producer.stop()

    login = await asyncio.to_thread(app_user, dlq)
    settings = DeadLetterSettings(
        **login.connection_values() | {"database_url": services.database_url},
        dlq_schema=db_schema,
        dlq_metadata_max_age_ms=1000,
    )
    pool = await asyncpg.create_pool(services.database_url, min_size=1, max_size=2)
    try:
        store = DeadLetterStore(pool, db_schema)
        await store.migrate()
        ingester, stop = DeadLetterIngester(store, settings), asyncio.Event()
        task = asyncio.create_task(ingester.run(stop))
        try:
            async with asyncio.timeout(90):
                while ingester.stored < 1:
                    assert not task.done(), task
                    await asyncio.sleep(0.2)
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)
        (stored,) = (await store.list(DeadLetterFilter(groups=(billing,)))).items
        assert stored.error == "boom" and stored.original_offset == 5
        result = await replay_dead_letters(store, DeadLetterFilter(ids=(stored.id,)), settings)
        assert result.replayed == 1
    finally:
        await pool.close()
    assert await fetch_error(secure_kafka.admin, replay_topic(billing)) == 0
    refused = TopicAuthorizationFailedError.errno
    assert await fetch_error(login, event_type) == refused
