"""OData: queries ($filter, $orderby, $select, $top, $skip, $count, $expand and friends),
entity keys, entity sets, and creates, built from the grammar and then bent: unknown names,
property paths, functions this service lacks, malformed and out-of-range literals, SQL and
quote injection in string literals, unbalanced parentheses, deep nesting."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

from hypothesis import strategies as st

from .common import (
    JSON,
    RARELY,
    SCALAR,
    SHORT_TEXT,
    SMALL_JSON,
    TEXT,
    json_bytes,
    raw_bodies,
    weighted,
)
from .publish import TIMES, HttpRequest, encode

PROPERTIES = ["Id", "Type", "Source", "Subject", "Time", "PartitionKey", "DataSchema",
              "DataContentType", "Data", "Topic", "KafkaPartition", "KafkaOffset"]  # fmt: skip
BAD_NAMES = ["Nope", "id", "Data/order_id", "Events/Id", "Type;DROP TABLE x", "_", "A" * 300,
             "BizEvents.Type", "$it", "@p", "Time/year"]  # fmt: skip
SETS = ["Events", "Subscriptions", "EventTypes", "DeadLetters"]
BAD_SETS = ["events", "Nope", "$batch", "Events()", "Events('')", "Events(Id='x')",
            "Events(''')", "Events('a''b')", "Events(1)", "DeadLetters('1')", "DeadLetters(-1)",
            "DeadLetters(99999999999999999999)", "DeadLetters(1)", "$crossjoin(Events)",
            "Events('x')/Data", "Events/$ref", "$all", "Purge", "$entity"]  # fmt: skip


def quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


NAMES = weighted((8, st.sampled_from(PROPERTIES)), (1, st.sampled_from(BAD_NAMES)), (1, SHORT_TEXT))
STRING_LITERALS = st.one_of(
    st.text(max_size=20).map(quoted),
    TEXT.map(quoted),
    st.sampled_from(["'", "'''", "'a'b'", "''", "'\\'", "'%'", "'_'", "'\x00'"]),
)
LITERALS = weighted(
    (3, STRING_LITERALS),
    (1, st.integers().map(str)),
    (1, st.integers(min_value=-(2**80), max_value=2**80).map(str)),
    (1, st.floats(allow_nan=False).map(repr)),
    (1, TIMES.map(lambda t: t.replace("+00:00", "Z"))),
    (1, st.sampled_from(["null", "true", "false", "NaN", "INF", "-INF", "1e999",
                         "2026-13-45T99:99:99Z", "2026-01-01", "9999-12-31T23:59:59Z",
                         "0001-01-01T00:00:00Z", "12:00:00", "duration'P1D'", "binary'AAA='",
                         "00000000-0000-0000-0000-000000000000", "geography'POINT(0 0)'",
                         "Type", "@alias", "$it"])),
)  # fmt: skip
COMPARISONS = st.sampled_from(["eq", "ne", "gt", "ge", "lt", "le", "has", "EQ", "=", "like"])
FUNCTIONS = st.sampled_from(["contains", "startswith", "endswith", "length", "tolower",
                             "substring", "indexof", "year", "now", "matchesPattern", "cast",
                             "isof", "nope", "geo.distance", "concat", "trim"])  # fmt: skip


JOINS = st.sampled_from(["and", "or", "AND", "xor"])


def filters(depth: int = 3) -> st.SearchStrategy[str]:
    compare = st.builds(lambda n, op, v: f"{n} {op} {v}", NAMES, COMPARISONS, LITERALS)
    listed = st.builds(
        lambda n, vs: f"{n} in ({','.join(vs)})", NAMES, st.lists(LITERALS, max_size=4)
    )
    call = st.builds(
        lambda f, args: f"{f}({','.join(args)})",
        FUNCTIONS,
        st.lists(st.one_of(NAMES, LITERALS), max_size=3),
    )
    call_compare = st.builds(lambda c, v: f"{c} eq {v}", call, LITERALS)
    leaf = weighted((4, compare), (1, listed), (2, call), (1, call_compare), (1, TEXT))
    if depth == 0:
        return leaf
    inner = filters(depth - 1)
    return weighted(
        (4, leaf),
        (1, st.builds(lambda a, op, b: f"{a} {op} {b}", inner, JOINS, inner)),
        (1, inner.map(lambda f: f"not ({f})")),
        (1, inner.map(lambda f: f"({f}")),  # unbalanced
        (1, st.integers(1, 400).map(lambda n: "(" * n + "Type eq 'x'" + ")" * n)),
        (1, st.integers(1, 300).map(lambda n: " or ".join(["Type eq 'x'"] * n))),
    )  # fmt: skip


FILTERS = filters()
ORDERBY = weighted(
    (3, st.lists(st.builds(lambda n, d: f"{n}{d}", NAMES,
                           st.sampled_from(["", " asc", " desc", " DESC", " up", ",", "  desc  "])),
                 min_size=1, max_size=3).map(",".join)),
    (1, TEXT),
)  # fmt: skip
SELECT = weighted(
    (3, st.lists(weighted((6, st.sampled_from(PROPERTIES)), (1, st.sampled_from(BAD_NAMES)),
                          (1, st.just("*"))), min_size=1, max_size=4).map(",".join)),
    (1, TEXT),
)  # fmt: skip
NUMBERS = weighted(
    (3, st.integers(0, 50).map(str)),
    (1, st.integers().map(str)),
    (1, st.sampled_from(["-1", "", "1.5", "1e3", "abc", "99999999999999999999", "10001",
                         "0x10", " 5", "5 ", "\u0661", "NaN"])),
)  # fmt: skip
OPTIONS = {
    "$filter": FILTERS, "$orderby": ORDERBY, "$select": SELECT, "$top": NUMBERS, "$skip": NUMBERS,
    "$count": st.sampled_from(["true", "false", "TRUE", "1", "yes", ""]),
    "$expand": st.sampled_from(["*", "Type", "Subscriptions"]),
    "$search": TEXT, "$apply": st.just("groupby((Type))"),
    "$format": st.sampled_from(["json", "xml", "atom", "application/json;odata.metadata=full"]),
    "$skiptoken": TEXT, "$nope": TEXT, "filter": FILTERS, "$FILTER": FILTERS,
    "$levels": st.just("2"),
}  # fmt: skip
COMMON = ["$filter", "$orderby", "$select", "$top", "$skip", "$count"]
RARE = [name for name in OPTIONS if name not in COMMON]


@dataclass(frozen=True)
class ODataTarget:
    keys: list[str]  # apps' keys: a publisher, a subscriber
    admin: list[str]  # the admin token and an admin app's key
    event_ids: list[str]  # rows in the event log
    types: list[str]


def basic(key: str) -> bytes:
    return b"Basic " + base64.b64encode(b"excel:" + key.encode())


def odata_auth(target: ODataTarget) -> st.SearchStrategy[bytes | None]:
    bearer = [f"Bearer {k}".encode() for k in target.keys]
    return weighted(
        (6, st.sampled_from(bearer)),
        (3, st.sampled_from([basic(k) for k in target.keys])),
        (2, st.sampled_from([f"Bearer {k}".encode() for k in target.admin])),
        (1, st.sampled_from([None, b"Basic", b"Basic !!!", b"Basic " + base64.b64encode(b"x"),
                             b"Basic " + base64.b64encode(b"\xff:\xfe"), b"Negotiate abc",
                             basic(""), b"Bearer " + b"A" * 200])),
    )  # fmt: skip


def queries(target: ODataTarget) -> st.SearchStrategy[HttpRequest]:
    auth = odata_auth(target)
    keys = weighted(
        (4, st.sampled_from(target.event_ids).map(lambda i: f"('{i}')")),
        (1, st.sampled_from(target.event_ids).map(lambda i: f"(Id='{i}')")),
        (2, TEXT.map(lambda t: f"({quoted(t)})")),
        (1, TEXT.map(lambda t: f"({t})")),
        (1, st.integers().map(lambda n: f"({n})")),
    )
    paths = weighted(
        (8, st.just("Events")),
        (2, st.sampled_from(SETS)),
        (3, keys.map(lambda k: f"Events{k}")),
        (1, st.integers(-5, 2**70).map(lambda n: f"DeadLetters({n})")),
        (1, st.sampled_from(BAD_SETS)),
        (1, SHORT_TEXT),
    )
    suffixes = weighted(
        (6, st.just("")), (1, st.just("/$count")), (1, st.sampled_from(["/$value", "/Data", "/"]))
    )

    @st.composite
    def request(draw: st.DrawFn) -> HttpRequest:
        names = draw(st.lists(st.sampled_from(COMMON), max_size=4, unique=True))
        names += draw(st.lists(st.sampled_from(RARE), max_size=1))
        query = "&".join(f"{encode(n)}={encode(draw(OPTIONS[n]))}" for n in names)
        path = "/odata/" + encode(draw(paths)).replace("%28", "(").replace("%29", ")")
        path = path.replace("%27", "'") + draw(suffixes)
        if query:
            path += "?" + query
        key = draw(auth)
        headers = [] if key is None else [(b"authorization", key)]
        return HttpRequest("GET", path, headers, operation="query")

    return request()


def creates(target: ODataTarget) -> st.SearchStrategy[HttpRequest]:
    auth = odata_auth(target)
    data = weighted(
        (4, st.fixed_dictionaries({"order_id": st.text(min_size=1, max_size=20),
                                   "amount": st.integers(0, 1000)}).map(json.dumps)),
        (1, JSON.map(lambda v: json.dumps(v))),
        (1, TEXT),
        (1, SCALAR),
    )  # fmt: skip
    entity = st.fixed_dictionaries(
        {"Type": weighted((8, st.sampled_from(target.types)), (1, TEXT), (1, SCALAR)),
         "Data": data},
        optional={"Id": weighted((2, st.uuids().map(str)), (1, TEXT)), "Subject": TEXT,
                  "Time": TIMES, "PartitionKey": TEXT, "Source": TEXT, "DataSchema": TEXT,
                  "Topic": TEXT, "KafkaOffset": SCALAR, "@odata.type": TEXT, "Nope": SMALL_JSON},
    )  # fmt: skip
    sets = weighted(
        (10, st.just("Events")),
        (1, st.sampled_from(["Subscriptions", "EventTypes", "DeadLetters", "Events('x')"])),
        (1, st.sampled_from(["DeadLetters(1)/BizEvents.Replay", "DeadLetters(x)/BizEvents.Replay",
                             "DeadLetters(1)/Nope", "Purge", "Events/BizEvents.Replay"])),
    )  # fmt: skip
    media = weighted(
        (8, st.just(b"application/json")),
        (1, st.sampled_from([b"application/json;odata.metadata=full", b"text/plain",
                             b"application/xml", b"application/atom+xml"])),
    )  # fmt: skip

    @st.composite
    def request(draw: st.DrawFn) -> HttpRequest:
        shape = draw(st.sampled_from(["entity"] * 8 + ["value", "raw"]))
        if shape == "entity":
            doc = {k: v for k, v in draw(entity).items() if not draw(RARELY)}
            body = draw(json_bytes(doc))
        elif shape == "value":
            body = draw(json_bytes(draw(JSON)))
        else:
            body = draw(raw_bodies())
        headers = [(b"content-type", draw(media))]
        key = draw(auth)
        if key is not None:
            headers.append((b"authorization", key))
        path = "/odata/" + draw(sets)
        return HttpRequest("POST", path, headers, body, operation="create")

    return request()
