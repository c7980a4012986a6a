"""`bizevents contracts lint|diff|check|codegen` through typer's CliRunner (and a real git)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bizevents.cli import app

from .helpers import EXAMPLE, document, thing_channel, write

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    # Wide enough that rich does not wrap table cells mid-word.
    result = runner.invoke(app, ["contracts", *args], env={"COLUMNS": "400"})
    return result.exit_code, result.stdout


def copy_example(dest: Path) -> Path:
    shutil.copytree(EXAMPLE, dest)
    return dest


def test_lint_ok_human_and_json() -> None:
    code, out = run("lint", str(EXAMPLE))
    assert code == 0 and "3 services, 7 events" in out
    code, out = run("lint", str(EXAMPLE), "--json")
    data = json.loads(out)
    assert code == 0 and data["ok"] is True
    assert {e["event_type"] for e in data["events"]} >= {
        "com.acme.orders.OrderPlaced.v1",
        "com.acme.orders.OrderShipped.v1",
    }


def test_lint_reports_every_problem_and_exits_1(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "asyncapi: [\n")
    write(tmp_path, "b.yaml", document(events={"c": thing_channel(**{"x-bizevents-key": "x"})}))
    code, out = run("lint", str(tmp_path), "--json")
    data = json.loads(out)
    assert code == 1 and data["ok"] is False
    assert {(p["file"], p["rule"]) for p in data["problems"]} == {
        ("a.yaml", "yaml-syntax"),
        ("b.yaml", "key"),
    }
    code, _ = run("lint", str(tmp_path))
    assert code == 1


def test_lint_uses_the_contracts_path_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BIZEVENTS_CONTRACTS_PATH", str(tmp_path / "none"))
    code, _ = run("lint", "--json")
    assert code == 1
    monkeypatch.setenv("BIZEVENTS_CONTRACTS_PATH", str(EXAMPLE))
    assert run("lint", "--json")[0] == 0


def test_diff_classifies_each_change_per_mode(tmp_path: Path) -> None:
    new = copy_example(tmp_path / "new")
    orders = new / "orders.yaml"
    orders.write_text(
        orders.read_text().replace(
            "required: [order_id, carrier]", "required: [order_id, carrier, tracking_number]"
        )
    )
    code, out = run("diff", str(EXAMPLE), str(new), "--json")
    assert code == 0
    (change,) = json.loads(out)["changes"]
    assert change["event_type"] == "com.acme.orders.OrderShipped.v1"
    assert change["breaking"] == {"BACKWARD": True, "FORWARD": False, "FULL": True, "NONE": False}
    code, out = run("diff", str(EXAMPLE), str(new))
    assert code == 0 and "required-added" in out and "breaking" in out


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        timeout=30,
    )


def test_check_against_git_ref(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    contracts = copy_example(repo / "contracts")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "contracts")
    assert run("check", str(contracts), "--against-git", "HEAD")[0] == 0
    # Compatible change: metadata only (one more subscriber).
    orders = contracts / "orders.yaml"
    text = orders.read_text()
    orders.write_text(
        text.replace(
            "x-bizevents-subscribers: [billing]\n", "x-bizevents-subscribers: [billing, shipping]\n"
        )
    )
    code, out = run("check", str(contracts), "--against-git", "HEAD", "--json")
    assert code == 0 and json.loads(out)["ok"] is True
    # Breaking: a whole service document (two event types) removed.
    (contracts / "shipping.yaml").unlink()
    code, out = run("check", str(contracts), "--against-git", "HEAD", "--json")
    data = json.loads(out)
    assert code == 1 and data["ok"] is False
    assert {c["event_type"] for c in data["breaking"]} == {
        "com.acme.shipping.ShipmentDispatched.v1",
        "com.acme.shipping.ShipmentDelivered.v1",
    }
    code, out = run("check", str(contracts), "--against-git", "HEAD")
    assert code == 1 and "breaking change" in out


def test_check_against_git_errors(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    contracts = copy_example(repo / "contracts")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "c")
    code, out = run("check", str(contracts), "--against-git", "no-such-ref", "--json")
    assert code == 1 and "unknown git ref" in json.loads(out)["error"]
    result = runner.invoke(app, ["contracts", "check", str(contracts)])
    assert result.exit_code == 2  # neither --against-git nor --against-registry


def test_check_against_git_when_contracts_are_new(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, "README", "x")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "c")
    contracts = copy_example(repo / "contracts")
    code, out = run("check", str(contracts), "--against-git", "HEAD", "--json")
    data = json.loads(out)
    assert code == 0 and {c["kind"] for c in data["changes"]} == {"event-added"}


def test_codegen_writes_importable_typed_models(tmp_path: Path) -> None:
    out_dir = tmp_path / "gen" / "acme_events"
    code, out = run("codegen", str(EXAMPLE), "--out", str(out_dir), "--json")
    assert code == 0 and len(json.loads(out)) == 7
    script = """
import acme_events as ev
from pydantic import ValidationError
m = ev.OrderPlacedV1(order_id="o1", customer_id="c1", total=3, currency="EUR",
                     items=[{"sku": "a", "quantity": 2}])
assert m.items[0].quantity == 2
try:
    ev.OrderPlacedV1(order_id="o1", customer_id="c1", total=-1, currency="eur")
except ValidationError as exc:
    print(sorted(e["loc"][0] for e in exc.errors()))
assert ev.EVENT_MODELS["com.acme.orders.OrderShipped.v1"] is ev.OrderShippedV1
try:
    ev.OrderCancelledV1(order_id="o", reason="customer_request", extra=1)
except ValidationError:
    print("closed")
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path / "gen",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["['currency',", "'total']", "closed"]
    # "typed": the generated package passes mypy --strict (pydantic's types, no Any leaks).
    typed = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "--cache-dir",
            os.devnull,
            str(out_dir),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert typed.returncode == 0, typed.stdout
