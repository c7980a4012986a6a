"""`bizevents contracts register` and `bizevents contracts check --against-registry`, run as the
real command against real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import asyncpg
import pytest

pytestmark = pytest.mark.services

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "contracts"
BIZEVENTS = Path(sys.executable).with_name("bizevents")


async def bizevents(*args: str, database_url: str, schema: str) -> tuple[int, str, str]:
    env = {
        **os.environ,
        "BIZEVENTS_DATABASE_URL": database_url,
        "BIZEVENTS_REGISTRY_SCHEMA": schema,
        "COLUMNS": "200",  # rich tables: keep rows on one line
    }
    process = await asyncio.create_subprocess_exec(
        str(BIZEVENTS),
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.fixture
def breaking_contracts(tmp_path: Path) -> Path:
    """The example contracts where OrderPlaced now requires `items` (old events lack it)."""
    folder = tmp_path / "contracts"
    shutil.copytree(CONTRACTS, folder)
    orders = folder / "orders.yaml"
    text = orders.read_text()
    old = "required: [order_id, customer_id, total, currency]"
    assert old in text
    orders.write_text(
        text.replace(old, "required: [order_id, customer_id, total, currency, items]")
    )
    return folder


async def test_register_then_check_against_the_registry(
    services: Any, db_schema: str, db: asyncpg.Connection, breaking_contracts: Path
) -> None:
    run = {"database_url": services.database_url, "schema": db_schema}

    code, out, _ = await bizevents("contracts", "register", str(CONTRACTS), "--json", **run)
    assert code == 0, out
    first = json.loads(out)
    assert first["ok"] is True
    assert len(first["registrations"]) >= 6
    assert all(r["created"] and r["version"] == 1 for r in first["registrations"])

    code, out, _ = await bizevents("contracts", "register", str(CONTRACTS), **run)
    assert code == 0
    assert f"0 new version(s), {len(first['registrations'])} unchanged" in out

    code, out, _ = await bizevents(
        "contracts", "check", str(CONTRACTS), "--against-registry", "--json", **run
    )
    assert code == 0, out
    assert json.loads(out)["compatible"] is True

    placed = "com.acme.orders.OrderPlaced.v1"
    code, out, _ = await bizevents(
        "contracts", "check", str(breaking_contracts), "--against-registry", "--json", **run
    )
    assert code == 1
    report = json.loads(out)
    assert report["compatible"] is False
    assert report["problems"] == [
        {
            "against": f"{placed} v1",
            "pointer": "/required",
            "rule": "required-added",
            "message": report["problems"][0]["message"],
        }
    ]

    code, out, err = await bizevents("contracts", "register", str(breaking_contracts), **run)
    assert code == 1
    assert "required-added" in err and f"{placed} v1" in err
    count = await db.fetchval(f"SELECT count(*) FROM {db_schema}.contract_versions")
    assert count == len(first["registrations"])  # nothing was written


async def test_an_unreachable_registry_is_a_clear_error(db_schema: str) -> None:
    code, out, err = await bizevents(
        "contracts",
        "register",
        str(CONTRACTS),
        database_url="postgresql://someone:hunter2@127.0.0.1:1/nowhere",
        schema=db_schema,
    )
    assert code == 1
    assert "cannot open the registry" in err
    assert "hunter2" not in err + out
    assert "Traceback" not in err
