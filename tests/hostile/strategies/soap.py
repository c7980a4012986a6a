"""SOAP 1.1 envelopes: valid operations bent into hostile XML. DTDs and entities (billion
laughs, external entities, parameter entities, external DTDs), deep nesting, huge documents,
malformed and truncated XML, wrong or SOAP 1.2 namespaces, headers that must be understood,
unknown or repeated elements, other encodings, and hostile field values."""

from __future__ import annotations

import json
from dataclasses import dataclass
from xml.sax.saxutils import escape

from hypothesis import strategies as st

from .common import JSON, RARELY, SCALAR, SHORT_TEXT, TEXT, raw_bodies, weighted
from .odata import basic
from .publish import TIMES, HttpRequest

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
NS = "urn:bizevents:soap:1"

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol">
<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]>
"""
DOCTYPES = [
    BILLION_LAUGHS,
    '<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
    '<!DOCTYPE x [<!ENTITY xxe SYSTEM "http://127.0.0.1:1/evil.dtd">]>',
    '<!DOCTYPE x SYSTEM "http://127.0.0.1:1/evil.dtd">',
    '<!DOCTYPE x [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>',
    '<!DOCTYPE x [<!ENTITY a "' + "A" * 10_000 + '">]>',
    "<!DOCTYPE x []>",
    '<!DOCTYPE x PUBLIC "-//x//y" "x.dtd">',
]
ENTITY_REFS = ["&xxe;", "&lol9;", "&a;", "&undefined;", "&#0;", "&#x1;", "&#xD800;", "&#1114112;",
               "&amp;", "&lt;&gt;", "&#65;", "&#x10FFFF;"]  # fmt: skip
PROLOGS = ['<?xml version="1.0" encoding="utf-8"?>', "", '<?xml version="1.1"?>',
           '<?xml version="1.0" encoding="x-unknown"?>', '<?xml version="1.0" encoding="latin-1"?>',
           '<?xml version="2.0"?>', '<?xml-stylesheet href="http://127.0.0.1:1/x"?>',
           "\ufeff", " "]  # fmt: skip
ENVELOPE_NS = [SOAP12_ENV, "", "urn:nope", SOAP_ENV.upper(), SOAP_ENV + "/"]
OPERATION_NS = ["", "urn:bizevents:soap:2", SOAP_ENV, NS.upper()]


@dataclass(frozen=True)
class SoapTarget:
    types: list[str]
    keys: list[str]  # a publisher's and a subscriber's key
    other_keys: list[str]
    subscription: str  # the subscriber's pull subscription


def element(name: str, text: str, raw: bool = False) -> str:
    return f"<b:{name}>{text if raw else escape(text)}</b:{name}>"


def fields(draw: st.DrawFn, target: SoapTarget, operation: str) -> list[tuple[str, str]]:
    """The operation's child elements (name, text), mostly valid."""

    def payload(event_type: str) -> str:
        valid: dict[str, object] = {"what": draw(st.text(max_size=20))}
        if event_type == target.types[0]:
            valid = {"order_id": draw(st.text(min_size=1, max_size=20)),
                     "amount": draw(st.integers(0, 100))}  # fmt: skip
        return draw(weighted((6, st.just(json.dumps(valid))), (1, JSON.map(json.dumps)),
                             (1, TEXT)))  # fmt: skip

    def text_or(valid: st.SearchStrategy[str]) -> str:
        return str(draw(weighted((8, valid), (1, TEXT), (1, SCALAR.map(json.dumps)))))

    types = st.sampled_from(target.types)
    sessions = st.sampled_from(["s1", "s2"])
    found: list[tuple[str, str]]
    if operation == "PublishEvent":
        event_type = text_or(types)
        found = [("Type", event_type), ("Payload", payload(event_type))]
        if draw(RARELY):
            found += [("Key", draw(TEXT)), ("Subject", draw(TEXT))]
        if draw(RARELY):
            found.append(("Id", text_or(st.uuids().map(str))))
    elif operation == "PublishEvents":
        found = []
        for _ in range(draw(st.integers(1, 3))):
            inner = "".join(element(n, t) for n, t in fields(draw, target, "PublishEvent"))
            found.append(("Event", "\x00RAW" + inner))
    elif operation == "GetEventStatus":
        found = [("Id", text_or(st.uuids().map(str)))]
    elif operation == "CreatePullSubscription":
        found = [("EventType", text_or(types)) for _ in range(draw(st.integers(1, 2)))]
        start = draw(weighted((4, st.sampled_from(["earliest", "latest"])), (1, TIMES)))
        found.append(("Start", start))
    elif operation == "FetchEvents":
        found = [("SubscriptionId", text_or(st.just(target.subscription))),
                 ("Session", text_or(sessions)),
                 ("Max", text_or(st.integers(1, 1000).map(str))),
                 ("WaitSeconds", draw(st.sampled_from(["0", "0.05", "-1", "nan", "31", "1e999",
                                                       "x", "", "0x1"])))]  # fmt: skip
    else:  # CommitCursor
        found = [("SubscriptionId", text_or(st.just(target.subscription))),
                 ("Batch", draw(TEXT)), ("Session", text_or(sessions))]  # fmt: skip
    if draw(RARELY):  # an unknown, repeated or nested element
        found.append(draw(st.sampled_from([("Nope", "1"), found[0] if found else ("X", ""),
                                           ("Type", "\x00RAW<b:Inner>x</b:Inner>")])))  # fmt: skip
    return found


OPERATIONS = ["PublishEvent"] * 3 + ["PublishEvents", "GetEventStatus", "CreatePullSubscription",
                                     "FetchEvents", "CommitCursor"]  # fmt: skip


def envelopes(target: SoapTarget) -> st.SearchStrategy[HttpRequest]:
    auth = weighted(
        (6, st.sampled_from([f"Bearer {k}".encode() for k in target.keys])),
        (2, st.sampled_from([basic(k) for k in target.keys])),
        (1, st.sampled_from([f"Bearer {k}".encode() for k in target.other_keys])),
        (1, st.sampled_from([None, b"Basic !!!", b"Bearer nope", basic("")])),
    )
    media = weighted(
        (8, st.just(b"text/xml; charset=utf-8")),
        (1, st.sampled_from([b"application/soap+xml", b"application/xml", b"text/plain",
                             b"TEXT/XML", b"text/xml; charset=utf-16", b""])),
    )  # fmt: skip
    bends = st.sampled_from(["none"] * 10 + [
        "doctype", "entity", "prolog", "envelope-ns", "operation-ns", "soap12", "no-body",
        "two-operations", "unknown-operation", "must-understand", "header", "deep", "very-deep",
        "huge", "truncate", "raw", "utf16", "cdata", "comment-pi", "undeclared-prefix",
        "attributes", "text-in-body",
    ])  # fmt: skip

    @st.composite
    def request(draw: st.DrawFn) -> HttpRequest:
        operation = draw(st.sampled_from(OPERATIONS))
        bend = draw(bends)
        children = "".join(
            element(n, t[4:], raw=True) if t.startswith("\x00RAW") else element(n, t)
            for n, t in fields(draw, target, operation)
        )
        op_ns = draw(st.sampled_from(OPERATION_NS)) if bend == "operation-ns" else NS
        if bend == "unknown-operation":
            operation = draw(st.sampled_from(["DeleteEverything", "publishEvent", "Fault"]))
        if bend == "entity":
            children += f"<b:Type>{draw(st.sampled_from(ENTITY_REFS))}</b:Type>"
        if bend == "cdata":
            children += "<b:Subject><![CDATA[<x>]]></b:Subject>"
        if bend == "comment-pi":
            children = "<!-- c --><?pi x?>" + children
        if bend == "undeclared-prefix":
            children += "<zz:Type>x</zz:Type>"
        attrs = ' xml:base="http://127.0.0.1:1/" b:x="1"' if bend == "attributes" else ""
        body = f'<b:{operation} xmlns:b="{op_ns}"{attrs}>{children}</b:{operation}>'
        if bend == "two-operations":
            body += body
        if bend == "text-in-body":
            body = "text" + body
        if bend == "deep":
            body = (
                f'<b:{operation} xmlns:b="{NS}">'
                + "<b:Type>" * 40
                + "x"
                + "</b:Type>" * 40
                + f"</b:{operation}>"
            )
        if bend == "very-deep":
            body = "<a>" * 100_000 + "</a>" * 100_000
        if bend == "huge":
            body = body.replace("</b:", "<b:Subject>" + "x" * 1_100_000 + "</b:Subject></b:", 1)
        header = ""
        if bend == "must-understand":
            header = (
                '<soap:Header><x:T xmlns:x="urn:x" soap:mustUnderstand="1">1</x:T></soap:Header>'
            )
        if bend == "header":
            header = (
                '<soap:Header><x:T xmlns:x="urn:x" soap:mustUnderstand="0">1</x:T></soap:Header>'
            )
        body_xml = "" if bend == "no-body" else f"<soap:Body>{body}</soap:Body>"
        env_ns = SOAP_ENV
        if bend == "envelope-ns":
            env_ns = draw(st.sampled_from(ENVELOPE_NS))
        if bend == "soap12":
            env_ns = SOAP12_ENV
        document = f'<soap:Envelope xmlns:soap="{env_ns}">{header}{body_xml}</soap:Envelope>'
        prolog = '<?xml version="1.0" encoding="utf-8"?>'
        if bend == "prolog":
            prolog = draw(st.sampled_from(PROLOGS))
        if bend in ("doctype", "entity"):
            prolog += draw(st.sampled_from(DOCTYPES))
        raw = (prolog + document).encode("utf-8", "surrogatepass")
        if bend == "utf16":
            raw = ('<?xml version="1.0" encoding="utf-16"?>' + document).encode("utf-16")
        if bend == "truncate":
            raw = raw[: draw(st.integers(0, len(raw) - 1))]
        if bend == "raw":
            raw = draw(raw_bodies())
        headers = [(b"content-type", draw(media))]
        key = draw(auth)
        if key is not None:
            headers.append((b"authorization", key))
        if draw(RARELY):
            headers.append((b"soapaction", draw(SHORT_TEXT).encode("utf-8", "surrogatepass")))
        return HttpRequest("POST", "/soap", headers, raw)

    return request()
