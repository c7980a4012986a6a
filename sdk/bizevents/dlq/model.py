"""Dead letters as the store sees them (pure logic, no I/O).

A dead-letter record on `bizevents.dlq.<group>` is the failed record's original key, value and
headers plus `bizevents_*` headers describing the failure. `from_kafka_record` splits the two and
decodes the CloudEvent attributes when it can: a poison record (not a CloudEvent) is still stored.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from ..envelope import from_kafka
from ..errors import DeadLetterError, EnvelopeError
from ..worker.deadletter import (
    H_ATTEMPTS,
    H_ERROR,
    H_ERROR_TYPE,
    H_FIRST,
    H_GROUP,
    H_LAST,
    H_OFFSET,
    H_PARTITION,
    H_STACK,
    H_TOPIC,
    DeadLetter,
    Headers,
)

HEADER_PREFIX = "bizevents_"
# Set by `replay` on the record it sends, so a record that fails again after replay updates its
# stored row instead of adding a second one (its new offset is on the replay topic).
H_REPLAY_ID = "bizevents_replay_id"

FAILURE_HEADERS = frozenset(
    {H_ERROR, H_ERROR_TYPE, H_STACK, H_ATTEMPTS, H_FIRST, H_LAST, H_GROUP, H_TOPIC}
    | {H_PARTITION, H_OFFSET}
)


class Status(StrEnum):
    DEAD = "dead"
    REPLAYED = "replayed"
    # Purged rows keep their identity (group, topic, partition, offset) but lose the event bytes,
    # so re-ingesting the dead-letter topic does not bring a purged letter back.
    PURGED = "purged"


@dataclass(frozen=True, slots=True)
class DeadLetterRecord:
    """One failed record, ready to insert."""

    group: str
    original_topic: str
    original_partition: int
    original_offset: int
    error: str
    error_type: str
    stack: str
    attempts: int
    first_failure: datetime
    last_failure: datetime
    key: bytes | None
    value: bytes | None
    headers: Headers = field(default_factory=list)
    event_id: str | None = None
    event_type: str | None = None
    event_source: str | None = None
    replay_of: int | None = None

    @classmethod
    def build(cls, **fields: Any) -> DeadLetterRecord:
        """Adds the decoded CloudEvent attributes and the replay marker from the headers."""
        raw_headers = [(n, bytes(v)) for n, v in fields.pop("headers", [])]
        replay_of = _int_or_none(_header(raw_headers, H_REPLAY_ID))
        headers = [(n, v) for n, v in raw_headers if n not in FAILURE_HEADERS and n != H_REPLAY_ID]
        event_id = event_type = event_source = None
        try:
            env = from_kafka(fields.get("key"), fields.get("value"), headers)
            event_id, event_type, event_source = env.id, env.type, env.source
        except EnvelopeError:
            pass  # poison: stored with the bytes as they came, attributes left empty
        return cls(
            headers=headers,
            event_id=event_id,
            event_type=event_type,
            event_source=event_source,
            replay_of=replay_of,
            **fields,
        )


def from_dead_letter(dl: DeadLetter) -> DeadLetterRecord:
    """From the worker's `dead_letter_sink` hook argument."""
    return DeadLetterRecord.build(
        group=dl.group,
        original_topic=dl.original_topic,
        original_partition=int(dl.original_partition),
        original_offset=int(dl.original_offset),
        error=dl.error,
        error_type=dl.error_type,
        stack=dl.stack or "",
        attempts=int(dl.attempts),
        first_failure=_aware(dl.first_failure),
        last_failure=_aware(dl.last_failure),
        key=dl.key,
        value=dl.value,
        headers=list(dl.headers),
    )


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
    group = _header(hs, H_GROUP) or topic.removeprefix("bizevents.dlq.") or "unknown"
    try:
        return DeadLetterRecord.build(
            group=group,
            original_topic=_header(hs, H_TOPIC) or topic,
            original_partition=int(_header(hs, H_PARTITION) or partition),
            original_offset=int(_header(hs, H_OFFSET) or offset),
            error=_header(hs, H_ERROR) or "(no error recorded)",
            error_type=_header(hs, H_ERROR_TYPE) or "",
            stack=_header(hs, H_STACK) or "",
            attempts=int(_header(hs, H_ATTEMPTS) or 0),
            first_failure=_parse_time(_header(hs, H_FIRST)) or fallback_time,
            last_failure=_parse_time(_header(hs, H_LAST)) or fallback_time,
            key=key,
            value=value,
            headers=hs,
        )
    except ValueError as exc:
        raise DeadLetterError(
            f"dead-letter record {topic}[{partition}]@{offset} has a malformed header: {exc}"
        ) from exc


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


def _header(headers: Sequence[tuple[str, bytes]], name: str) -> str | None:
    for n, v in headers:
        if n == name:
            return v.decode("utf-8", errors="replace")
    return None


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return _aware(datetime.fromisoformat(text.replace("Z", "+00:00")))


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
