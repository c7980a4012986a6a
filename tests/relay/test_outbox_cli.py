"""`bizevents outbox migrate|status` and the relay command's errors, run as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bizevents.app import Event, Events

pytestmark = pytest.mark.services
BIZEVENTS = str(Path(sys.executable).parent / "bizevents")


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BIZEVENTS, *args], env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip


async def test_migrate_is_idempotent_and_status_counts_pending(db, db_url, db_schema):
    env = {"BIZEVENTS_DATABASE_URL": db_url, "BIZEVENTS_OUTBOX_SCHEMA": db_schema}
    for _ in range(2):
        result = cli("outbox", "migrate", **env)
        assert result.returncode == 0, result.stderr
        assert f"outbox in schema '{db_schema}' at version 1" in result.stdout
    events = Events(app="orders", outbox_schema=db_schema, require_transaction=False)
    await events.publish_many(db, [Event("com.acme.test.X.v1", {"i": i}) for i in range(3)])
    status = cli("outbox", "status", **env)
    assert status.returncode == 0 and "pending=3" in status.stdout


def test_bad_settings_and_unreachable_database_get_one_clear_line(services):
    bad_schema = cli("relay", BIZEVENTS_OUTBOX_SCHEMA="orders;drop table x")
    assert bad_schema.returncode == 1
    assert "invalid PostgreSQL identifier" in bad_schema.stderr
    assert "Traceback" not in bad_schema.stderr
    bad_size = cli("relay", BIZEVENTS_RELAY_BATCH_SIZE="0")
    assert bad_size.returncode == 1
    assert "BIZEVENTS_RELAY_BATCH_SIZE='0'" in bad_size.stderr
    unreachable = cli(
        "outbox", "status", BIZEVENTS_DATABASE_URL="postgresql://app:s3cret@127.0.0.1:1/app"
    )
    assert unreachable.returncode == 1
    assert "cannot use postgresql://app:***@127.0.0.1:1/app" in unreachable.stderr
    assert "s3cret" not in unreachable.stderr + unreachable.stdout
