"""Hostile contract documents: parsed in-process (what `bizevents contracts lint` and `Events`
do) and uploaded to the registry of the real broker. Parsing yields contracts or a
ContractError listing the problems, nothing else; an upload is registered (2xx) or refused with
a 4xx JSON error and its problems, and only a registration changes the registry's tables."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from bizevents.contracts import load_contract_texts
from bizevents.errors import ContractError

from . import tally
from .checks import Judge
from .conftest import Broker
from .strategies.common import weighted
from .strategies.contracts import documents
from .strategies.publish import HttpRequest
from .tally import hostile_settings, timeout

pytestmark = [pytest.mark.services, pytest.mark.hostile, pytest.mark.timeout(timeout())]


@pytest.fixture(scope="module")
def judge(broker: Broker, db: psycopg.Connection[Any]) -> Iterator[Judge]:
    with httpx.Client(base_url=broker.url, timeout=120) as client:
        yield Judge(broker, db, client)


def test_contract_parsing_refuses_hostile_documents_cleanly() -> None:
    @given(documents(uuid.uuid4().hex[:8]))
    @hostile_settings()
    def check(raw: bytes) -> None:
        note(repr(raw[:2000]))
        with tally.timed("contracts parse"):
            try:
                contracts = load_contract_texts({"doc.yaml": raw.decode("utf-8", "replace")})
            except ContractError as exc:
                assert exc.problems and all(p.message.strip() for p in exc.problems), exc
                outcome = f"ContractError [{exc.problems[0].rule}]"
            else:
                outcome = f"loaded ({'some' if len(contracts) else 'no'} events)"
        tally.record("contracts parse", outcome)

    check()


def registry_outcome(response: httpx.Response) -> str:
    assert response.status_code < 500, (response.status_code, response.text[:1000])
    if response.status_code == 307:
        return "307 redirect"
    body = response.json()
    if response.is_success:
        return str(response.status_code)
    if "error" not in body:  # a refused dry run answers its plan, the problems included
        assert "dry_run" in str(response.request.url) and body["problems"], body
    else:
        assert isinstance(body["error"], str) and body["error"].strip(), body
    assert isinstance(body["problems"], list), body
    rule = body["problems"][0].get("rule", "") if body["problems"] else ""
    return f"{response.status_code} {rule}".strip()


def test_registry_upload_refuses_hostile_documents_cleanly(broker: Broker, judge: Judge) -> None:
    registry = broker.registry_schema
    judge.state = broker.snapshot(judge.db)
    auth = weighted(
        (8, st.just(broker.token)),
        (1, st.sampled_from([broker.keys["ops"], broker.keys["orders"]])),
        (1, st.sampled_from(["", "nope", broker.token[:-1]])),
    )
    paths = weighted(
        (6, st.just("/api/registry/contracts")),
        (2, st.just("/api/registry/contracts?dry_run=true")),
        (1, st.sampled_from(["/api/registry/contracts?dry_run=%00", "/api/registry/contracts/"])),
    )
    media = st.sampled_from([b"application/yaml", b"application/json", b"text/plain", b""])

    @st.composite
    def uploads(draw: st.DrawFn) -> HttpRequest:
        headers = [(b"content-type", draw(media))]
        key = draw(auth)
        if key:
            headers.append((b"authorization", f"Bearer {key}".encode()))
        return HttpRequest("POST", draw(paths), headers, draw(documents(uuid.uuid4().hex[:0])))

    def registered(response: httpx.Response, diff: dict[str, Any]) -> None:
        assert "dry_run=true" not in str(response.request.url), diff
        assert all(table.startswith(f"{registry}.") for table in diff), diff

    @given(uploads())
    @hostile_settings()
    def check(request: HttpRequest) -> None:
        judge.run("registry upload", request, registry_outcome, registered)

    check()
