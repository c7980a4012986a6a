"""W3C trace context: the `traceparent` that published events carry when a trace is active.

A worker handling an event that has a traceparent activates it, so events published by the handler
continue the same trace; OpenTelemetry's current span is used when that library is installed.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

try:  # optional dependency, looked up once: a failed import on every publish is costly
    from opentelemetry import trace as _otel_trace
except ImportError:  # pragma: no cover - depends on the environment
    _otel_trace = None

_otel: Any = _otel_trace

_current: ContextVar[str | None] = ContextVar("bizevents_traceparent", default=None)
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


def valid_traceparent(value: str) -> bool:
    return bool(_TRACEPARENT.match(value))


@contextlib.contextmanager
def use_traceparent(value: str | None) -> Iterator[None]:
    token = _current.set(value if value and valid_traceparent(value) else None)
    try:
        yield
    finally:
        _current.reset(token)


def set_traceparent(value: str | None) -> None:
    """Make `value` current for the rest of this task (a long-lived task that handles one message
    after another sets each message's own; an invalid value counts as none)."""
    value = value if value and _TRACEPARENT.match(value) else None
    if _current.get() != value:
        _current.set(value)


def current_traceparent() -> str | None:
    value = _current.get()
    if value:
        return value
    if _otel is None:
        return None
    ctx = _otel.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"
