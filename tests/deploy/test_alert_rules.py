"""The shipped Prometheus alert rules are valid and fire (only) on the situations they describe,
checked by Prometheus' own promtool."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
pytestmark = pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")


def promtool(*args: str, cwd: Path = RULES) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip


def test_rules_and_config_are_valid() -> None:
    assert promtool("check", "rules", "alerts.yml", "recording.yml").returncode == 0
    assert promtool("check", "config", "prometheus.yml").returncode == 0


def test_alert_unit_tests_pass() -> None:
    result = promtool("test", "rules", "alerts.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_unit_tests_catch_a_broken_rule(tmp_path: Path) -> None:
    """A rule with the wrong threshold makes the unit tests fail: they can fail."""
    broken = (RULES / "alerts.yml").read_text().replace("> 60", "> 6000")
    (tmp_path / "alerts.yml").write_text(broken)
    (tmp_path / "alerts.test.yml").write_text((RULES / "alerts.test.yml").read_text())
    result = promtool("test", "rules", "alerts.test.yml", cwd=tmp_path)
    assert result.returncode != 0
    assert "BizeventsOutboxStalled" in result.stdout + result.stderr


def test_recording_rule_unit_tests_pass() -> None:
    result = promtool("test", "rules", "recording.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
