"""Hostile input on HTTP publish, in every mode: structured, binary and batch CloudEvents, and
the plain payload. Accepted requests add exactly their events to the outbox; every refusal is
a 4xx problem+json with a reason and leaves every table as it was."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from hypothesis import given

from .checks import Judge, published, rest_outcome
from .conftest import Broker
from .strategies.publish import HttpRequest, Target, requests_of
from .tally import hostile_settings, timeout

pytestmark = [pytest.mark.services, pytest.mark.hostile, pytest.mark.timeout(timeout())]


@pytest.fixture(scope="module")
def judge(broker: Broker, db: psycopg.Connection[Any]) -> Iterator[Judge]:
    with httpx.Client(base_url=broker.url, timeout=60) as client:
        yield Judge(broker, db, client)


def target_of(broker: Broker) -> Target:
    return Target(broker.placed, broker.audited, broker.source,
                  [broker.keys["orders"]], [broker.keys["billing"]])  # fmt: skip


@pytest.mark.parametrize("mode", ["batch", "binary", "plain", "structured"])
def test_publish_refuses_hostile_input_cleanly(mode: str, broker: Broker, judge: Judge) -> None:
    outbox = f"{broker.gateway_schema}.outbox"

    @given(requests_of(target_of(broker))[mode])
    @hostile_settings()
    def check(request: HttpRequest) -> None:
        judge.run(f"publish {mode}", request, rest_outcome, published(outbox))

    check()
