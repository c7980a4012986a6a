"""`bizevents worker`: clear errors for bad targets (the happy path runs in test_process.py)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from bizevents.cli import app


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_colon", "expected 'module:attribute'"),
        ("surely_missing_module_x:events", "cannot import 'surely_missing_module_x'"),
        ("json:nothing_here", "has no attribute 'nothing_here'"),
        ("json:loads", "has no subscribers"),
    ],
)
def test_bad_target_is_a_clear_error(target: str, message: str) -> None:
    result = CliRunner().invoke(app, ["worker", target])
    assert result.exit_code == 2
    assert message in result.output


def test_bad_setting_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIZEVENTS_RETRY_DELAYS", "[0]")
    result = CliRunner().invoke(app, ["worker", "json:loads"])
    assert result.exit_code == 2
    assert "retry delays must be positive" in result.output
