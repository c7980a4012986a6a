"""schemathesis against the served OpenAPI document of a real `bizevents broker serve`: generated
requests (valid and invalid, bounded), authenticated as the admin. No 5xx, and every answer's
status, content type, headers and body match the document."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from servers import free_port

from .conftest import BIZEVENTS

pytestmark = pytest.mark.services

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "schemathesis-admin-" + uuid.uuid4().hex
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def broker_url(services: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    suffix = uuid.uuid4().hex[:10]
    schemas = (f"reg_{suffix}", f"gw_{suffix}")
    port = free_port()
    log = tmp_path_factory.mktemp("schemathesis") / "broker.log"
    env = {
        **os.environ,
        "BIZEVENTS_DATABASE_URL": services.database_url,
        "BIZEVENTS_KAFKA_BOOTSTRAP": services.kafka_bootstrap,
        "BIZEVENTS_REGISTRY_SCHEMA": schemas[0],
        "BIZEVENTS_GATEWAY_SCHEMA": schemas[1],
        "BIZEVENTS_ADMIN_TOKEN": TOKEN,
        "BIZEVENTS_GATEWAY_RATE_LIMIT": "0",
        "BIZEVENTS_GATEWAY_RELAY": "false",
        "BIZEVENTS_GATEWAY_WEBHOOKS": "false",
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [BIZEVENTS, "broker", "serve", "--port", str(port),
             "--contracts", str(ROOT / "contracts")],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(30)
        text = log.read_text()
        import asyncio

        async def drop() -> None:
            conn = await asyncpg.connect(services.database_url)
            try:
                for schema in schemas:
                    await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            finally:
                await conn.close()

        asyncio.run(drop())
        assert "Traceback" not in text, text


@pytest.fixture(scope="module")
def api_schema(broker_url: str) -> Any:
    schema = schemathesis.openapi.from_url(f"{broker_url}/openapi.json")
    schema.config.update(base_url=broker_url)
    return schema


def test_api_conforms_to_its_document(api_schema: Any) -> None:
    # Driven by hand with hypothesis: schemathesis' pytest plugin does not run on pytest 9.
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=6,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
                database=None,
            )
            def check(case: Any) -> None:
                case.call_and_validate(
                    headers={"Authorization": f"Bearer {TOKEN}"}, checks=CHECKS, timeout=60
                )

            check()
