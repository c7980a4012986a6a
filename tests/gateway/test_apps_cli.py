"""`bizevents apps ...` run as an operator would, against the tables a live gateway reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import Env

pytestmark = pytest.mark.services
BIZEVENTS = str(Path(sys.executable).parent / "bizevents")


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BIZEVENTS, "apps", *args], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip


async def test_create_rotate_revoke_from_the_command_line(env: Env, services: Any) -> None:
    db = {"BIZEVENTS_DATABASE_URL": services.database_url, "BIZEVENTS_GATEWAY_SCHEMA": env.schema}
    t = env.shop.placed
    created = cli("create", "crm", "--grant", f"publish:{t}", "--json", **db)
    assert created.returncode == 0, created.stderr
    first = json.loads(created.stdout)["key"]
    human = cli("create", "erp", "--description", "the ERP", **db)
    assert human.returncode == 0 and "shown only now" in human.stdout
    assert human.stdout.strip().splitlines()[-1].startswith("bze_")

    crm = {"Authorization": f"Bearer {first}"}
    published = await env.http.post(
        f"/events/{t}", json={"order_id": "a", "amount": 1}, headers=crm
    )
    assert published.status_code == 202, published.text

    listed = cli("list", **db)
    assert listed.returncode == 0 and "crm" in listed.stdout and "erp" in listed.stdout
    shown = cli("show", "crm", **db)
    assert f"grant publish:{t}" in shown.stdout
    assert first not in listed.stdout + shown.stdout

    rotated = cli("rotate", "crm", "--grace", "0", "--json", **db)
    second = json.loads(rotated.stdout)["key"]
    assert (await env.http.get("/api/me", headers=crm)).status_code == 401
    new = {"Authorization": f"Bearer {second}"}
    assert (await env.http.get("/api/me", headers=new)).status_code == 200

    revoked = cli("revoke", "crm", **db)
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    assert (await env.http.get("/api/me", headers=new)).status_code == 401


async def test_mistakes_get_one_clear_line(env: Env, services: Any) -> None:
    db = {"BIZEVENTS_DATABASE_URL": services.database_url, "BIZEVENTS_GATEWAY_SCHEMA": env.schema}
    cases = [
        (("create", "Bad Name"), "an app name is"),
        (("show", "nobody"), "no app named 'nobody'"),
        (("create", "x1", "--grant", "steal:x"), "a grant is publish:TYPE"),
    ]
    for args, message in cases:
        result = cli(*args, **db)
        assert result.returncode == 1, (args, result.stdout)
        assert message in result.stderr and "Traceback" not in result.stderr, result.stderr
    unreachable = cli("list", BIZEVENTS_DATABASE_URL="postgresql://app:s3cret@127.0.0.1:1/app")
    assert unreachable.returncode == 1
    assert "cannot use postgresql://app:***@127.0.0.1:1/app" in unreachable.stderr
    assert "s3cret" not in unreachable.stderr
