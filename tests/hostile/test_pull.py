"""Hostile input on pull subscriptions: create, fetch, commit, show, list and delete. Only an
accepted create adds a subscription row and only an accepted delete removes one; everything
else is a 4xx problem+json with a reason and changes no table."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from hypothesis import given

from .checks import Judge, rest_outcome
from .conftest import Broker
from .strategies.publish import HttpRequest
from .strategies.pull import PullTarget, pull_requests
from .tally import hostile_settings, timeout

pytestmark = [pytest.mark.services, pytest.mark.hostile, pytest.mark.timeout(timeout())]


@pytest.fixture(scope="module")
def judge(broker: Broker, db: psycopg.Connection[Any]) -> Iterator[Judge]:
    with httpx.Client(base_url=broker.url, timeout=60) as client:
        yield Judge(broker, db, client)


def subscribe(client: httpx.Client, broker: Broker, app: str) -> str:
    created = client.post(
        "/subscriptions",
        json={"event_types": [broker.placed], "start": "earliest"},
        headers=broker.auth(app),
    )
    assert created.status_code == 201, created.text
    return str(created.json()["subscription"]["id"])


def test_pull_subscriptions_refuse_hostile_input_cleanly(broker: Broker, judge: Judge) -> None:
    table = f"{broker.gateway_schema}.subscriptions"
    created: list[str] = []
    target = PullTarget(
        types=[broker.placed, broker.audited],
        subscriber_keys=[broker.keys["billing"]],
        other_keys=[broker.keys["orders"], broker.keys["ops"]],
        subscription=subscribe(judge.client, broker, "billing"),
        foreign=subscribe(judge.client, broker, "ops"),
        created=lambda: list(created),
    )
    judge.state = broker.snapshot(judge.db)

    def may_change(response: httpx.Response, diff: dict[str, Any]) -> None:
        assert set(diff) == {table}, diff
        (before, _), (after, _) = diff[table]
        if response.status_code == 201:
            assert after == before + 1
            created.append(response.json()["subscription"]["id"])
        else:
            assert response.status_code == 204 and response.request.method == "DELETE"
            assert after == before - 1
            deleted = response.request.url.path.rsplit("/", 1)[-1]
            if deleted == target.foreign:  # ops deleting its own: allowed, gone for the rest
                assert response.request.headers["authorization"].endswith(broker.keys["ops"])
            else:
                created.remove(deleted)

    @given(pull_requests(target))
    @hostile_settings()
    def check(request: HttpRequest) -> None:
        judge.run("pull subscriptions", request, rest_outcome, may_change)

    check()
