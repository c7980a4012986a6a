"""Raw Kafka records on a subscribed topic: binary- and structured-mode CloudEvents bent in
their headers (missing, duplicated, hostile bytes, wrong specversion, broken time or id) and
values (not JSON, not UTF-8, breaking the contract, empty, tombstones, large), and records
that are not CloudEvents at all."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

from bizevents.envelope import Envelope, Mode, to_kafka

from .common import JSON, RARELY, SCALAR, TEXT, header_bytes, raw_bodies, weighted
from .publish import HOSTILE_DATA, TIMES, VALID_DATA

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True)
class Record:
    key: bytes | None
    value: bytes | None  # None: a tombstone
    headers: Headers

    def __repr__(self) -> str:
        value = self.value if self.value is None or len(self.value) < 300 else self.value[:300]
        return f"Record(key={self.key!r:.100}, value={value!r}, headers={self.headers!r:.600})"


def utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


HEADER_NAMES = weighted(
    (3, st.sampled_from(["ce_id", "ce_type", "ce_source", "ce_specversion", "ce_time",
                         "ce_subject", "ce_partitionkey", "ce_dataschema", "content-type",
                         "ce_traceparent", "ce_", "CE_TYPE", "bizevents_attempts",
                         "bizevents_retry_due", "bizevents_retry_stage", "bizevents_parked",
                         "bizevents_original_topic", "bizevents_first_failure"])),
    (1, TEXT),
)  # fmt: skip
HEADER_VALUES = weighted(
    (2, header_bytes),
    (2, TEXT.map(utf8)),
    (1, st.binary(max_size=40)),
    (1, TIMES.map(utf8)),
    (1, st.sampled_from([b"", b"0.3", b"1.0 ", b"-1", b"99999999999999999999", b"nan",
                         b"application/json", b"application/cloudevents+json", b"text/plain",
                         b"\xff\xfe", b"x" * 50_000])),
)  # fmt: skip


def records(event_type: str, source: str) -> st.SearchStrategy[Record]:
    def envelope(draw: st.DrawFn, mode: Mode) -> Envelope:
        data = draw(weighted((4, VALID_DATA), (1, HOSTILE_DATA)))
        # Binary mode carries the data as is (JSON escapes of lone surrogates included);
        # structured mode re-encodes it as UTF-8 text, which cannot hold them.
        text = json.dumps(data, ensure_ascii=mode is Mode.BINARY)
        return Envelope(
            id=str(draw(st.uuids())),
            type=event_type,
            source=source,
            time=datetime.now(UTC),
            data=text.encode("utf-8", "replace"),
            # The key travels as a UTF-8 header: the client cannot send lone surrogates.
            partitionkey=str(data.get("order_id")).encode("utf-8", "replace").decode()
            if isinstance(data, dict)
            else None,
        )

    bends = st.sampled_from(["none"] * 6 + [
        "drop-header", "set-header", "add-header", "duplicate-header", "value", "value-json",
        "value-raw", "empty", "tombstone", "large", "key", "not-an-event",
    ])  # fmt: skip

    @st.composite
    def record(draw: st.DrawFn) -> Record:
        mode = draw(st.sampled_from([Mode.BINARY, Mode.BINARY, Mode.STRUCTURED]))
        key, value, headers = to_kafka(envelope(draw, mode), mode)
        record_value: bytes | None = value
        headers = list(headers)
        if mode is Mode.STRUCTURED and draw(RARELY):  # bend an attribute inside the JSON
            doc: dict[str, Any] = json.loads(value)
            doc[draw(st.sampled_from([*doc, "data_base64", "nope"]))] = draw(
                weighted((2, SCALAR), (1, JSON))
            )
            record_value = json.dumps(doc).encode("utf-8", "surrogatepass")
        for _ in range(draw(st.integers(1, 2))):
            bend = draw(bends)
            if bend == "drop-header" and headers:
                headers.pop(draw(st.integers(0, len(headers) - 1)))
            elif bend == "set-header" and headers:
                index = draw(st.integers(0, len(headers) - 1))
                headers[index] = (headers[index][0], draw(HEADER_VALUES))
            elif bend == "add-header":
                headers.append((draw(HEADER_NAMES), draw(HEADER_VALUES)))
            elif bend == "duplicate-header" and headers:
                name = draw(st.sampled_from([n for n, _ in headers]))
                headers.append((name, draw(HEADER_VALUES)))
            elif bend == "value":
                record_value = draw(raw_bodies())[:200_000]
            elif bend == "value-json":
                record_value = json.dumps(draw(JSON)).encode("utf-8", "surrogatepass")
            elif bend == "value-raw":
                record_value = draw(st.binary(max_size=100))
            elif bend == "empty":
                record_value = b""
            elif bend == "tombstone":
                record_value = None
            elif bend == "large":
                record_value = (
                    b'{"order_id": "big", "amount": 1, "note": "' + b"x" * 800_000 + b'"}'
                )
            elif bend == "key":
                key = draw(st.one_of(st.none(), st.binary(max_size=50), TEXT.map(utf8)))
            elif bend == "not-an-event":
                headers = draw(st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=3))
                record_value = draw(
                    st.one_of(raw_bodies(), JSON.map(lambda v: utf8(json.dumps(v))))
                )
        # Header names are strings on the wire (UTF-8): the client cannot send lone surrogates.
        named = [(n.encode("utf-8", "replace").decode(), v) for n, v in headers]
        return Record(key, record_value, named)

    return record()


def sentinel(event_type: str, source: str) -> Record:
    """A valid event sent after the corpus: the worker must still handle it."""
    event = Envelope(id=str(uuid.uuid4()), type=event_type, source=source,
                     time=datetime.now(UTC), data=b'{"order_id": "last", "amount": 1}',
                     partitionkey="last")  # fmt: skip
    key, value, headers = to_kafka(event)
    return Record(key, value, list(headers))
