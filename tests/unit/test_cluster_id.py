"""The dev Kafka's cluster id never starts with "-" (the storage tool would take it for an option
and refuse to format: one `bizevents dev up` in 64 failed that way)."""

from __future__ import annotations

import uuid

import pytest

from bizevents.devservices import kafka


def test_an_id_starting_with_a_dash_is_drawn_again(monkeypatch: pytest.MonkeyPatch) -> None:
    dashed = uuid.UUID(bytes=b"\xf8" + bytes(15))  # base64url of 0b111110... is "-"
    plain = uuid.UUID(bytes=b"\x00" + bytes(15))
    draws = iter([dashed, dashed, plain])
    monkeypatch.setattr(kafka.uuid, "uuid4", lambda: next(draws))
    assert kafka.new_cluster_id() == "AAAAAAAAAAAAAAAAAAAAAA"


def test_random_ids_are_kafka_shaped() -> None:
    ids = {kafka.new_cluster_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)
