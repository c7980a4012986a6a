"""`bizevents init`: a new service that lints clean (closed schema, no notes), whose generated
unit test passes as written, and that never overwrites a file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from bizevents.cli import app
from bizevents.contracts import load_contracts

runner = CliRunner()


def test_init_writes_a_service_that_lints_and_tests_clean(tmp_path: Path) -> None:
    done = runner.invoke(
        app,
        ["init", "parcels", "--org", "acme", "--event", "ParcelLabelled", "--dir", str(tmp_path)],
    )
    assert done.exit_code == 0, done.output
    contracts = load_contracts(tmp_path / "contracts")
    assert contracts.notes == []  # starts closed
    contract = contracts.get("com.acme.parcels.ParcelLabelled.v1")
    assert contract.schema["additionalProperties"] is False
    assert (tmp_path / ".github/workflows/contracts.yml").read_text().count(
        "bizevents contracts"
    ) == 2
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "1 passed" in tests.stdout

    again = runner.invoke(app, ["init", "parcels", "--dir", str(tmp_path)])
    assert again.exit_code == 1 and "would overwrite" in again.output


def test_init_refuses_bad_names(tmp_path: Path) -> None:
    done = runner.invoke(app, ["init", "Parcels!", "--event", "lower", "--dir", str(tmp_path)])
    assert done.exit_code == 1
    assert "service 'Parcels!'" in done.output and "event 'lower'" in done.output
    assert list(tmp_path.iterdir()) == []
