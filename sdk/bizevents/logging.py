"""structlog set-up shared by every bizevents process.

One renderer for everything the process logs: bizevents' own structlog loggers and the standard
library's `logging` (aiokafka, asyncpg, uvicorn) go through the same processors, so console mode
has one format and JSON mode is nothing but JSON lines. Third-party libraries log at WARNING unless
told otherwise (aiokafka's INFO lines list every partition).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, MutableMapping
from typing import Any

import structlog

_SECRET_KEYS = ("password", "secret", "token", "authorization", "api_key", "apikey")
# Loggers of libraries we use: quiet by default (BIZEVENTS_LIBRARY_LOG_LEVEL to hear them).
# uvicorn is not among them: it is the broker's server and says where it listens.
LIBRARY_LOGGERS = ("aiokafka", "kafka", "asyncpg", "httpx", "sqlalchemy", "psycopg")
# aiokafka logs a producer's first send to a not-yet-created topic as an ERROR although Kafka
# creates the topic and the send succeeds: shown at INFO instead.
_BENIGN_ERRORS = {("aiokafka.cluster", "Topic %s not found in cluster metadata")}


def _redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Never log secrets: values of secret-looking keys and passwords in URLs are masked."""
    for key, value in list(event_dict.items()):
        if any(s in key.lower() for s in _SECRET_KEYS):
            event_dict[key] = "***"
        elif isinstance(value, str) and "://" in value and "@" in value:
            event_dict[key] = redact_url(value)
    return event_dict


def _drop_none(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """`traceparent=None` says nothing: keys without a value are left out."""
    for key in [k for k, v in event_dict.items() if v is None]:
        del event_dict[key]
    return event_dict


def redact_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else url


class _StderrLogger:
    """Writes to whatever sys.stderr is at call time (a stream bound at configure time may be a
    test runner's capture that is closed later)."""

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    debug = info = warning = warn = error = critical = exception = fatal = log = msg


def _stderr_logger(*_: Any) -> _StderrLogger:
    return _StderrLogger()


class _StderrHandler(logging.StreamHandler[Any]):
    """The standard library's side of the same idea: the current sys.stderr at every record."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


class _RepeatLimit(logging.Filter):
    """A library line that repeats (aiokafka retries a lost broker several times a second) is
    shown once per `window` seconds per message template: an outage stays visible in a few lines,
    not a screenful. Our own lines are not limited."""

    def __init__(self, window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.window, self.clock = window, clock
        self._last: dict[tuple[str, object], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(LIBRARY_LOGGERS):
            return True
        now, key = self.clock(), (record.name, record.msg)
        last = self._last.get(key)
        if last is not None and now - last < self.window:
            return False
        if len(self._last) >= 1024:  # a library that formats its own messages: stay bounded
            self._last = {k: t for k, t in self._last.items() if now - t < self.window}
        self._last[key] = now
        return True


class _BenignErrors(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if (record.name, record.msg) in _BENIGN_ERRORS and record.levelno > logging.INFO:
            record.levelno, record.levelname = logging.INFO, "INFO"
            return logging.getLogger(record.name).isEnabledFor(logging.INFO)
        return True


def configure_logging(
    level: str = "INFO", json: bool = False, library_level: str = "WARNING"
) -> None:
    """Console output for humans, JSON lines for machines (`--log-json`, BIZEVENTS_LOG_JSON=1)."""
    level_no = logging.getLevelName(level.upper())
    if not isinstance(level_no, int):
        level_no = logging.INFO
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _drop_none,
        _redact,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level_no),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=True,
    )
    handler = _StderrHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    handler.addFilter(_BenignErrors())
    handler.addFilter(_RepeatLimit())
    root = logging.getLogger()
    # Ours from an earlier call, or anything else writing to the terminal, would print a
    # second, differently shaped line.
    for old in [h for h in root.handlers if type(h) in (_StderrHandler, logging.StreamHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level_no)
    for name in LIBRARY_LOGGERS:
        lib = logging.getLogger(name)
        lib.setLevel(library_level.upper())
        lib.handlers.clear()
        lib.propagate = True


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
