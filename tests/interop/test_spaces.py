"""Spaces: two spaces on one broker, same app and contracts; topics and consumer groups are
scoped by the space and no event crosses from one space to the other."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bizevents import ConfigurationError, Events
from bizevents.contracts import load_contract_texts
from bizevents.mesh import Naming
from bizevents.settings import ConnectionSettings
from bizevents.worker import Context, Worker, WorkerSettings

from .helpers import running_worker, wait_until

pytestmark = pytest.mark.services

CONTRACT = """
asyncapi: 3.0.0
info:
  title: tickets
  version: 1.0.0
  x-bizevents-owner: team-tickets
  x-bizevents-source: /tickets
channels:
  opened:
    address: {topic}
    x-bizevents-type: com.acme.tickets.TicketOpened.v1
    x-bizevents-key: ticket_id
    messages:
      TicketOpened:
        payload:
          type: object
          required: [ticket_id, space]
          properties:
            ticket_id: {{type: string}}
            space: {{type: string}}
"""
TYPE = "com.acme.tickets.TicketOpened.v1"


async def test_two_spaces_on_one_broker_never_see_each_others_events(
    services: Any, kafka_admin: AIOKafkaAdminClient
) -> None:
    topic = f"tickets-{uuid.uuid4().hex[:8]}"
    contracts = load_contract_texts({"tickets.yaml": CONTRACT.format(topic=topic)})
    spaces = [f"blue{uuid.uuid4().hex[:6]}", f"green{uuid.uuid4().hex[:6]}"]
    await kafka_admin.create_topics([NewTopic(f"{s}.{topic}", 2, 1) for s in spaces])
    received: dict[str, list[dict[str, Any]]] = {s: [] for s in spaces}
    workers = []
    apps = {}
    for space in spaces:
        events = Events(app="tickets", contracts=contracts, space=space)
        apps[space] = events

        async def handle(event: dict[str, Any], ctx: Context, space: str = space) -> None:
            received[space].append(event)

        events.subscriber(TYPE, group="support")(handle)
        settings = WorkerSettings(
            kafka_bootstrap=services.kafka_bootstrap, commit_interval=0.1, topic_partitions=1
        )
        workers.append(Worker(events, settings))
    async with running_worker(workers[0]), running_worker(workers[1]):
        for space in spaces:
            async with apps[space].direct(services.kafka_bootstrap) as pub:
                for i in range(5):
                    await pub.publish(TYPE, {"ticket_id": f"t{i}", "space": space})
        await wait_until(lambda: all(len(received[s]) == 5 for s in spaces))
        groups = {g[0] for g in await kafka_admin.list_consumer_groups()}
    for space in spaces:
        assert {e["space"] for e in received[space]} == {space}, "an event crossed spaces"
        assert f"{space}.support" in groups
    assert "support" not in groups
    listed = set(await kafka_admin.list_topics())
    for space in spaces:
        assert f"bizevents.dlq.{space}.support" in listed
        assert f"bizevents.replay.{space}.support" in listed


def test_space_names_are_checked() -> None:
    assert Naming("prod").scoped("orders") == "prod.orders"
    assert Naming(None).scoped("orders") == "orders"
    for bad in ("Prod", "a.b", "-x", "x" * 41):
        with pytest.raises(ConfigurationError):
            Naming(bad)
    with pytest.raises(ValueError):
        ConnectionSettings(space="a.b")


def test_the_space_comes_from_bizevents_space(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIZEVENTS_SPACE", "sandbox-7")
    contracts = load_contract_texts({"tickets.yaml": CONTRACT.format(topic="tickets")})
    events = Events(app="tickets", contracts=contracts)
    assert events.build(TYPE, {"ticket_id": "1", "space": "x"}).topic == "sandbox-7.tickets"
    assert Events(app="tickets", contracts=contracts, space="").naming.space is None


def test_without_a_space_names_are_unchanged() -> None:
    contracts = load_contract_texts({"tickets.yaml": CONTRACT.format(topic="tickets")})
    assert (
        Events(app="tickets", contracts=contracts, space="")
        .build(TYPE, {"ticket_id": "1", "space": "x"})
        .topic
        == "tickets"
    )
