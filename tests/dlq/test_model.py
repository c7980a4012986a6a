"""Pure logic of the dead-letter store: record parsing, header codec, filters, --from parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bizevents.dlq import DeadLetterFilter, Status, from_dead_letter, from_kafka_record, parse_start
from bizevents.dlq.model import headers_from_json, headers_to_json
from bizevents.dlq.query import where
from bizevents.errors import DeadLetterError

from .conftest import BASE, letter


def test_dead_letter_record_splits_failure_headers_from_the_original_ones():
    dl = letter(7)
    key, value, headers = dl.record()
    rec = from_kafka_record(
        key, value, [*headers, ("bizevents_replay_id", b"42")], topic="bizevents.dlq.billing"
    )
    assert rec.group == "billing"
    assert (rec.original_topic, rec.original_partition, rec.original_offset) == ("orders", 1, 7)
    assert rec.error == "boom" and rec.error_type == "ValueError" and rec.attempts == 3
    assert rec.first_failure == BASE and rec.last_failure == BASE + timedelta(seconds=30)
    assert rec.headers == dl.headers  # the original headers only, unchanged
    assert rec.replay_of == 42
    assert rec.event_type == "com.acme.orders.OrderPlaced.v1"
    assert rec.event_id == dict(dl.headers)["ce_id"].decode()
    assert rec.event_source == "/acme/orders"
    assert from_dead_letter(dl) == rec.__class__(**{**_fields(rec), "replay_of": None})


def _fields(rec):  # type: ignore[no-untyped-def]
    return {f: getattr(rec, f) for f in rec.__slots__}


def test_poison_record_is_kept_without_event_attributes():
    dl = letter(1, value=b"\xff not json")
    rec = from_dead_letter(dl)
    assert rec.value == b"\xff not json"
    assert rec.event_id is None and rec.event_type is None


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
