"""Dead letters, one model for all who touch them (pure logic, no I/O).

The worker writes them (`worker/resend.py`), the dead-letter store keeps, lists and replays them
(`dlq/`), the broker shows them (`/ops`, OData `DeadLetters`). All of them use the classes here:

- `DeadLetterRecord`: one failure of one record: the original record (key, value, headers), where
  it came from (group, topic, partition, offset), why (error, error type, short stack), how often
  and when (attempts, first and last failure), and the CloudEvent attributes when it is one;
- `StoredDeadLetter`: a `DeadLetterRecord` as the store keeps it (id, status, replays);
- `FailureState`: what a retry hop carries forward (attempts so far, tier, when it is due);
- `LISTED_FIELDS`: the fields of a stored letter that lists show (CLI `--json`, OData, `/ops`).

Wire format. A record on a delayed-retry or dead-letter topic keeps the ORIGINAL key, value and
headers; the `bizevents_*` headers below are added to them, replaced at each hop. The replay
marker `bizevents_replay_id` (set by `bizevents dlq replay`) travels along, so a replayed letter
that fails again updates its stored row. Workers of every release wrote these same headers: a
record already on a topic is read the same way (`tests/dlq/test_model.py` keeps one).
"""

from __future__ import annotations

import base64
import binascii
import json
import traceback
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from .envelope import Envelope, from_kafka
from .errors import DeadLetterError, EnvelopeError

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
# The stored letter a replayed record came from (its id in the store).
H_REPLAY_ID = "bizevents_replay_id"

FAILURE_HEADERS = frozenset(
    {H_ERROR, H_ERROR_TYPE, H_STACK, H_ATTEMPTS, H_FIRST, H_LAST, H_GROUP, H_TOPIC}
    | {H_PARTITION, H_OFFSET}
)
RETRY_HEADERS = frozenset({H_STAGE, H_DUE, H_PARKED})
# Replaced at each hop; every other header (the replay marker too) travels along untouched.
MANAGED = FAILURE_HEADERS | RETRY_HEADERS
MAX_STACK = 2048
MAX_ERROR = 4096
DEAD_LETTER_TOPIC_PREFIX = "bizevents.dlq."


class Status(StrEnum):
    """Where a stored letter stands."""

    DEAD = "dead"
    REPLAYED = "replayed"
    # Purged rows keep their identity (group, topic, partition, offset) but lose the event bytes,
    # so re-ingesting the dead-letter topic does not bring a purged letter back.
    PURGED = "purged"


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetterRecord:
    """One failed record: what it was, where it came from, why and when it failed.

    Build it with `build` (splits bizevents' headers off and reads the CloudEvent attributes) or
    `from_kafka_record` (a record of a dead-letter topic); `record()` is its dead-letter record.
    """

    group: str
    original_topic: str
    original_partition: int
    original_offset: int
    error: str
    error_type: str
    stack: str = ""
    attempts: int
    first_failure: datetime
    last_failure: datetime
    key: bytes | None
    value: bytes | None
    headers: Headers = field(default_factory=list)  # the original record's own headers
    event_id: str | None = None  # the CloudEvent's attributes; None for poison
    event_type: str | None = None
    event_source: str | None = None
    replay_of: int | None = None  # the stored letter this record was replayed from

    @classmethod
    def build(
        cls,
        *,
        group: str,
        original_topic: str,
        original_partition: int,
        original_offset: int,
        error: str,
        error_type: str,
        stack: str = "",
        attempts: int,
        first_failure: datetime,
        last_failure: datetime,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]] = (),
        envelope: Envelope | None = None,
    ) -> DeadLetterRecord:
        """From the failed record's headers as they came (bizevents' own are dropped, the replay
        marker becomes `replay_of`). `envelope`, when the caller decoded the record already,
        saves decoding it again; without it the record is decoded, and poison keeps no
        attributes."""
        raw = [(n, bytes(v)) for n, v in headers]
        own = [(n, v) for n, v in raw if n not in MANAGED and n != H_REPLAY_ID]
        if envelope is None:
            try:
                envelope = from_kafka(key, value, own)
            except EnvelopeError:
                envelope = None  # poison: kept with the bytes as they came
        return cls(
            group=group,
            original_topic=original_topic,
            original_partition=int(original_partition),
            original_offset=int(original_offset),
            error=error,
            error_type=error_type,
            stack=stack or "",
            attempts=int(attempts),
            first_failure=aware(first_failure),
            last_failure=aware(last_failure),
            key=key,
            value=value,
            headers=own,
            event_id=envelope.id if envelope else None,
            event_type=envelope.type if envelope else None,
            event_source=envelope.source if envelope else None,
            replay_of=_int_or_none(header(raw, H_REPLAY_ID)),
        )

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

    def travelling_headers(self) -> Headers:
        """The original headers and the replay marker: what every hop keeps."""
        marker = [] if self.replay_of is None else [(H_REPLAY_ID, str(self.replay_of).encode())]
        return [*self.headers, *marker]

    def record(self) -> tuple[bytes | None, bytes | None, Headers]:
        """(key, value, headers) of the dead-letter record."""
        return self.key, self.value, [*self.travelling_headers(), *self.failure_headers()]

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
        return self.key, self.value, [*self.record()[2], *extra]


DeadLetterSink = Callable[[DeadLetterRecord], Awaitable[None]]


def from_kafka_record(
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]],
    *,
    topic: str = "",
    partition: int = -1,
    offset: int = -1,
    timestamp_ms: int | None = None,
) -> DeadLetterRecord:
    """From a record of a `bizevents.dlq.*` topic. Missing failure headers (a record someone put
    there by hand) fall back to the dead-letter record's own coordinates, so it is still stored."""
    hs = [(n, bytes(v)) for n, v in headers]
    fallback_time = (
        datetime.fromtimestamp(timestamp_ms / 1000, UTC) if timestamp_ms else datetime.now(UTC)
    )
    group = header(hs, H_GROUP) or topic.removeprefix(DEAD_LETTER_TOPIC_PREFIX) or "unknown"
    try:
        return DeadLetterRecord.build(
            group=group,
            original_topic=header(hs, H_TOPIC) or topic,
            original_partition=int(header(hs, H_PARTITION) or partition),
            original_offset=int(header(hs, H_OFFSET) or offset),
            error=header(hs, H_ERROR) or "(no error recorded)",
            error_type=header(hs, H_ERROR_TYPE) or "",
            stack=header(hs, H_STACK) or "",
            attempts=int(header(hs, H_ATTEMPTS) or 0),
            first_failure=parse_time(header(hs, H_FIRST)) or fallback_time,
            last_failure=parse_time(header(hs, H_LAST)) or fallback_time,
            key=key,
            value=value,
            headers=hs,
        )
    except ValueError as exc:
        raise DeadLetterError(
            f"dead-letter record {topic}[{partition}]@{offset} has a malformed header: {exc}"
        ) from exc


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredDeadLetter(DeadLetterRecord):
    """A dead letter as the store keeps it. Purged: `key`, `value` and `headers` are gone."""

    id: int
    status: Status
    replay_count: int = 0
    last_replayed_at: datetime | None = None
    stored_at: datetime

    def summary(self) -> dict[str, Any]:
        """JSON-friendly view without the raw bytes (lists, `--json`): the `LISTED_FIELDS`."""
        return {f.name: f.json(getattr(self, f.name)) for f in LISTED_FIELDS}


Kind = Literal["text", "int32", "int64", "time"]


@dataclass(frozen=True, slots=True)
class ListedField:
    """A field of `StoredDeadLetter` that lists show; views map `kind` to their own types."""

    name: str  # the attribute; OData names it in PascalCase
    kind: Kind
    nullable: bool = False

    def json(self, value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, Status):
            return value.value
        return value


LISTED_FIELDS: tuple[ListedField, ...] = (
    ListedField("id", "int64"),
    ListedField("group", "text"),
    ListedField("event_id", "text", nullable=True),
    ListedField("event_type", "text", nullable=True),
    ListedField("event_source", "text", nullable=True),
    ListedField("error", "text"),
    ListedField("error_type", "text"),
    ListedField("attempts", "int32"),
    ListedField("first_failure", "time"),
    ListedField("last_failure", "time"),
    ListedField("original_topic", "text"),
    ListedField("original_partition", "int32"),
    ListedField("original_offset", "int64"),
    ListedField("status", "text"),  # dead, replayed, purged
    ListedField("replay_count", "int32"),
)

# The store's column of each field whose column has another name (the others: the same name).
COLUMN_OF = {
    "group": "group_name",
    "key": "record_key",
    "value": "record_value",
    "headers": "record_headers",
}
# Every field the store keeps (`replay_of` only travels on Kafka: a replay updates its row).
STORED_FIELDS = tuple(f.name for f in fields(StoredDeadLetter) if f.name != "replay_of")


def column_of(name: str) -> str:
    return COLUMN_OF.get(name, name)


def stored_from_row(row: Mapping[str, Any]) -> StoredDeadLetter:
    """From a row of the store's table (`record_headers` as JSON text or already decoded)."""
    values = {name: row[column_of(name)] for name in STORED_FIELDS}
    values["headers"] = headers_from_json(_json_list(values["headers"]))
    values["status"] = Status(values["status"])
    return StoredDeadLetter(**values)


def _json_list(raw: Any) -> Sequence[Mapping[str, str]]:
    return json.loads(raw) if isinstance(raw, str) else raw  # type: ignore[no-any-return]


# -- header codec --------------------------------------------------------------------------------


def utf8(text: str) -> bytes:
    """Header bytes for text that may hold what UTF-8 cannot (a lone surrogate from a hostile
    record, quoted in an error message): escaped, never an exception on the dead-letter path."""
    return text.encode("utf-8", "backslashreplace")


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_time(text: str | None) -> datetime | None:
    """A header time; None when absent. A malformed one raises ValueError."""
    if not text:
        return None
    return aware(datetime.fromisoformat(text.replace("Z", "+00:00")))


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


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
    """The headers without bizevents' per-hop ones (the replay marker stays)."""
    return [(n, bytes(v)) for n, v in headers if n not in MANAGED]


def header(headers: Sequence[tuple[str, bytes]], name: str) -> str | None:
    for n, v in headers:
        if n == name:
            return bytes(v).decode("utf-8", errors="replace")
    return None


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
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
            return _int_or_none(header(headers, name))

        try:
            first_time = parse_time(header(headers, H_FIRST))
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


# -- headers stored as JSON ----------------------------------------------------------------------


def headers_to_json(headers: Sequence[tuple[str, bytes]]) -> list[dict[str, str]]:
    """Headers as JSON: text when the bytes are UTF-8 (readable in SQL), else base64."""
    out = []
    for name, raw in headers:
        try:
            out.append({"name": name, "value": raw.decode("utf-8")})
        except UnicodeDecodeError:
            out.append({"name": name, "base64": base64.b64encode(raw).decode()})
    return out


def headers_from_json(items: Sequence[Mapping[str, str]]) -> Headers:
    out: Headers = []
    for item in items:
        try:
            raw = (
                base64.b64decode(item["base64"], validate=True)
                if "base64" in item
                else item["value"].encode("utf-8")
            )
        except (KeyError, binascii.Error) as exc:
            raise DeadLetterError(f"stored header {item!r} is malformed") from exc
        out.append((item["name"], raw))
    return out
