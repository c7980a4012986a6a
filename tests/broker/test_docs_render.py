"""Pure rendering: the served AsyncAPI document and the HTML docs page."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from bizevents.contracts import Compatibility
from bizevents.contracts.registry import ContractVersion, StoredServiceDocument
from bizevents_broker.asyncapi_doc import served_document
from bizevents_broker.docs_page import build_views, render_page

SCHEMA = {"type": "object", "properties": {"id": {"type": "string"}}}


def test_payloads_become_the_registered_schemas_and_sibling_refs_disappear() -> None:
    document: dict[str, Any] = {
        "asyncapi": "3.0.0",
        "info": {"title": "svc", "version": "1.0.0"},
        "channels": {
            "a": {
                "address": "com.acme.svc.A.v1",
                "x-bizevents-type": "com.acme.svc.A.v1",
                "messages": {"A": {"$ref": "#/components/messages/A"}},
            },
            "b": {"address": "com.acme.svc.B.v1", "messages": {"B": {"payload": {"x": 1}}}},
            "c": {"address": "com.acme.svc.C.v1", "messages": {"C": {"$ref": "other.yaml#/m"}}},
        },
        "components": {
            "messages": {"A": {"name": "A", "payload": {"$ref": "#/components/schemas/A"}}},
            "schemas": {"A": {"properties": {"id": {"$ref": "common.yaml#/Id"}}}},
        },
    }
    schemas = {
        t: {**SCHEMA, "title": t}
        for t in ("com.acme.svc.A.v1", "com.acme.svc.B.v1", "com.acme.svc.C.v1")
    }
    served = served_document(document, schemas)
    assert served["components"]["messages"]["A"]["payload"]["title"] == "com.acme.svc.A.v1"
    assert served["channels"]["b"]["messages"]["B"]["payload"]["title"] == "com.acme.svc.B.v1"
    assert served["channels"]["c"]["messages"]["C"] == {
        "name": "C",
        "payload": schemas["com.acme.svc.C.v1"],
    }
    assert "schemas" not in served["components"]  # nothing refers to it any more
    assert "common.yaml" not in repr(served) and "other.yaml" not in repr(served)
    assert document["components"]["schemas"]  # the input is left alone


def test_component_schemas_still_referenced_are_kept() -> None:
    document = {
        "asyncapi": "3.0.0",
        "channels": {},
        "components": {
            "messages": {"M": {"payload": {"$ref": "#/components/schemas/S"}}},
            "schemas": {"S": {"type": "string"}},
        },
    }
    assert served_document(document, {})["components"]["schemas"] == {"S": {"type": "string"}}


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_every_contract_text_is_escaped() -> None:
    evil = '<script>alert("x")</script>'
    contract = {
        "description": evil,
        "topic": evil,
        "source": evil,
        "key_field": evil,
        "publishers": [evil],
        "subscribers": [evil],
        "schema": {"description": evil},
    }
    version = ContractVersion(f"com.acme.{evil}", 1, "f", evil, Compatibility.BACKWARD, contract)
    doc = StoredServiceDocument(
        evil, evil, "f", {"info": {"description": evil, "x-bizevents-owner": evil}}, ""
    )
    page = render_page(build_views([version], [doc]))
    parsed = _Collect()
    parsed.feed(page)
    assert "script" not in parsed.tags
    assert evil in "".join(parsed.text)
    assert page.count("<script") == 0


def test_services_without_events_and_events_without_documents() -> None:
    version = ContractVersion(
        "com.acme.a.A.v1",
        3,
        "f",
        "a",
        Compatibility.FULL,
        {"schema": SCHEMA, "publishers": ["a"]},
    )
    doc = StoredServiceDocument("b", "2.0.0", "f", {"info": {}}, "")
    views = build_views([version], [doc])
    assert [(v.name, v.has_document, len(v.events)) for v in views] == [
        ("a", False, 1),
        ("b", True, 0),
    ]
    page = render_page(views)
    assert "/asyncapi/b.yaml" in page and "/asyncapi/a.yaml" not in page
    assert "v3" in page and "FULL" in page
