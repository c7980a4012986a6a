"""`bizevents contracts pull URL` and `Events(contracts=URL)`: contracts from the broker's
registry over HTTP, checked like local files (a real broker process)."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from bizevents.app import Events
from bizevents.contracts import load_contracts

from .conftest import BIZEVENTS, CONTRACTS, Server

pytestmark = pytest.mark.services


async def test_pull_writes_checked_documents_and_events_load_from_the_url(
    server: Server, tmp_path: Path
) -> None:
    out = tmp_path / "contracts"
    done = await asyncio.to_thread(
        subprocess.run,
        [BIZEVENTS, "contracts", "pull", server.url, "--out", str(out), "-s", "orders"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert [p.name for p in out.iterdir()] == ["orders.yaml"]
    pulled = load_contracts(out)
    local = load_contracts(CONTRACTS)
    for contract in pulled:
        assert contract.fingerprint() == local.get(contract.event_type).fingerprint()

    events = await asyncio.to_thread(Events, "orders", server.url)
    assert events.contracts is not None
    assert set(events.contracts.event_types) >= set(local.event_types)

    unknown = await asyncio.to_thread(
        subprocess.run,
        [BIZEVENTS, "contracts", "pull", server.url, "--out", str(tmp_path / "x"), "-s", "nope"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert unknown.returncode == 1 and "unknown service 'nope'" in unknown.stderr
    assert not (tmp_path / "x").exists()
    down = await asyncio.to_thread(
        subprocess.run,
        [BIZEVENTS, "contracts", "pull", "http://127.0.0.1:9", "--out", str(tmp_path / "y")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert down.returncode == 1 and "cannot fetch contracts" in down.stderr
    assert "Traceback" not in down.stderr
