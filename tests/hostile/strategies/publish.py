"""HTTP publish: CloudEvents in structured, binary and batch mode, and the plain payload.

Each request starts from a valid one and is bent: attributes missing, empty, of the wrong type
or hostile text; data breaking the contract; bodies that are not JSON; wrong media types,
broken ce-* headers, forged keys, hostile Idempotency-Keys."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, timedelta, timezone
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

from .common import (
    JSON,
    RARELY,
    SCALAR,
    SHORT_TEXT,
    SMALL_JSON,
    TEXT,
    authorizations,
    header_bytes,
    json_bytes,
    raw_bodies,
    weighted,
)

MISSING = object()
# A few fixed ids, so some events reuse an id an earlier example already wrote.
REUSED_IDS = [str(uuid.UUID(int=n)) for n in (1, 2, 3)]


@dataclass(frozen=True)
class Target:
    """What a valid request would name: the contract's types and source, the apps' keys."""

    placed: str
    audited: str
    source: str
    publisher_keys: list[str]
    other_keys: list[str]


class HttpRequest:
    def __init__(
        self,
        method: str,
        path: str,
        headers: list[tuple[bytes, bytes]],
        body: bytes = b"",
        operation: str = "",
    ) -> None:
        self.method, self.path, self.headers, self.body = method, path, headers, body
        self.operation = operation  # named in the summary's outcomes when an entry has several

    def __repr__(self) -> str:
        shown = self.body if len(self.body) < 300 else self.body[:300] + b"..."
        heads = [(n, v) for n, v in self.headers if n != b"authorization"]
        auth = [v[:12] + b"..." for n, v in self.headers if n == b"authorization"]
        return f"HttpRequest({self.method} {self.path[:300]}, {heads}, auth={auth}, body={shown!r})"


def encode(text: str) -> str:
    """Percent-encoded for a URL; cut to 1000 characters (at most 12 KB once encoded): longer
    request lines are refused by the HTTP server before the app sees them."""
    return quote(text[:1000].encode("utf-8", "surrogatepass"), safe="")


ZONES = st.sampled_from([UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12))])
TIMES = st.one_of(
    st.datetimes(timezones=ZONES).map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.isoformat()),  # no offset
    st.sampled_from(["0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999-14:00",
                     "0001-01-01T00:00:00+14:00", "2026-02-30T00:00:00Z", "2026-01-01T24:00:00Z",
                     "2026-01-01", "2026-01-01T00:00:00+25:00", "1970-01-01T00:00:00Z"]),
    TEXT,
)  # fmt: skip
VALID_DATA = st.fixed_dictionaries(
    {"order_id": st.text(min_size=1, max_size=64), "amount": st.integers(0, 2**63)},
    optional={"note": st.text(max_size=30), "tags": st.lists(st.text(max_size=8), max_size=3)},
)
HOSTILE_DATA = weighted(
    (3, VALID_DATA),
    (1, JSON),
    (1, st.builds(lambda d, name, value: {**d, name: value}, VALID_DATA,
                  st.sampled_from(["order_id", "amount", "note", "tags", "x"]), SMALL_JSON)),
    (1, VALID_DATA.map(lambda d: {k: v for k, v in d.items() if k != "amount"})),
)  # fmt: skip
OPTIONAL_TEXT = weighted((3, st.just(MISSING)), (1, TEXT), (1, SCALAR))
DATA_CONTENT_TYPES = weighted(
    (3, st.just(MISSING)), (1, st.just("application/json")),
    (1, st.sampled_from(["text/plain", "application/xml", "application/json; charset=utf-8",
                         "APPLICATION/JSON", "application/cloudevents+json", ""])),
    (1, SCALAR),
)  # fmt: skip
EXTENSION_NAMES = st.one_of(SHORT_TEXT, st.from_regex(r"\A[a-z0-9]{1,22}\Z"))
DATA_KINDS = st.sampled_from(["data"] * 5 + ["data_base64", "both", "none"])


def attribute(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly valid; otherwise missing, hostile text, or not a string at all."""
    return weighted((20, valid), (1, st.just(MISSING)), (1, TEXT), (1, SCALAR))


def structured_events(target: Target) -> st.SearchStrategy[dict[str, Any]]:
    ids = st.one_of(st.uuids().map(str), st.sampled_from(REUSED_IDS))
    attributes = {
        "specversion": attribute(st.just("1.0")),
        "id": attribute(ids),
        "source": attribute(st.just(target.source)),
        "type": attribute(st.sampled_from([target.placed, target.audited])),
        "time": weighted((3, st.just(MISSING)), (1, TIMES), (1, SCALAR)),
        "subject": OPTIONAL_TEXT,
        "dataschema": OPTIONAL_TEXT,
        "datacontenttype": DATA_CONTENT_TYPES,
        "partitionkey": OPTIONAL_TEXT,
    }

    @st.composite
    def event(draw: st.DrawFn) -> dict[str, Any]:
        attrs = {name: draw(strategy) for name, strategy in attributes.items()}
        which = draw(DATA_KINDS)
        data = draw(HOSTILE_DATA)
        if which in ("data", "both"):
            attrs["data"] = data
        if which in ("data_base64", "both"):
            raw = json.dumps(data).encode("utf-8", "surrogatepass")
            attrs["data_base64"] = draw(st.one_of(st.just(base64.b64encode(raw).decode()), SCALAR))
        while draw(RARELY):
            attrs[draw(EXTENSION_NAMES)] = draw(SCALAR)
        return {name: value for name, value in attrs.items() if value is not MISSING}

    return event()


OTHER_TYPES = [
    b"application/json", b"application/cloudevents+json", b"application/cloudevents-batch+json",
    b"text/plain", b"application/xml", b"multipart/form-data; boundary=x",
    b"application/x-www-form-urlencoded", b"", b"application/json; charset=latin-1", b"*/*",
    b"application/vnd.x+json", None,
]  # fmt: skip


def content_types(right: str) -> st.SearchStrategy[bytes | None]:
    mine = right.encode()
    return weighted(
        (6, st.just(mine)), (1, st.sampled_from([mine.upper(), mine + b"; charset=utf-8"])),
        (1, st.sampled_from(OTHER_TYPES)), (1, header_bytes),
    )  # fmt: skip


EXTRA_HEADERS = st.lists(
    st.tuples(st.sampled_from([b"idempotency-key", b"ce-foo", b"x-forwarded-for",
                               b"content-encoding", b"transfer-encoding-x", b"ce-"]),
              header_bytes),
    max_size=2,
)  # fmt: skip
BODY_SHAPES = st.sampled_from(["json"] * 6 + ["raw"])


def requests_of(target: Target) -> dict[str, st.SearchStrategy[HttpRequest]]:
    """The four publish modes' request strategies for one broker."""
    auth = authorizations(target.publisher_keys, target.other_keys)
    events = structured_events(target)

    def body(draw: st.DrawFn, value: Any) -> bytes:
        if draw(BODY_SHAPES) == "raw":
            return draw(raw_bodies())
        return draw(json_bytes(value))

    def headers(draw: st.DrawFn, content_type: bytes | None) -> list[tuple[bytes, bytes]]:
        found = [] if content_type is None else [(b"content-type", content_type)]
        key = draw(auth)
        if key is not None:
            found.append((b"authorization", key))
        return found + draw(EXTRA_HEADERS)

    structured_type = content_types("application/cloudevents+json")
    batch_type = content_types("application/cloudevents-batch+json")
    json_type = content_types("application/json")

    @st.composite
    def structured(draw: st.DrawFn) -> HttpRequest:
        event = draw(events)
        return HttpRequest(
            "POST", "/events", headers(draw, draw(structured_type)), body(draw, event)
        )

    batch_shapes = st.sampled_from(["list"] * 6 + ["json", "huge"])

    @st.composite
    def batch(draw: st.DrawFn) -> HttpRequest:
        docs: Any = draw(st.lists(events, max_size=5))
        shape = draw(batch_shapes)
        if shape == "json":
            docs = draw(JSON)
        elif shape == "huge":
            docs = docs[:1] * 600  # over the batch limit
        return HttpRequest("POST", "/events", headers(draw, draw(batch_type)), body(draw, docs))

    header_shapes = st.sampled_from(["quoted"] * 6 + ["raw", "hostile"])

    @st.composite
    def binary(draw: st.DrawFn) -> HttpRequest:
        event = draw(events)
        data = event.pop("data", None)
        event.pop("data_base64", None)
        event.pop("datacontenttype", None)
        found = headers(draw, draw(json_type))
        for name, value in event.items():
            text = value if isinstance(value, str) else json.dumps(value)
            raw = text.encode("utf-8", "surrogatepass")
            shape = draw(header_shapes)
            if shape == "quoted":
                raw = quote(raw, safe=" /:+").encode()
            elif shape == "hostile":
                raw = draw(header_bytes)
            raw = bytes(c for c in raw if c in (9, 32) or 33 <= c <= 126 or c >= 128)
            header = ("ce-" + name).encode("ascii", "replace")
            if all(33 <= c <= 126 and c not in b'()<>@,;:\\"/[]?={}' for c in header):
                found.append((header, raw))
        return HttpRequest("POST", "/events", found, body(draw, data))

    event_types = weighted((6, st.sampled_from([target.placed, target.audited])), (1, TEXT))
    queries = st.lists(st.tuples(st.sampled_from(["key", "subject", "x", "key"]), TEXT), max_size=2)

    @st.composite
    def plain(draw: st.DrawFn) -> HttpRequest:
        path = "/events/" + encode(draw(event_types))
        query = draw(queries)
        if query:
            path += "?" + "&".join(f"{encode(k)}={encode(v)}" for k, v in query)
        return HttpRequest(
            "POST", path, headers(draw, draw(json_type)), body(draw, draw(HOSTILE_DATA))
        )

    return {"structured": structured(), "batch": batch(), "binary": binary(), "plain": plain()}
