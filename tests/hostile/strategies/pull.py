"""Pull subscriptions: create, fetch, commit, show and delete with hostile bodies, ids,
session names, numbers and batch tokens.

Fetches that would be valid long-poll for `wait` seconds on an empty topic: valid waits are
kept to a fraction of a second so the corpus stays fast (the hostile ones are all refused)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from .common import (
    JSON,
    RARELY,
    SCALAR,
    SMALL_JSON,
    TEXT,
    authorizations,
    json_bytes,
    raw_bodies,
    weighted,
)
from .publish import TIMES, ZONES, HttpRequest, encode


@dataclass(frozen=True)
class PullTarget:
    types: list[str]  # the subscriber may subscribe to these
    subscriber_keys: list[str]
    other_keys: list[str]  # a publisher that may not subscribe, an admin
    subscription: str  # the subscriber's subscription
    foreign: str  # another app's subscription
    created: Callable[[], list[str]]  # subscriptions the corpus created (may be deleted)


NUMBERS = [
    "", " ", "-1", "0", "1", "1000", "1001", "1e3", "1e309", "-1e309", "nan", "NaN", "inf",
    "-inf", "Infinity", "0x10", "1_0", "1.5", "99999999999999999999999", "\u0661", "1,5", "1/2",
    "\x00", "\ud800", "31", "30.0000001", "-0",
]  # fmt: skip
SESSIONS = weighted(
    (6, st.sampled_from(["s1", "s2"])),
    (1, TEXT),
    (1, st.from_regex(r"\A[A-Za-z0-9._-]{60,70}\Z")),
)
START = weighted(
    (3, st.sampled_from(["earliest", "latest"])),
    (4, st.datetimes(timezones=ZONES).map(lambda d: d.isoformat())),
    (2, TIMES),
    (1, SCALAR),
)
TIMEOUTS = weighted((8, st.integers(1, 3600)), (1, SCALAR), (1, st.floats()))
MAX = weighted((3, st.integers(1, 1000).map(str)), (1, st.sampled_from(NUMBERS)), (1, TEXT))


def _quick(raw: str) -> str:
    """A valid wait that would long-poll longer than a fraction of a second becomes 0."""
    try:
        value = float(raw)
    except ValueError:
        return raw
    return "0" if 0.2 < value <= 30 else raw


WAIT = weighted(
    (3, st.sampled_from(["0", "0.05", "0.1"])), (2, st.sampled_from(NUMBERS)), (1, TEXT)
).map(_quick)


def pull_requests(target: PullTarget) -> st.SearchStrategy[HttpRequest]:
    auth = authorizations(target.subscriber_keys, target.other_keys)
    types = weighted(
        (8, st.lists(st.sampled_from(target.types), min_size=1, max_size=2)),
        (1, st.lists(st.one_of(st.sampled_from(target.types), TEXT, SCALAR), max_size=3)),
    )
    ids = weighted(
        (6, st.just(target.subscription)),
        (1, st.just(target.foreign)),
        (1, st.uuids().map(str)),
        (1, TEXT),
        (1, st.just(target.subscription.upper())),
    )

    def headers(draw: st.DrawFn) -> list[tuple[bytes, bytes]]:
        found = [(b"content-type", b"application/json")]
        key = draw(auth)
        return found if key is None else [*found, (b"authorization", key)]

    def body(draw: st.DrawFn, doc: dict[str, Any]) -> bytes:
        shape = draw(st.sampled_from(["json"] * 10 + ["value", "raw"]))
        if shape == "value":
            return draw(json_bytes(draw(JSON)))
        if shape == "raw":
            return draw(raw_bodies())
        if draw(RARELY):
            doc[draw(TEXT)] = draw(SMALL_JSON)
        for name in list(doc):
            if draw(RARELY):
                del doc[name]
        return draw(json_bytes(doc))

    operations = st.sampled_from(
        ["create"] * 3 + ["fetch"] * 4 + ["commit"] * 3 + ["show", "list", "delete"]
    )

    @st.composite
    def request(draw: st.DrawFn) -> HttpRequest:
        operation = draw(operations)
        found = headers(draw)
        if operation == "create":
            doc = {
                "event_types": draw(weighted((6, types), (1, SCALAR))),
                "start": draw(START),
                "commit_timeout": draw(TIMEOUTS),
            }
            return HttpRequest("POST", "/subscriptions", found, body(draw, doc), "create")
        sid = encode(draw(ids))
        if operation == "fetch":
            query = {"session": draw(SESSIONS), "max": draw(MAX), "wait": draw(WAIT)}
            query = {k: v for k, v in query.items() if not draw(RARELY)}
            path = f"/subscriptions/{sid}/events"
            if query:
                path += "?" + "&".join(f"{k}={encode(v)}" for k, v in query.items())
            return HttpRequest("GET", path, found, operation="fetch")
        if operation == "commit":
            tokens = weighted(
                (2, st.binary(max_size=40).map(lambda b: b.hex())),
                (1, TEXT),
                (1, SCALAR),
                (1, st.just(str(uuid.uuid4()))),
            )
            doc = {"batch": draw(tokens), "session": draw(SESSIONS)}
            return HttpRequest(
                "POST", f"/subscriptions/{sid}/commit", found, body(draw, doc), "commit"
            )
        if operation == "show":
            return HttpRequest("GET", f"/subscriptions/{sid}", found, operation="show")
        if operation == "list":
            return HttpRequest("GET", "/subscriptions", found, operation="list")
        # Delete: never the corpus' own subscription; one it created, or a hostile id.
        # The same draws whatever was created so far (hypothesis replays examples).
        created = [*target.created(), target.foreign]
        victims = weighted(
            (2, st.integers(0, 1000).map(lambda i: created[i % len(created)])),
            (1, st.just(target.foreign)),
            (1, TEXT),
            (1, st.uuids().map(str)),
        )
        return HttpRequest(
            "DELETE", f"/subscriptions/{encode(draw(victims))}", found, operation="delete"
        )

    return request()


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()
