"""The loader: the example domain, every class of error, all errors reported at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bizevents.contracts import Compatibility, load_contract_texts, load_contracts
from bizevents.errors import ContractError, Problem, UnknownEventTypeError

from .helpers import EXAMPLE, document, thing_channel, write


def problems_of(path: Path) -> list[Problem]:
    with pytest.raises(ContractError) as info:
        load_contracts(path)
    return info.value.problems


def one(problems: list[Problem], rule: str) -> Problem:
    found = [p for p in problems if p.rule == rule]
    assert len(found) == 1, problems
    return found[0]


def test_example_domain_loads_with_the_documented_contracts() -> None:
    contracts = load_contracts(EXAMPLE)
    assert set(contracts.services) == {"orders", "shipping", "billing"}
    assert len(contracts) >= 6
    placed = contracts.get("com.acme.orders.OrderPlaced.v1")
    assert placed.key_field == "order_id" and placed.source == "/acme/orders"
    assert placed.publishers == ("orders",) and set(placed.subscribers) == {"billing", "shipping"}
    assert placed.schema["required"] == ["order_id", "customer_id", "total", "currency"]
    # bundled from common.yaml: a self-contained schema without $refs
    assert placed.schema["properties"]["currency"]["pattern"] == "^[A-Z]{3}$"
    assert "$ref" not in str(placed.schema)
    shipped = contracts.get("com.acme.orders.OrderShipped.v1")
    assert shipped.schema["required"] == ["order_id", "carrier"]
    assert shipped.schema["properties"]["shipped_at"]["format"] == "date-time"
    assert contracts.get("com.acme.billing.InvoiceIssued.v1").retention_ms == -1
    assert contracts.get("com.acme.billing.InvoiceIssued.v1").compatibility is (
        Compatibility.BACKWARD_TRANSITIVE
    )
    assert contracts.get("com.acme.orders.OrderPlaced.v1").retention_ms == 7 * 86_400_000
    assert "com.acme.orders.OrderPlaced.v1" in contracts
    with pytest.raises(UnknownEventTypeError):
        contracts.get("com.acme.orders.Nope.v1")
    assert contracts.services["orders"].document["info"]["title"] == "orders"
    assert "asyncapi: 3.0.0" in contracts.services["orders"].text


def test_defaults_topic_publishers_and_mode(tmp_path: Path) -> None:
    channel = thing_channel()
    del channel["address"]
    write(tmp_path, "things.yaml", document(events={"c": channel}))
    c = load_contracts(tmp_path / "things.yaml").get("com.acme.things.ThingHappened.v1")
    assert c.topic == c.event_type
    assert c.publishers == ("things",) and c.subscribers == ()
    assert c.compatibility is Compatibility.BACKWARD and c.retention_ms is None


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, "bad.yaml", "asyncapi: 3.0.0\ninfo: [unclosed\n")
    problem = one(problems_of(tmp_path), "yaml-syntax")
    assert problem.file == "bad.yaml" and "line 3" in problem.message


def test_duplicate_and_non_string_keys(tmp_path: Path) -> None:
    text = "asyncapi: 3.0.0\ninfo:\n  title: a\n  title: b\n  version: '1'\n  1: x\n"
    write(tmp_path, "dup.yaml", text)
    problems = problems_of(tmp_path)
    assert "duplicate key 'title'" in one(problems, "yaml-duplicate").message
    assert "not a string" in one(problems, "yaml-key").message


def test_text_utf8_cannot_carry_is_refused(tmp_path: Path) -> None:
    text = 'asyncapi: 3.0.0\ninfo:\n  title: "a\\ud800"\n  version: "\\0"\n'
    write(tmp_path, "esc.yaml", text)
    problems = [p for p in problems_of(tmp_path) if p.rule == "yaml-text"]
    assert [p.message for p in problems] == [
        "line 3: text contains a lone UTF-16 surrogate (not valid Unicode)",
        "line 4: text contains a NUL character",
    ]


def test_asyncapi_structure_errors_point_into_the_document(tmp_path: Path) -> None:
    doc = document()
    doc["operations"]["send_thingHappened"]["action"] = "publish"
    del doc["info"]["version"]
    write(tmp_path, "things.yaml", doc)
    pointers = {p.pointer for p in problems_of(tmp_path) if p.rule == "asyncapi"}
    assert pointers == {"/info", "/operations/send_thingHappened/action"}


def test_wrong_asyncapi_version(tmp_path: Path) -> None:
    doc = document()
    doc["asyncapi"] = "2.6.0"
    write(tmp_path, "old.yaml", doc)
    assert one(problems_of(tmp_path), "asyncapi-version").pointer == "/asyncapi"


def test_invalid_payload_schema(tmp_path: Path) -> None:
    channel = thing_channel()
    channel["payload"]["properties"]["size"] = {"type": "integer", "minimum": "zero"}
    write(tmp_path, "things.yaml", document(events={"c": channel}))
    problems = problems_of(tmp_path)
    assert any(p.pointer.endswith("/payload/properties/size/minimum") for p in problems), problems


def test_bad_regex_in_payload_schema(tmp_path: Path) -> None:
    channel = thing_channel()
    channel["payload"]["properties"]["id"] = {"type": "string", "pattern": "([a-z"}
    write(tmp_path, "things.yaml", document(events={"c": channel}))
    problem = one(problems_of(tmp_path), "payload-schema")
    assert problem.pointer.endswith("/properties/id/pattern")


@pytest.mark.parametrize(
    ("change", "rule", "text"),
    [
        ({"x-bizevents-type": "orders.placed"}, "event-type", "reverse-DNS"),
        ({"x-bizevents-compatibility": "SIDEWAYS"}, "extension", "BACKWARD"),
        ({"x-bizevents-retention": "a week"}, "extension", "7d"),
        ({"x-bizevents-publishers": ["Orders App"]}, "extension", "app names"),
        ({"x-bizevents-colour": "red"}, "extension", "unknown extension"),
        ({"x-bizevents-key": "missing"}, "key", "not a property"),
        ({"x-bizevents-key": "size"}, "key", "must be required"),
    ],
)
def test_extension_errors(tmp_path: Path, change: dict[str, Any], rule: str, text: str) -> None:
    write(tmp_path, "things.yaml", document(events={"c": thing_channel(**change)}))
    problem = one(problems_of(tmp_path), rule)
    assert text in problem.message and problem.file == "things.yaml"
    assert problem.pointer.startswith("/channels/c")


def test_missing_info_extensions(tmp_path: Path) -> None:
    write(tmp_path, "things.yaml", document(owner=None, source=None))
    messages = {p.message for p in problems_of(tmp_path)}
    assert messages == {"x-bizevents-owner is required", "x-bizevents-source is required"}


def test_duplicate_event_type_across_files(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", document("a"))
    write(tmp_path, "b.yaml", document("b"))
    problem = one(problems_of(tmp_path), "duplicate")
    assert problem.file == "b.yaml" and "a.yaml" in problem.message


def test_refs_to_sibling_files_and_missing_targets(tmp_path: Path) -> None:
    write(tmp_path, "shared.yaml", {"components": {"schemas": {"Id": {"type": "string"}}}})
    ok = thing_channel()
    ok["payload"]["properties"]["id"] = {"$ref": "shared.yaml#/components/schemas/Id"}
    write(tmp_path, "things.yaml", document(events={"c": ok}))
    contract = load_contracts(tmp_path).get("com.acme.things.ThingHappened.v1")
    assert contract.schema["properties"]["id"] == {"type": "string"}
    bad = thing_channel()
    bad["payload"]["properties"]["id"] = {"$ref": "shared.yaml#/components/schemas/Nope"}
    bad["payload"]["properties"]["size"] = {"$ref": "missing.yaml#/x"}
    write(tmp_path, "things.yaml", document(events={"c": bad}))
    messages = " | ".join(p.message for p in problems_of(tmp_path))
    assert "names nothing" in messages and "missing.yaml" in messages


def test_refs_may_not_leave_the_contracts_folder(tmp_path: Path) -> None:
    write(tmp_path, "outside.yaml", {"Id": {"type": "string"}})
    channel = thing_channel()
    channel["payload"]["properties"]["id"] = {"$ref": "../outside.yaml#/Id"}
    channel["payload"]["properties"]["size"] = {"$ref": "https://example.com/s.json"}
    write(tmp_path / "contracts", "things.yaml", document(events={"c": channel}))
    messages = " | ".join(p.message for p in problems_of(tmp_path / "contracts"))
    assert "outside the contracts folder" in messages and "remote $ref" in messages


def test_all_errors_are_reported_at_once(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "asyncapi: [\n")
    write(
        tmp_path, "b.yaml", document("b", events={"c": thing_channel(**{"x-bizevents-key": "no"})})
    )
    doc = document("c", events={"c": thing_channel("com.acme.things.Other.v1")})
    doc["info"]["version"] = 2
    write(tmp_path, "c.yaml", doc)
    with pytest.raises(ContractError) as info:
        load_contracts(tmp_path)
    files = {p.file for p in info.value.problems}
    assert files == {"a.yaml", "b.yaml", "c.yaml"}
    assert "3 problem(s)" in info.value.summary
    (key,) = [p for p in info.value.problems if p.rule == "key"]
    assert f"b.yaml:{key.line}:{key.column}:/channels/c/x-bizevents-key: [key]" in str(info.value)
    line = (tmp_path / "b.yaml").read_text().splitlines()[key.line - 1]  # type: ignore[operator]
    assert line[key.column - 1 :].startswith("x-bizevents-key")  # type: ignore[operator]


def test_channel_with_two_messages_is_refused(tmp_path: Path) -> None:
    doc = document()
    doc["channels"]["thingHappened"]["messages"]["Other"] = {"payload": {"type": "object"}}
    write(tmp_path, "things.yaml", doc)
    assert "exactly one message" in one(problems_of(tmp_path), "channel").message


def test_payload_must_be_an_object_schema(tmp_path: Path) -> None:
    channel = thing_channel()
    channel["payload"] = {"type": "string"}
    del channel["x-bizevents-key"]
    write(tmp_path, "things.yaml", document(events={"c": channel}))
    assert "type: object" in one(problems_of(tmp_path), "payload").message


def test_empty_folder_and_missing_path(tmp_path: Path) -> None:
    assert one(problems_of(tmp_path), "empty").message.startswith("no AsyncAPI documents")
    assert one(problems_of(tmp_path / "nope"), "io").message == "no such file or folder"


def test_file_without_asyncapi_key_but_looking_like_one(tmp_path: Path) -> None:
    doc = document()
    del doc["asyncapi"]
    write(tmp_path, "things.yaml", doc)
    assert "no 'asyncapi' key" in one(problems_of(tmp_path), "asyncapi").message


def test_load_from_texts_resolves_refs_between_them() -> None:
    texts = {p.name: p.read_text() for p in EXAMPLE.glob("*.yaml")}
    contracts = load_contract_texts(texts)
    assert contracts.event_types == load_contracts(EXAMPLE).event_types
    del texts["common.yaml"]
    with pytest.raises(ContractError, match=r"common\.yaml"):
        load_contract_texts(texts)


def test_default_path_comes_from_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "things.yaml", document())
    monkeypatch.setenv("BIZEVENTS_CONTRACTS_PATH", str(tmp_path))
    assert load_contracts().event_types == ("com.acme.things.ThingHappened.v1",)


def test_structure_and_extension_errors_in_one_document_are_reported_together(
    tmp_path: Path,
) -> None:
    doc = document(events={"c": thing_channel(**{"x-bizevents-compatibility": "SOMETIMES"})})
    doc["operations"]["send_c"]["action"] = "publish"
    write(tmp_path, "things.yaml", doc)
    assert {p.rule for p in problems_of(tmp_path)} == {"asyncapi", "extension"}
