"""Dead-letter and retry records: the `bizevents_*` headers added to an unchanged original record.

A record sent to a retry or dead-letter topic keeps the ORIGINAL key, value and headers; the
worker's own headers (below) are replaced at each hop, any other header (e.g. the replay marker
`bizevents_replay_id` set by `bizevents dlq replay`) travels along untouched.
"""

from __future__ import annotations

import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

Headers = list[tuple[str, bytes]]

H_ERROR = "bizevents_error"
H_ERROR_TYPE = "bizevents_error_type"
H_STACK = "bizevents_stack"
H_ATTEMPTS = "bizevents_attempts"
H_FIRST = "bizevents_first_failure"
H_LAST = "bizevents_last_failure"
H_GROUP = "bizevents_group"
H_TOPIC = "bizevents_original_topic"
H_PARTITION = "bizevents_original_partition"
H_OFFSET = "bizevents_original_offset"
# Retry hops only: delayed-retry tiers used by this message's own failures, when it is due
# (epoch milliseconds), and "1" when it was parked behind an earlier message of its key.
H_STAGE = "bizevents_retry_stage"
H_DUE = "bizevents_retry_due"
H_PARKED = "bizevents_parked"

MANAGED = frozenset(
    {H_ERROR, H_ERROR_TYPE, H_STACK, H_ATTEMPTS, H_FIRST, H_LAST, H_GROUP, H_TOPIC}
    | {H_PARTITION, H_OFFSET, H_STAGE, H_DUE, H_PARKED}
)
MAX_STACK = 2048
MAX_ERROR = 4096


def utf8(text: str) -> bytes:
    """Header bytes for text that may hold what UTF-8 cannot (a lone surrogate from a hostile
    record, quoted in an error message): escaped, never an exception on the dead-letter path."""
    return text.encode("utf-8", "backslashreplace")


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def short_stack(exc: BaseException | None) -> str:
    """The last frames and the exception line, at most 2 KB (the tail matters most)."""
    if exc is None:
        return ""
    frames = traceback.extract_tb(exc.__traceback__)[-5:]
    lines = [f"{f.filename}:{f.lineno} in {f.name}" for f in frames]
    lines.append(f"{type(exc).__name__}: {exc}")
    text = "\n".join(lines)
    return text if len(utf8(text)) <= MAX_STACK else utf8(text)[-MAX_STACK:].decode(errors="ignore")


def original_headers(headers: Sequence[tuple[str, bytes]]) -> Headers:
    return [(n, bytes(v)) for n, v in headers if n not in MANAGED]


def header(headers: Sequence[tuple[str, bytes]], name: str) -> str | None:
    for n, v in headers:
        if n == name:
            return bytes(v).decode("utf-8", errors="replace")
    return None


@dataclass(frozen=True)
class FailureState:
    """What earlier hops learned about a message (parsed from its headers; defaults if none)."""

    attempts: int = 0
    stage: int = 0
    due_ms: int | None = None
    parked: bool = False
    first_failure: datetime | None = None
    original_topic: str | None = None
    original_partition: int | None = None
    original_offset: int | None = None

    @classmethod
    def from_headers(cls, headers: Sequence[tuple[str, bytes]]) -> FailureState:
        def num(name: str) -> int | None:
            text = header(headers, name)
            try:
                return int(text) if text is not None else None
            except ValueError:
                return None

        first = header(headers, H_FIRST)
        try:
            first_time = datetime.fromisoformat(first.replace("Z", "+00:00")) if first else None
        except ValueError:
            first_time = None
        return cls(
            attempts=num(H_ATTEMPTS) or 0,
            stage=num(H_STAGE) or 0,
            due_ms=num(H_DUE),
            parked=header(headers, H_PARKED) == "1",
            first_failure=first_time,
            original_topic=header(headers, H_TOPIC),
            original_partition=num(H_PARTITION),
            original_offset=num(H_OFFSET),
        )


@dataclass(frozen=True)
class DeadLetter:
    """One dead letter: the original record plus why and when it failed.

    Handed to the worker's `dead_letter_sink` hook and encoded as the dead-letter record's headers.
    """

    group: str
    error: str
    error_type: str
    stack: str
    attempts: int
    first_failure: datetime
    last_failure: datetime
    original_topic: str
    original_partition: int
    original_offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers = field(default_factory=list)  # the original headers, unchanged

    def failure_headers(self) -> Headers:
        return [
            (H_ERROR, utf8(self.error)[:MAX_ERROR]),
            (H_ERROR_TYPE, utf8(self.error_type)),
            (H_STACK, utf8(self.stack)[:MAX_STACK]),
            (H_ATTEMPTS, str(self.attempts).encode()),
            (H_FIRST, format_time(self.first_failure).encode()),
            (H_LAST, format_time(self.last_failure).encode()),
            (H_GROUP, utf8(self.group)),
            (H_TOPIC, utf8(self.original_topic)),
            (H_PARTITION, str(self.original_partition).encode()),
            (H_OFFSET, str(self.original_offset).encode()),
        ]

    def record(self) -> tuple[bytes | None, bytes | None, Headers]:
        """(key, value, headers) of the dead-letter record."""
        return self.key, self.value, [*self.headers, *self.failure_headers()]

    def retry_record(
        self, stage: int, due: datetime, parked: bool = False
    ) -> tuple[bytes | None, bytes | None, Headers]:
        """The record for a delayed-retry topic: the same headers plus when it is due."""
        extra = [
            (H_STAGE, str(stage).encode()),
            (H_DUE, str(int(due.timestamp() * 1000)).encode()),
        ]
        if parked:
            extra.append((H_PARKED, b"1"))
        return self.key, self.value, [*self.headers, *self.failure_headers(), *extra]


DeadLetterSink = Callable[[DeadLetter], Awaitable[None]]
