"""The CloudEvents Kafka binding: our encoder and decoder agree with the official SDK, and
malformed records get a specific EnvelopeError."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cloudevents.core.bindings.kafka import KafkaMessage
from cloudevents.core.bindings.kafka import from_kafka as sdk_from_kafka
from cloudevents.core.formats.json import JSONFormat

from bizevents.envelope import Envelope, Mode, from_kafka, new_event_id, to_kafka
from bizevents.errors import EnvelopeError


def envelopes() -> list[Envelope]:
    out = []
    traceparent = {"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"}
    zones = (UTC, timezone(timedelta(hours=2)))
    for subject, key, ext, tz in itertools.product(
        (None, "order/1"), (None, "k-ü"), ({}, traceparent), zones
    ):
        out.append(
            Envelope(
                id=new_event_id(),
                type="com.acme.orders.OrderPlaced.v1",
                source="/acme/orders",
                time=datetime(2026, 11, 28, 5, 0, 0, 123456, tzinfo=tz),
                data=json.dumps({"order_id": "o-1", "note": "ünïcode"}).encode(),
                subject=subject,
                dataschema="urn:bizevents:contract:x:1.0.0",
                partitionkey=key,
                extensions=ext,
            )
        )
    return out


@pytest.mark.parametrize("mode", list(Mode))
def test_round_trip_in_both_modes(mode: Mode) -> None:
    for event in envelopes():
        key, value, headers = to_kafka(event, mode)
        decoded = from_kafka(key, value, headers)
        assert decoded.id == event.id and decoded.type == event.type
        assert decoded.source == event.source and decoded.subject == event.subject
        assert decoded.dataschema == event.dataschema
        assert decoded.partitionkey == event.partitionkey
        assert dict(decoded.extensions) == dict(event.extensions)
        assert decoded.time == event.time
        assert decoded.payload() == event.payload()


def test_binary_decoding_agrees_with_the_official_sdk() -> None:
    for event in envelopes():
        key, value, headers = to_kafka(event, Mode.BINARY)
        ours = from_kafka(key, value, headers)
        sdk = sdk_from_kafka(KafkaMessage(dict(headers), key, value), JSONFormat())
        assert sdk.get_id() == ours.id and sdk.get_type() == ours.type
        assert sdk.get_source() == ours.source and sdk.get_subject() == ours.subject
        assert sdk.get_time() == ours.time
        assert sdk.get_data() == ours.payload()
        assert sdk.get_extension("partitionkey") == ours.partitionkey
        for name, value_ in ours.extensions.items():
            assert sdk.get_extension(name) == value_


def good_binary() -> tuple[bytes | None, bytes, list[tuple[str, bytes]]]:
    return to_kafka(envelopes()[0], Mode.BINARY)


def replace_header(headers, name, value):  # type: ignore[no-untyped-def]
    out = [(n, v) for n, v in headers if n != name]
    return out if value is None else [*out, (name, value)]


@pytest.mark.parametrize(
    ("header", "value", "message"),
    [
        ("ce_id", None, "missing required attribute 'id'"),
        ("ce_type", b"", "missing required attribute 'type'"),
        ("ce_time", None, "missing required attribute 'time'"),
        ("ce_specversion", b"0.3", "unsupported CloudEvents specversion"),
        ("ce_time", b"yesterday", "not an RFC 3339 timestamp"),
        ("ce_time", b"2026-11-28T05:00:00", "no time zone offset"),
        ("ce_subject", b"", "'subject' is present but empty"),
        ("ce_bad-name", b"x", "invalid CloudEvents extension name"),
        ("ce_source", b"\xff\xfe", "not UTF-8"),
    ],
)
def test_malformed_binary_records_are_refused(header: str, value: bytes | None, message: str):
    key, payload, headers = good_binary()
    with pytest.raises(EnvelopeError, match=message):
        from_kafka(key, payload, replace_header(headers, header, value))


def test_records_that_are_not_cloudevents_are_refused() -> None:
    with pytest.raises(EnvelopeError, match="tombstone"):
        from_kafka(b"k", None, [])
    with pytest.raises(EnvelopeError, match="neither binary mode"):
        from_kafka(b"k", b'{"a": 1}', [("content-type", b"application/json")])
    structured = [("content-type", b"application/cloudevents+json")]
    with pytest.raises(EnvelopeError, match="not a valid CloudEvent"):
        from_kafka(None, b"{not json", structured)
    with pytest.raises(EnvelopeError, match="'time'"):
        doc = {"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "data": {}}
        from_kafka(None, json.dumps(doc).encode(), structured)


def test_payload_that_is_not_json_is_an_envelope_error() -> None:
    key, _, headers = good_binary()
    with pytest.raises(EnvelopeError, match="not valid JSON"):
        from_kafka(key, b"\x00\x01", headers).payload()


def test_event_ids_are_unique_time_ordered_uuid7() -> None:
    import time
    import uuid

    before = time.time_ns() // 1_000_000
    ids = [new_event_id() for _ in range(20_000)]  # several per millisecond: the counter runs
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    for text in (ids[0], ids[-1]):
        parsed = uuid.UUID(text)
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
    first_ms = uuid.UUID(ids[0]).int >> 80
    assert before <= first_ms <= after
