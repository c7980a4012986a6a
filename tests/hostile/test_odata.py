"""Hostile input on the OData service: queries over a seeded event log (every query option,
keys, entity sets, injection attempts in literals) and creates. Reads change nothing; an
accepted create adds exactly one outbox row; every refusal is an OData error body with a
reason (routing-level 404/405 outside any entity set answer in problem+json)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from hypothesis import given

from bizevents_broker.eventlog import COLUMNS

from .checks import Judge, odata_outcome, problem_outcome
from .conftest import Broker
from .strategies.odata import ODataTarget, creates, queries
from .strategies.publish import HttpRequest
from .tally import hostile_settings, timeout

pytestmark = [pytest.mark.services, pytest.mark.hostile, pytest.mark.timeout(timeout())]

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def judge(broker: Broker, db: psycopg.Connection[Any]) -> Iterator[Judge]:
    with httpx.Client(base_url=broker.url, timeout=60) as client:
        yield Judge(broker, db, client)


@pytest.fixture(scope="module")
def target(broker: Broker, db: psycopg.Connection[Any]) -> ODataTarget:
    """A small event log (30 known rows), as the event-log feeder would have written it."""
    ids = [str(uuid.uuid4()) for _ in range(30)]
    names = ", ".join(c for c, _ in COLUMNS)
    with db.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {broker.gateway_schema}.event_log ({names}) "
            f"VALUES ({', '.join(['%s'] * len(COLUMNS))})",
            [
                (event_id, broker.placed if n % 3 else broker.audited, broker.source,
                 None if n % 5 == 0 else f"order/{n}", T0 + timedelta(minutes=n), f"o-{n}",
                 None, "application/json", json.dumps({"order_id": f"o-{n}", "amount": n}),
                 broker.placed, n % 3, n)
                for n, event_id in enumerate(ids)
            ],
        )  # fmt: skip
    return ODataTarget(
        keys=[broker.keys["orders"], broker.keys["billing"]],
        admin=[broker.token, broker.keys["ops"]],
        event_ids=ids,
        types=[broker.placed, broker.audited],
    )


def outcome(response: httpx.Response) -> str:
    assert response.status_code < 500, (response.status_code, response.text[:1000])
    if response.is_success:
        if response.request.url.path.endswith("/$count") and response.status_code == 200:
            assert response.text.isdigit(), response.text
        else:
            assert isinstance(response.json(), dict)
        return str(response.status_code)
    if response.status_code == 307:
        return "307 redirect"
    if response.headers.get("content-type", "").startswith("application/problem+json"):
        assert response.status_code in (404, 405), response.text  # no route at all
        return "route " + problem_outcome(response)
    assert response.headers.get("odata-version") == "4.0", response.headers
    return odata_outcome(response)


def test_odata_queries_refuse_hostile_input_cleanly(target: ODataTarget, judge: Judge) -> None:
    judge.state = judge.broker.snapshot(judge.db)

    @given(queries(target))
    @hostile_settings()
    def check(request: HttpRequest) -> None:
        judge.run("odata query", request, outcome)

    check()


def test_odata_creates_refuse_hostile_input_cleanly(
    broker: Broker, target: ODataTarget, judge: Judge
) -> None:
    outbox = f"{broker.gateway_schema}.outbox"
    judge.state = broker.snapshot(judge.db)

    def created(response: httpx.Response, diff: dict[str, Any]) -> None:
        assert response.status_code == 201 and set(diff) == {outbox}, (response.text, diff)
        (before, _), (after, _) = diff[outbox]
        assert after == before + 1

    @given(creates(target))
    @hostile_settings()
    def check(request: HttpRequest) -> None:
        judge.run("odata create", request, outcome, created)

    check()
