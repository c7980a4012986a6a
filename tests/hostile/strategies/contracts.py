"""Contract documents (AsyncAPI 3): a valid document bent at a random place (a value replaced
by hostile JSON, a key dropped or added), hostile JSON Schemas (catastrophic and invalid regex
patterns, huge bounds, $refs out of the document, recursion), and YAML that attacks the
parser (alias bombs, deep nesting, Python tags, duplicate keys, tabs, huge scalars)."""

from __future__ import annotations

import copy
import json
from typing import Any

import yaml
from hypothesis import strategies as st

from .common import JSON, RARELY, SCALAR, SHORT_TEXT, weighted


def document(n: str) -> dict[str, Any]:
    event = f"test.doc{n}.Thing.v1"
    return {
        "asyncapi": "3.0.0",
        "info": {"title": f"doc{n}", "version": "1.0.0", "x-bizevents-owner": "team",
                 "x-bizevents-source": f"/acme/doc{n}"},
        "channels": {"thing": {
            "address": event, "x-bizevents-type": event, "x-bizevents-key": "id",
            "x-bizevents-compatibility": "BACKWARD", "x-bizevents-retention": "7d",
            "x-bizevents-publishers": ["docs"], "x-bizevents-subscribers": ["readers"],
            "messages": {"Thing": {"$ref": "#/components/messages/Thing"}},
        }},
        "operations": {"sendThing": {"action": "send", "channel": {"$ref": "#/channels/thing"}}},
        "components": {
            "messages": {"Thing": {"payload": {"$ref": "#/components/schemas/Thing"}}},
            "schemas": {"Thing": {
                "type": "object", "required": ["id"], "additionalProperties": False,
                "properties": {"id": {"type": "string", "pattern": "^[a-z0-9-]+$"},
                               "n": {"type": "integer", "minimum": 0, "maximum": 100}},
            }},
        },
    }  # fmt: skip


PATTERNS = ["(a+)+$", "(a|a)*b", "^(([a-z])+.)+[A-Z]([a-z])+$", "(", "[", "a{1000000}",
            "a{2,1}", "(?<=a)b", "\\p{L}", "(?P<x>a)(?P=x)", "\\", ".*" * 200, "[\\d-z]",
            "(?i)abc", "\\Z", "(?#comment)", "a**", "\x00", "\ud800",
            "^(?:(?:a{1,9}){1,9}){1,9}$"]  # fmt: skip
SCHEMA_BENDS = [
    {"pattern": PATTERNS[0]},
    {"$ref": "file:///etc/passwd"}, {"$ref": "http://127.0.0.1:1/schema.json"}, {"$ref": "#"},
    {"$ref": "#/components/schemas/Thing"}, {"$ref": "#/nope/../../x"}, {"$ref": "other.yaml#/x"},
    {"type": "nope"}, {"type": ["string", "null", "integer"]}, {"maxLength": 10**30},
    {"minimum": 1e308, "maximum": -1e308}, {"enum": list(range(5000))}, {"enum": []},
    {"multipleOf": 0}, {"multipleOf": 1e-300}, {"format": "regex", "pattern": "["},
    {"allOf": [{"$ref": "#/components/schemas/Thing"}]}, {"not": {}}, {"const": {"a": [1]}},
    {"properties": {"": {}, "\u0000": {}, "a/b": {"type": "string"}}},
    {"patternProperties": {"(a+)+$": {}}}, {"dependentRequired": {"a": ["b"]}},
    {"if": {"type": "string"}, "then": {"minLength": 3}}, {"$defs": {"x": {"$ref": "#/$defs/x"}}},
    {"additionalProperties": "no"}, {"required": "id"}, {"required": ["missing"]},
]  # fmt: skip


def _alias_bomb(levels: int = 7) -> str:
    """Each level lists the previous one ten times: 10**levels leaves once expanded."""
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]")
    return "\n".join(lines) + "\n"


YAML_BOMBS = [
    _alias_bomb(),
    "[" * 10_000 + "]" * 10_000, "{a: " * 5000 + "1" + "}" * 5000, "- " * 3000 + "x",
    "!!python/object/apply:os.system [echo pwned]", "!!python/name:os.system", "a: !!binary AAAA",
    "a: 1\na: 2\n", "? [a, b]\n: c\n", "\tasyncapi: 3.0.0", "asyncapi: 3.0.0\n  bad: indent",
    "\ufeffasyncapi: 3.0.0", "%YAML 1.3\n---\na: 1", "a: *undefined", "--- a\n--- b\n", "",
    "~", "[]", "'''", "asyncapi: " + "x" * 2_000_000, "\x00", "a: \x85\u2028", "&a [*a]",
    "a: &a {b: *a}", "1e309: x",
]  # fmt: skip
BEND_KINDS = st.sampled_from(["none", "value", "value", "value", "drop", "add", "schema",
                              "schema", "pattern"])  # fmt: skip


@st.composite
def bend_at_random(draw: st.DrawFn, doc: dict[str, Any]) -> dict[str, Any]:
    """Walk down a random path; replace, drop or add at its end."""
    doc = copy.deepcopy(doc)
    kind = draw(BEND_KINDS)
    if kind == "none":
        return doc
    schema = doc["components"]["schemas"]["Thing"]
    if kind == "schema":
        target = draw(st.sampled_from([schema, schema["properties"]["id"],
                                       schema["properties"]["n"]]))  # fmt: skip
        target.update(draw(st.sampled_from(SCHEMA_BENDS)))
        return doc
    if kind == "pattern":
        schema["properties"]["id"]["pattern"] = draw(st.one_of(st.sampled_from(PATTERNS),
                                                               SHORT_TEXT))  # fmt: skip
        return doc
    node: Any = doc
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            break
        key = draw(st.sampled_from(keys))
        child = node[key]
        if not isinstance(child, dict | list) or not child or draw(RARELY):
            if kind == "drop":
                del node[key]
            elif kind == "add" and isinstance(node, dict):
                node[draw(SHORT_TEXT)] = draw(JSON)
            else:
                node[key] = draw(weighted((3, SCALAR), (1, JSON)))
            break
        node = child
    return doc


def documents(n: str) -> st.SearchStrategy[bytes]:
    base = document(n)

    @st.composite
    def text(draw: st.DrawFn) -> bytes:
        shape = draw(st.sampled_from(["yaml"] * 5 + ["json", "bomb", "cut"]))
        if shape == "bomb":
            return draw(st.sampled_from(YAML_BOMBS)).encode("utf-8", "surrogatepass")
        doc = draw(bend_at_random(base))
        if shape == "json":
            raw = json.dumps(doc, ensure_ascii=draw(st.booleans()))
        else:
            raw = yaml.safe_dump(doc, allow_unicode=draw(st.booleans()), sort_keys=False)
        encoded = raw.encode("utf-8", "surrogatepass")
        if shape == "cut":
            encoded = encoded[: draw(st.integers(0, len(encoded)))]
        return encoded

    return text()
