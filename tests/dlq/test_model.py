"""Pure logic of dead letters: the shared model, its wire format (older records included), the
header codec, filters, --from parsing."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bizevents.deadletter import (
    LISTED_FIELDS,
    STORED_FIELDS,
    column_of,
    headers_from_json,
    headers_to_json,
    stored_from_row,
)
from bizevents.dlq import DeadLetterFilter, Status, from_kafka_record, parse_start
from bizevents.dlq.query import where
from bizevents.errors import DeadLetterError

from .conftest import BASE, letter

# A dead-letter record exactly as workers before the shared model wrote it (bytes copied from
# their output): records already on a dead-letter topic must stay readable, byte for byte.
OLD_RECORD_HEADERS = [
    ("ce_specversion", b"1.0"),
    ("ce_id", b"01JD0000000000000000000007"),
    ("ce_source", b"/acme/orders"),
    ("ce_type", b"com.acme.orders.OrderPlaced.v1"),
    ("ce_time", b"2026-11-01T12:00:00Z"),
    ("ce_partitionkey", b"o-7"),
    ("content-type", b"application/json"),
    ("bizevents_replay_id", b"42"),
    ("bizevents_error", b"boom"),
    ("bizevents_error_type", b"ValueError"),
    ("bizevents_stack", b"app.py:12 in handle\nValueError: boom"),
    ("bizevents_attempts", b"3"),
    ("bizevents_first_failure", b"2026-11-01T12:00:00Z"),
    ("bizevents_last_failure", b"2026-11-01T12:00:30Z"),
    ("bizevents_group", b"billing"),
    ("bizevents_original_topic", b"orders"),
    ("bizevents_original_partition", b"1"),
    ("bizevents_original_offset", b"7"),
]


def test_a_record_written_by_an_older_worker_is_read_and_written_back_the_same():
    rec = from_kafka_record(
        b"o-7", b'{"order_id":"o-7"}', OLD_RECORD_HEADERS, topic="bizevents.dlq.billing"
    )
    assert rec.group == "billing"
    assert (rec.original_topic, rec.original_partition, rec.original_offset) == ("orders", 1, 7)
    assert (rec.error, rec.error_type, rec.attempts) == ("boom", "ValueError", 3)
    assert rec.stack == "app.py:12 in handle\nValueError: boom"
    assert rec.first_failure == BASE and rec.last_failure == BASE + timedelta(seconds=30)
    assert rec.headers == OLD_RECORD_HEADERS[:7]  # the original headers only, unchanged
    assert rec.replay_of == 42
    assert (rec.event_id, rec.event_type, rec.event_source) == (
        "01JD0000000000000000000007",
        "com.acme.orders.OrderPlaced.v1",
        "/acme/orders",
    )
    # The same model writes the same record: older ingesters read what new workers write.
    assert rec.record() == (b"o-7", b'{"order_id":"o-7"}', OLD_RECORD_HEADERS)


def test_dead_letter_record_splits_failure_headers_from_the_original_ones():
    dl = letter(7)
    key, value, headers = dl.record()
    rec = from_kafka_record(
        key, value, [*headers, ("bizevents_replay_id", b"42")], topic="bizevents.dlq.billing"
    )
    assert rec.headers == dl.headers  # the original headers only, unchanged
    assert rec.event_id == dict(dl.headers)["ce_id"].decode()
    assert rec == replace(dl, replay_of=42)  # the letter the worker wrote, read back
    assert from_kafka_record(key, value, headers, topic="bizevents.dlq.billing") == dl


def test_poison_record_is_kept_without_event_attributes():
    rec = letter(1, value=b"\xff not json")
    assert rec.value == b"\xff not json"
    assert rec.event_id is None and rec.event_type is None
    assert from_kafka_record(*rec.record(), topic="bizevents.dlq.billing") == rec


def test_stored_letters_list_the_fields_every_view_shows():
    dl = letter(3)
    stored = stored_from_row(
        {
            **{column_of(name): getattr(dl, name, None) for name in STORED_FIELDS},
            "record_headers": json.dumps(headers_to_json(dl.headers)),
            "id": 5,
            "status": "dead",
            "replay_count": 0,
            "last_replayed_at": None,
            "stored_at": BASE,
        }
    )
    summary = stored.summary()
    assert list(summary) == [f.name for f in LISTED_FIELDS]
    assert summary["status"] == "dead" and summary["first_failure"] == BASE.isoformat()
    assert summary["original_offset"] == 3 and summary["event_type"] == stored.event_type
    assert stored.headers == dl.headers and stored.event_id == dl.event_id


def test_record_without_failure_headers_falls_back_to_its_own_coordinates():
    rec = from_kafka_record(
        b"k", b"v", [], topic="bizevents.dlq.shipping", partition=2, offset=9, timestamp_ms=1000
    )
    assert (rec.group, rec.original_topic, rec.original_offset) == (
        "shipping",
        "bizevents.dlq.shipping",
        9,
    )
    assert rec.last_failure == datetime.fromtimestamp(1, UTC)


def test_malformed_failure_header_is_a_clear_error():
    with pytest.raises(DeadLetterError, match="malformed header"):
        from_kafka_record(b"k", b"v", [("bizevents_attempts", b"three")], topic="t")


def test_headers_round_trip_through_json_including_binary_values():
    headers = [("ce_id", b"abc"), ("blob", b"\x00\xff\xfe"), ("ce_id", b"dup")]
    as_json = headers_to_json(headers)
    assert as_json[0] == {"name": "ce_id", "value": "abc"}
    assert "base64" in as_json[1]
    assert headers_from_json(as_json) == headers


def test_filter_builds_parameterised_sql_and_escapes_like_wildcards():
    since = datetime(2026, 1, 1, tzinfo=UTC)
    clause, params = where(
        DeadLetterFilter(
            types=("a",), groups=("g",), since=since, error="50%_off", statuses=(Status.DEAD,)
        )
    )
    assert params == [["a"], ["g"], since, "%50\\%\\_off%", ["dead"]]
    assert "ILIKE" in clause and "group_name = ANY($2" in clause
    assert where(DeadLetterFilter()) == ("TRUE", [])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"limit": 0}, "at least 1"),
        (
            {"since": datetime(2026, 2, 1, tzinfo=UTC), "until": datetime(2026, 1, 1, tzinfo=UTC)},
            "empty",
        ),
        ({"since": datetime(2026, 2, 1)}, "time zone"),
    ],
)
def test_bad_filters_are_refused(kwargs, message):  # type: ignore[no-untyped-def]
    with pytest.raises(DeadLetterError, match=message):
        DeadLetterFilter(**kwargs)


def test_parse_start_accepts_offsets_durations_and_times():
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert parse_start("1234").offset == 1234
    assert parse_start("90m", now).time == now - timedelta(minutes=90)
    assert parse_start("2d", now).time == now - timedelta(days=2)
    assert parse_start("2026-11-28T04:00:00Z").time == datetime(2026, 11, 28, 4, tzinfo=UTC)
    assert parse_start("2026-11-28").time == datetime(2026, 11, 28, tzinfo=UTC)
    with pytest.raises(DeadLetterError, match="neither an offset"):
        parse_start("yesterday")


def test_event_type_of_reads_binary_headers_structured_bodies_and_tolerates_junk():
    from bizevents.dlq.history import event_type_of
    from bizevents.envelope import Envelope, Mode, to_kafka

    env = Envelope(id="1", type="com.acme.X.v1", source="/s", time=BASE, data=b"{}")
    assert event_type_of(*to_kafka(env, Mode.BINARY)) == "com.acme.X.v1"
    assert event_type_of(*to_kafka(env, Mode.STRUCTURED)) == "com.acme.X.v1"
    assert event_type_of(b"k", b"junk", []) is None
