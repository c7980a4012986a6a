"""The broker's HTTP gateway on the secured Kafka: `bizevents broker serve` configured only by the
environment logs in with its own principal (`kafka acl apply --gateway NAME`) in every Kafka
client it runs (its relay, pull sessions, subscription cursors, the event log, webhooks), and a
login Kafka refuses is one clear line, with no secret in it, at start or per request."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from typer.testing import CliRunner

from bizevents.cli import app as cli
from bizevents.dlq import DeadLetterRecord, DeadLetterStore
from bizevents.envelope import Envelope, new_event_id, to_kafka
from bizevents.kafka import ensure_topics
from bizevents.security.kafka_admin import KafkaAdmin
from bizevents.settings import ConnectionSettings
from bizevents.topics import replay_topic
from bizevents_broker.core.cursors import initialize_group
from bizevents_broker.core.errors import ErrorKind, GatewayError
from bizevents_broker.core.pull import PullSessions
from bizevents_broker.core.subscriptions import Subscription
from gateway.conftest import BIZEVENTS
from secrets_registry import leaks, remember_log, remember_secret
from servers import free_port, stop_process, wait_healthy

from .conftest import SecureKafka, write_contracts

pytestmark = [pytest.mark.services, pytest.mark.timeout(300)]


def _broker_env(
    services: Any, secure: SecureKafka, login: ConnectionSettings, suffix: str, token: str
) -> dict[str, str]:
    return {
        **os.environ,
        **secure.env(login),
        "BIZEVENTS_DATABASE_URL": services.database_url,
        "BIZEVENTS_REGISTRY_SCHEMA": f"reg_{suffix}",
        "BIZEVENTS_GATEWAY_SCHEMA": f"gw_{suffix}",
        "BIZEVENTS_DLQ_SCHEMA": f"dlq_{suffix}",
        "BIZEVENTS_ADMIN_TOKEN": token,
        "BIZEVENTS_GATEWAY_SESSION_IDLE": "30",
    }


async def _drop(database_url: str, suffix: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        for prefix in ("reg", "gw", "dlq"):
            await conn.execute(f'DROP SCHEMA IF EXISTS "{prefix}_{suffix}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture
async def suffix(services: Any) -> AsyncIterator[str]:
    value = uuid.uuid4().hex[:10]
    yield value
    await _drop(services.database_url, value)


async def test_gateway_publishes_and_serves_pull_with_its_own_login(
    services: Any,
    secure_kafka: SecureKafka,
    names: Callable[[str], str],
    app_user: Callable[[str], ConnectionSettings],
    tmp_path: Path,
    suffix: str,
) -> None:
    orders, billing, gateway = names("orders"), names("billing"), names("gateway")
    event_type = f"com.acme.{orders.replace('-', '')}.OrderPlaced.v1"
    contracts = write_contracts(
        tmp_path / "contracts", "orders", {event_type: ([orders], [billing])}
    )
    await ensure_topics(secure_kafka.admin, [event_type])
    applied = await asyncio.to_thread(
        CliRunner().invoke,
        cli,
        ["kafka", "acl", "apply", str(contracts), "--gateway", gateway],
        env=secure_kafka.env(secure_kafka.admin),
    )
    assert applied.exit_code == 0, applied.output
    assert f"+ User:{gateway} ALLOW WRITE TOPIC {event_type}" in applied.output
    assert f"+ User:{gateway} ALLOW READ GROUP bizevents.pull.*" in applied.output
    # The gateway's ACLs are the contracts' business too: a plan without --gateway drops them.
    without = await asyncio.to_thread(
        CliRunner().invoke,
        cli,
        ["kafka", "acl", "plan", str(contracts)],
        env=secure_kafka.env(secure_kafka.admin),
    )
    assert f"- User:{gateway} ALLOW WRITE TOPIC {event_type}" in without.output
    login = await asyncio.to_thread(app_user, gateway)
    token = remember_secret("admin-token-" + secrets.token_urlsafe(16))

    env = _broker_env(services, secure_kafka, login, suffix, token)
    env["BIZEVENTS_CONTRACTS_PATH"] = str(contracts)
    env["BIZEVENTS_GATEWAY_WEBHOOK_ALLOW"] = "127.0.0.1/32"
    env["BIZEVENTS_GATEWAY_WEBHOOK_RETRY_DELAYS"] = "5"  # one retry topic is enough here
    # A dead letter of billing's group, for the broker to replay (OData) as its principal.
    dead_group = billing
    await _store_dead_letter(services.database_url, f"dlq_{suffix}", dead_group, event_type)
    port, log = free_port(), remember_log(tmp_path / "broker.log")
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            BIZEVENTS, "broker", "serve", "--port", str(port), env=env, stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    hooked: list[dict[str, Any]] = []
    try:
        await wait_healthy(url, process, timeout=120)
        async with (
            httpx.AsyncClient(base_url=url, timeout=60) as http,
            receiving(hooked) as hook_url,
        ):
            admin = {"Authorization": f"Bearer {token}"}
            keys = {}
            for app, is_admin in ((orders, False), (billing, False), ("ops", True)):
                created = await http.post(
                    "/api/apps", json={"name": app, "admin": is_admin}, headers=admin
                )
                assert created.status_code == 201, created.text
                keys[app] = {"Authorization": f"Bearer {remember_secret(created.json()['key'])}"}

            # A webhook: an ordinary worker in the broker, in the gateway's group, which
            # creates its retry and dead-letter topics as the gateway's principal.
            webhook = await http.post(
                "/webhooks",
                json={"event_types": [event_type], "url": hook_url, "start": "earliest"},
                headers=keys[billing],
            )
            assert webhook.status_code == 201, webhook.text
            remember_secret(webhook.json()["secret"])

            # The cursor of a new subscription is committed by the gateway, as its principal.
            subscribed = await http.post(
                "/subscriptions",
                json={"event_types": [event_type], "start": "latest"},
                headers=keys[billing],
            )
            assert subscribed.status_code == 201, subscribed.text
            sub = subscribed.json()["subscription"]["id"]

            published = await http.post(
                f"/events/{event_type}", json={"id": "o-1"}, headers=keys[orders]
            )
            assert published.status_code == 202, published.text
            (event_id,) = published.json()["ids"]

            # The broker's relay writes the topic and the pull session reads it back: both
            # are Kafka clients of the gateway, logged in as User:<gateway>.
            events: list[dict[str, Any]] = []
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 90
            while not events:
                assert loop.time() < deadline, log.read_text()[-3000:]
                fetched = await http.get(
                    f"/subscriptions/{sub}/events",
                    params={"session": "s1", "max": 10, "wait": 5},
                    headers=keys[billing],
                )
                assert fetched.status_code == 200, fetched.text
                events = fetched.json()["events"]
            assert [e["id"] for e in events] == [event_id]
            assert events[0]["data"] == {"id": "o-1"}
            committed = await http.post(
                f"/subscriptions/{sub}/commit",
                json={"batch": fetched.json()["batch"], "session": "s1"},
                headers=keys[billing],
            )
            assert committed.status_code == 204, committed.text

            # The event log (a consumer group of the broker) has it too, and the webhook
            # delivered it.
            async def logged() -> list[Any]:
                found = await http.get(
                    "/odata/Events", params={"$filter": f"Id eq '{event_id}'"},
                    headers=keys[billing],
                )  # fmt: skip
                assert found.status_code == 200, found.text
                return list(found.json()["value"])

            while not await logged() or not hooked:
                assert loop.time() < deadline + 60, log.read_text()[-3000:]
                await asyncio.sleep(0.5)
            assert hooked[0]["id"] == event_id

            # Dead-letter replay from OData writes the group's replay topic as the gateway.
            replayed = await http.post(
                "/odata/DeadLetters(1)/BizEvents.Replay", headers=keys["ops"]
            )
            assert replayed.status_code == 200, replayed.text
            assert replayed.json()["Replayed"] == 1
            assert await _count(secure_kafka.admin, replay_topic(dead_group)) == 1

            # Kafka stops accepting the gateway's login (its user is deleted): a new
            # subscription needs new connections, which are refused, and the answer says so.
            async with KafkaAdmin(secure_kafka.admin) as kafka_admin:
                await kafka_admin.delete_scram_user(gateway)
            refused = await http.post(
                "/subscriptions",
                json={"event_types": [event_type], "start": "latest"},
                headers=keys[billing],
            )
            assert refused.status_code == 503, refused.text
            assert "Kafka refused the gateway's login" in refused.json()["detail"]
    finally:
        await stop_process(process)
    text = log.read_text()
    assert "gateway.kafka_login_refused" in text and f"user '{gateway}'" in text
    assert "Traceback" not in text, text[-3000:]
    assert not leaks(text)


async def _store_dead_letter(database_url: str, schema: str, group: str, event_type: str) -> None:
    envelope = Envelope(
        id=new_event_id(), type=event_type, source="/acme/orders", time=datetime.now(UTC),
        data=b'{"id": "dead-1"}', partitionkey="dead-1",
    )  # fmt: skip
    key, value, headers = to_kafka(envelope)
    now = datetime.now(UTC)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        store = DeadLetterStore(pool, schema)
        await store.migrate()
        record = DeadLetterRecord.build(
            group=group, original_topic=event_type, original_partition=0, original_offset=0,
            error="boom", error_type="ValueError", stack="", attempts=1, first_failure=now,
            last_failure=now, key=key, value=value, headers=headers,
        )  # fmt: skip
        await store.add(record)
    finally:
        await pool.close()


async def _count(admin: ConnectionSettings, topic: str) -> int:
    """Records in `topic`, read as the secured broker's admin."""
    client = AIOKafkaAdminClient(**admin.kafka_client_options())
    await client.start()
    try:
        (described,) = await client.describe_topics([topic])
    finally:
        await client.close()
    partitions = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
    consumer = AIOKafkaConsumer(**admin.kafka_client_options())
    await consumer.start()
    try:
        return sum((await consumer.end_offsets(partitions)).values())
    finally:
        await consumer.stop()


@contextlib.asynccontextmanager
async def receiving(hooked: list[dict[str, Any]]) -> AsyncIterator[str]:
    """A webhook receiver on 127.0.0.1 that keeps the CloudEvents it gets."""

    async def hook(request: Request) -> Response:
        hooked.append(json.loads(await request.body()))
        return Response("", 200)

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            Starlette(routes=[Route("/hook", hook, methods=["POST"])]),
            host="127.0.0.1", port=port, log_level="warning",
        )
    )  # fmt: skip
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        server.should_exit = True
        await task


async def test_a_refused_login_stops_the_broker_with_one_clear_line(
    services: Any,
    secure_kafka: SecureKafka,
    names: Callable[[str], str],
    app_user: Callable[[str], ConnectionSettings],
    suffix: str,
) -> None:
    gateway = names("gateway")
    login = await asyncio.to_thread(app_user, gateway)
    wrong = remember_secret("wrong-" + secrets.token_urlsafe(12))
    login = login.model_copy(update={"kafka_sasl_password": SecretStr(wrong)})
    token = remember_secret("admin-token-" + secrets.token_urlsafe(16))
    env = _broker_env(services, secure_kafka, login, suffix, token)
    process = await asyncio.create_subprocess_exec(
        BIZEVENTS, "broker", "serve", "--port", str(free_port()), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    text = output.decode()
    assert process.returncode == 1, text
    assert (
        f"error: Kafka refused the login of user '{gateway}' (SCRAM-SHA-512: "
        "SaslAuthenticationFailed); check BIZEVENTS_KAFKA_SASL_USERNAME and "
        "BIZEVENTS_KAFKA_SASL_PASSWORD"
    ) in text
    assert "Traceback" not in text and wrong not in text and not leaks(text)


async def test_missing_gateway_acls_are_named_not_a_crash(
    secure_kafka: SecureKafka,
    names: Callable[[str], str],
    app_user: Callable[[str], ConnectionSettings],
) -> None:
    """A gateway whose principal has no ACLs (`acl apply` without `--gateway`): Kafka refuses,
    and the gateway says which refusal it got (a 503), for cursors and for pull sessions."""
    login = await asyncio.to_thread(app_user, names("gateway"))
    topic = f"com.acme.{uuid.uuid4().hex[:8]}.Thing.v1"
    await ensure_topics(secure_kafka.admin, [topic])
    with pytest.raises(GatewayError) as raised:
        await initialize_group(login, f"bizevents.pull.{uuid.uuid4()}", [topic], "latest")
    assert raised.value.kind is ErrorKind.UNAVAILABLE
    assert "Kafka refused the gateway access (TopicAuthorizationFailedError)" in str(raised.value)

    sessions = PullSessions(login)
    subscription = Subscription(str(uuid.uuid4()), "billing", "pull", (topic,), "earliest")
    try:
        with pytest.raises(GatewayError, match="the gateway's ACLs are missing"):
            await sessions.session(subscription, "s1", [topic])
    finally:
        await sessions.close()
