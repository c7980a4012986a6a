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


def _json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.strip().splitlines()]


def test_standard_library_logging_goes_through_the_same_renderer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import logging

    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", out)
    configure_logging(json=True)
    get_logger("bizevents.t").info("ours", traceparent=None, n=1)
    logging.getLogger("aiokafka.consumer").info("partition list nobody reads")
    logging.getLogger("aiokafka.consumer").warning("heartbeat failed for %s", "g1")
    logging.getLogger("aiokafka.cluster").error("Topic %s not found in cluster metadata", "t")
    logging.getLogger("someapp").info("password=%s", "x")
    lines = _json_lines(out.getvalue())
    assert [line["event"] for line in lines] == ["ours", "heartbeat failed for g1", "password=x"]
    assert "traceparent" not in lines[0]
    assert lines[1]["logger"] == "aiokafka.consumer" and lines[1]["level"] == "warning"
    assert all("timestamp" in line for line in lines)


def test_library_level_can_be_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    import logging

    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", out)
    configure_logging(json=True, library_level="INFO")
    logging.getLogger("aiokafka.cluster").error("Topic %s not found in cluster metadata", "t")
    (line,) = _json_lines(out.getvalue())
    assert line["level"] == "info"  # Kafka creates the topic: not an error


def test_a_replayed_event_is_marked_in_handler_logs() -> None:
    from datetime import UTC, datetime

    from bizevents.envelope import Envelope
    from bizevents.topics import replay_topic
    from bizevents.worker import Context

    env = Envelope(id="e1", type="t", source="/s", time=datetime.now(UTC), data=b"{}")
    replayed = Context(env, "billing", 1, replay_topic("billing"), 0, 5)
    normal = Context(env, "billing", 1, "orders", 0, 5)
    assert replayed.log_fields()["replay"] is True
    assert normal.log_fields()["replay"] is None  # dropped from the line


def test_a_repeating_library_line_is_shown_once_per_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import logging

    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", out)
    configure_logging(json=True)
    client = logging.getLogger("aiokafka")
    for attempt in range(5):  # a lost broker, retried several times a second
        client.error('Unable connect to "%s:%s": %s', "127.0.0.1", 1, f"refused {attempt}")
    client.error("Unable to update metadata from %s", [1])
    for n in range(3):
        get_logger("bizevents.t").warning("ours, every time", n=n)
    events = [line["event"] for line in _json_lines(out.getvalue())]
    assert events == [
        'Unable connect to "127.0.0.1:1": refused 0',
        "Unable to update metadata from [1]",
        "ours, every time",
        "ours, every time",
        "ours, every time",
    ]


def test_the_repeat_limit_lets_a_line_through_again_after_its_window() -> None:
    import logging

    from bizevents.logging import _RepeatLimit

    now = [0.0]
    limit = _RepeatLimit(window=60, clock=lambda: now[0])

    def record(name: str, msg: str) -> logging.LogRecord:
        return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, (), None)

    assert limit.filter(record("aiokafka.conn", "lost %s"))
    now[0] = 59.0
    assert not limit.filter(record("aiokafka.conn", "lost %s"))
    assert limit.filter(record("aiokafka.conn", "another %s"))
    assert limit.filter(record("uvicorn.error", "lost %s"))  # not a library we quiet
    now[0] = 61.0
    assert limit.filter(record("aiokafka.conn", "lost %s"))


def test_the_repeat_limit_stays_bounded_when_a_library_formats_its_own_messages() -> None:
    import logging

    from bizevents.logging import _RepeatLimit

    now = [0.0]
    limit = _RepeatLimit(window=60, clock=lambda: now[0])
    for i in range(5000):
        now[0] = i * 0.1  # 500 s: most templates are long out of their window
        line = logging.LogRecord("aiokafka.conn", logging.ERROR, __file__, 1, f"lost {i}", (), None)
        assert limit.filter(line)
    assert len(limit._last) <= 1024
    repeat = logging.LogRecord("aiokafka.conn", logging.ERROR, __file__, 1, "lost 4999", (), None)
    assert not limit.filter(repeat)  # a line inside its window is still held back
