"""Logs never carry secrets, and log output follows sys.stderr as it is at call time."""

from __future__ import annotations

import io
import json
import sys

import pytest
import structlog

from bizevents.logging import configure_logging, get_logger, redact_url


@pytest.fixture(autouse=True)
def _reset_structlog():  # type: ignore[no-untyped-def]
    yield
    structlog.reset_defaults()


def test_secrets_are_masked_in_json_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    configure_logging(json=True)
    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", out)
    get_logger("t").info(
        "connect",
        database_url="postgresql://app:s3cret@db:5432/app",
        password="hunter2",
        api_token="abc",
        user="app",
    )
    line = json.loads(out.getvalue().strip().splitlines()[-1])
    assert "s3cret" not in out.getvalue() and "hunter2" not in out.getvalue()
    assert line["database_url"] == "postgresql://app:***@db:5432/app"
    assert line["password"] == "***" and line["api_token"] == "***"
    assert line["user"] == "app"


def test_logger_writes_to_the_current_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    configure_logging(json=True)
    first, second = io.StringIO(), io.StringIO()
    log = get_logger("t")
    monkeypatch.setattr(sys, "stderr", first)
    log.info("one")
    first.close()  # e.g. a CLI test runner's capture, closed after the command
    monkeypatch.setattr(sys, "stderr", second)
    log.info("two")
    assert json.loads(second.getvalue())["event"] == "two"


def test_redact_url_keeps_urls_without_password() -> None:
    assert redact_url("postgresql://app@db/app") == "postgresql://app@db/app"
    assert redact_url("https://example.test/path") == "https://example.test/path"
