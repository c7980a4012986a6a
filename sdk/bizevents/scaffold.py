"""`bizevents init`: the files of a new service (pure: names in, {path: text} out).

A contract that starts closed, an app module with a publisher and a subscriber, a unit test on
the in-memory harness (a plain test: no pytest-asyncio set-up needed), and a CI workflow that
lints the contracts and refuses breaking changes.
"""

from __future__ import annotations

import re

SERVICE = re.compile(r"^[a-z][a-z0-9-]{0,40}$")
ORG = re.compile(r"^[a-z][a-z0-9-]{0,40}(\.[a-z][a-z0-9-]{0,40})*$")
EVENT = re.compile(r"^[A-Z][A-Za-z0-9]{0,60}$")


def check_names(service: str, org: str, event: str) -> list[str]:
    problems = []
    if not SERVICE.match(service):
        problems.append(f"service {service!r}: lowercase letters, digits and -, e.g. orders")
    if not ORG.match(org):
        problems.append(f"org {org!r}: a lowercase domain part such as acme or acme.shop")
    if not EVENT.match(event):
        problems.append(f"event {event!r}: CamelCase, e.g. OrderPlaced")
    return problems


def scaffold(service: str, org: str = "example", event: str = "ThingHappened") -> dict[str, str]:
    package = service.replace("-", "_")
    event_type = f"com.{org}.{service}.{event}.v1"
    group = f"{service}-audit"
    handler = re.sub(r"(?<!^)([A-Z])", r"_\1", event).lower()
    return {
        f"contracts/{service}.yaml": _CONTRACT.format(
            service=service, org=org, event=event, event_type=event_type
        ),
        f"{package}/__init__.py": f'"""The {service} service."""\n',
        f"{package}/app.py": _APP.format(
            service=service, event_type=event_type, group=group, handler=handler
        ),
        f"tests/test_{package}_events.py": _TEST.format(
            package=package, event_type=event_type, handler=handler
        ),
        ".github/workflows/contracts.yml": _CI,
    }


_CONTRACT = """\
asyncapi: 3.0.0
info:
  title: {service}
  version: 1.0.0
  description: Events the {service} service publishes.
  x-bizevents-owner: team-{service}
  x-bizevents-source: /{org}/{service}
channels:
  {event}:
    address: {event_type}
    description: Something happened in {service}.
    x-bizevents-type: {event_type}
    x-bizevents-key: id
    x-bizevents-compatibility: BACKWARD
    x-bizevents-retention: 7d
    x-bizevents-publishers: [{service}]
    x-bizevents-subscribers: [{service}]
    messages:
      {event}:
        payload:
          type: object
          # Closed: adding an optional property later stays a compatible change.
          additionalProperties: false
          required: [id]
          properties:
            id: {{type: string, minLength: 1, description: What happened to (the Kafka key)}}
            note: {{type: string, maxLength: 200}}
operations:
  send{event}:
    action: send
    channel: {{$ref: '#/channels/{event}'}}
"""

_APP = '''\
"""The {service} service's events: what it publishes and what it handles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bizevents import Events
from bizevents.worker import Context

EVENT = "{event_type}"

events = Events(app="{service}", contracts=Path(__file__).resolve().parents[1] / "contracts")


async def publish_it(conn: Any, thing_id: str, note: str = "") -> str:
    """Call inside your own transaction: the event commits with your data or not at all."""
    data = {{"id": thing_id, **({{"note": note}} if note else {{}})}}
    return await events.publish(conn, EVENT, data)


@events.subscriber(EVENT, group="{group}")
async def on_{handler}(event: dict[str, Any], ctx: Context) -> None:
    """Run by `bizevents worker {service}.app:events`, at least once per event."""
    ctx.log.info("handled", id=event["id"])
'''

_TEST = '''\
"""Unit test on the in-memory harness: no Kafka, no database."""

import asyncio

from bizevents.testing import TestEvents

from {package}.app import EVENT, events, publish_it


def test_published_and_handled() -> None:
    async def scenario() -> None:
        async with TestEvents(events) as t:
            await publish_it(None, "t-1", note="first")  # the harness needs no connection
            assert [e.partitionkey for e in t.published(EVENT)] == ["t-1"]
            await t.drain()
            assert [c.event["id"] for c in t.handled(EVENT)] == ["t-1"]
            assert not t.dead_letters()

    asyncio.run(scenario())
'''

_CI = """\
# Contracts gate: every problem annotated on the pull request, breaking changes refused.
name: contracts
on: [pull_request]
jobs:
  contracts:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          fetch-depth: 0
      - uses: actions/setup-python@v5
        with:
          python-version: "3.12"
      - run: pip install bizevents
      - run: bizevents contracts lint contracts --format github
      - run: bizevents contracts check contracts --against-git origin/${{ github.base_ref }}
"""
