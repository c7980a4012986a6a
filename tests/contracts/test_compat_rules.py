"""Compatibility rules, by valid instances, in both directions.

Each case gives an old and a new schema and the expected verdicts: the rules reported under
BACKWARD (old payloads must stay valid) and under FORWARD (new payloads must be valid for old
readers). An empty set means compatible in that direction. FULL must be their union.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bizevents.contracts import Compatibility, check_compatibility

OBJ: dict[str, Any] = {
    "type": "object",
    "required": ["id"],
    "properties": {"id": {"type": "string"}, "n": {"type": "integer"}},
}


def obj(**changes: Any) -> dict[str, Any]:
    schema = copy.deepcopy(OBJ)
    schema.update(changes)
    return schema


def prop(name: str, schema: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
    out = copy.deepcopy(base or OBJ)
    out["properties"][name] = schema
    return out


def without(name: str) -> dict[str, Any]:
    out = copy.deepcopy(OBJ)
    del out["properties"][name]
    return out


CLOSED = obj(additionalProperties=False)
PAYMENT = {
    "oneOf": [
        {"type": "object", "required": ["kind"], "properties": {"kind": {"const": "card"}}},
        {"type": "object", "required": ["kind"], "properties": {"kind": {"const": "wire"}}},
    ]
}
PAYMENT_CASH = copy.deepcopy(PAYMENT)
PAYMENT_CASH["oneOf"].append(
    {"type": "object", "required": ["kind"], "properties": {"kind": {"const": "cash"}}}
)
PAYMENT_OVERLAP = copy.deepcopy(PAYMENT)
PAYMENT_OVERLAP["oneOf"].append({"type": "object"})
TREE = {
    "$defs": {
        "Node": {
            "type": "object",
            "properties": {
                "value": {"type": "integer"},
                "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
            },
        }
    },
    "$ref": "#/$defs/Node",
}
TREE_STRING = copy.deepcopy(TREE)
TREE_STRING["$defs"]["Node"]["properties"]["value"] = {"type": "string"}
TREE_NUMBER = copy.deepcopy(TREE)
TREE_NUMBER["$defs"]["Node"]["properties"]["value"] = {"type": "number"}

S = {"type": "string"}
I = {"type": "integer"}  # noqa: E741
N = {"type": "number"}

# (id, old, new, backward rules, forward rules)
CASES: list[tuple[str, Any, Any, set[str], set[str]]] = [
    ("identical", OBJ, copy.deepcopy(OBJ), set(), set()),
    ("annotations-only", OBJ, prop("id", {"type": "string", "description": "x"}), set(), set()),
    # required / optional flips
    ("required-added", OBJ, obj(required=["id", "n"]), {"required-added"}, set()),
    ("required-removed", obj(required=["id", "n"]), OBJ, set(), {"required-removed"}),
    # open content: adding / removing properties
    ("optional-property-added-open", OBJ, prop("x", S), {"property-added-open-content"}, set()),
    ("unconstrained-property-added-open", OBJ, prop("x", {}), set(), set()),
    ("property-removed-open", OBJ, without("n"), set(), {"property-removed-open-content"}),
    # closed content
    (
        "property-added-closed",
        CLOSED,
        prop("x", S, CLOSED),
        set(),
        {"property-added-closed-content"},
    ),
    (
        "property-removed-closed",
        CLOSED,
        {**without("n"), "additionalProperties": False},
        {"property-removed-closed-content"},
        set(),
    ),
    ("content-closed", OBJ, CLOSED, {"additionalProperties-closed"}, set()),
    ("content-opened", CLOSED, OBJ, set(), {"additionalProperties-opened"}),
    (
        "additional-schema-narrowed",
        obj(additionalProperties=N),
        obj(additionalProperties=I),
        {"type-narrowed"},
        set(),
    ),
    # types
    ("type-widened-integer-number", prop("n", I), prop("n", N), set(), {"type-widened"}),
    ("type-narrowed-number-integer", prop("n", N), prop("n", I), {"type-narrowed"}, set()),
    ("type-changed", prop("n", I), prop("n", S), {"type-narrowed"}, {"type-widened"}),
    (
        "nullable-added",
        prop("n", I),
        prop("n", {"type": ["integer", "null"]}),
        set(),
        {"type-widened"},
    ),
    # enum and const
    (
        "enum-value-added",
        prop("c", {"enum": ["a", "b"]}),
        prop("c", {"enum": ["a", "b", "c"]}),
        set(),
        {"enum-widened"},
    ),
    (
        "enum-value-removed",
        prop("c", {"enum": ["a", "b"]}),
        prop("c", {"enum": ["a"]}),
        {"enum-narrowed"},
        set(),
    ),
    (
        "enum-added",
        prop("c", S),
        prop("c", {"type": "string", "enum": ["a"]}),
        {"enum-added"},
        set(),
    ),
    (
        "enum-removed",
        prop("c", {"type": "string", "enum": ["a"]}),
        prop("c", S),
        set(),
        {"enum-removed"},
    ),
    (
        "const-changed",
        prop("c", {"const": "a"}),
        prop("c", {"const": "b"}),
        {"const-changed"},
        {"const-changed"},
    ),
    (
        "const-to-enum",
        prop("c", {"const": "a"}),
        prop("c", {"enum": ["a", "b"]}),
        set(),
        {"enum-widened"},
    ),
    # strings
    (
        "maxLength-decreased",
        prop("s", {"type": "string", "maxLength": 10}),
        prop("s", {"type": "string", "maxLength": 5}),
        {"maxLength-decreased"},
        set(),
    ),
    (
        "maxLength-increased",
        prop("s", {"type": "string", "maxLength": 5}),
        prop("s", {"type": "string", "maxLength": 10}),
        set(),
        {"maxLength-increased"},
    ),
    (
        "minLength-added",
        prop("s", S),
        prop("s", {"type": "string", "minLength": 1}),
        {"minLength-added"},
        set(),
    ),
    (
        "pattern-added",
        prop("s", S),
        prop("s", {"type": "string", "pattern": "^a"}),
        {"pattern-added"},
        set(),
    ),
    (
        "pattern-removed",
        prop("s", {"type": "string", "pattern": "^a"}),
        prop("s", S),
        set(),
        {"pattern-removed"},
    ),
    (
        "pattern-widened",
        prop("s", {"type": "string", "pattern": "^a"}),
        prop("s", {"type": "string", "pattern": "^[ab]"}),
        set(),
        {"pattern-changed"},
    ),
    (
        "pattern-changed-unprovable",
        prop("s", {"type": "string", "pattern": "^a"}),
        prop("s", {"type": "string", "pattern": "^(?=a)[ab]"}),
        {"pattern-changed"},
        {"pattern-changed"},
    ),
    (
        "format-added",
        prop("s", S),
        prop("s", {"type": "string", "format": "date-time"}),
        {"format-added"},
        set(),
    ),
    # numbers
    (
        "minimum-increased",
        prop("n", {"type": "integer", "minimum": 0}),
        prop("n", {"type": "integer", "minimum": 1}),
        {"minimum-increased"},
        set(),
    ),
    (
        "minimum-removed",
        prop("n", {"type": "integer", "minimum": 0}),
        prop("n", I),
        set(),
        {"minimum-removed"},
    ),
    (
        "maximum-decreased",
        prop("n", {"type": "integer", "maximum": 10}),
        prop("n", {"type": "integer", "maximum": 9}),
        {"maximum-decreased"},
        set(),
    ),
    (
        "exclusive-minimum-number",
        prop("x", {"type": "number", "minimum": 0}),
        prop("x", {"type": "number", "exclusiveMinimum": 0}),
        {"minimum-increased"},
        set(),
    ),
    (
        "exclusive-minimum-integer-equivalent",
        prop("n", {"type": "integer", "minimum": 1}),
        prop("n", {"type": "integer", "exclusiveMinimum": 0}),
        set(),
        set(),
    ),
    (
        "exclusive-maximum-loosened",
        prop("x", {"type": "number", "exclusiveMaximum": 5}),
        prop("x", {"type": "number", "maximum": 5}),
        set(),
        {"maximum-increased"},
    ),
    (
        "multipleOf-refined",
        prop("x", {"type": "number", "multipleOf": 0.02}),
        prop("x", {"type": "number", "multipleOf": 0.01}),
        set(),
        {"multipleOf-changed"},
    ),
    (
        "multipleOf-added",
        prop("x", N),
        prop("x", {"type": "number", "multipleOf": 0.5}),
        {"multipleOf-changed"},
        set(),
    ),
    # arrays
    (
        "items-type-narrowed",
        prop("a", {"type": "array", "items": N}),
        prop("a", {"type": "array", "items": I}),
        {"type-narrowed"},
        set(),
    ),
    (
        "minItems-added",
        prop("a", {"type": "array"}),
        prop("a", {"type": "array", "minItems": 1}),
        {"minItems-added"},
        set(),
    ),
    (
        "maxItems-increased",
        prop("a", {"type": "array", "maxItems": 2}),
        prop("a", {"type": "array", "maxItems": 3}),
        set(),
        {"maxItems-increased"},
    ),
    (
        "uniqueItems-added",
        prop("a", {"type": "array"}),
        prop("a", {"type": "array", "uniqueItems": True}),
        {"uniqueItems-added"},
        set(),
    ),
    (
        "prefixItems-narrowed",
        prop("a", {"type": "array", "prefixItems": [S, N]}),
        prop("a", {"type": "array", "prefixItems": [S, I]}),
        {"type-narrowed"},
        set(),
    ),
    # nested objects
    (
        "nested-required-added",
        prop("o", {"type": "object", "properties": {"x": S}}),
        prop("o", {"type": "object", "properties": {"x": S}, "required": ["x"]}),
        {"required-added"},
        set(),
    ),
    (
        "nested-in-array-closed",
        prop("a", {"type": "array", "items": {"type": "object", "properties": {"x": S}}}),
        prop(
            "a",
            {
                "type": "array",
                "items": {"type": "object", "properties": {"x": S}, "additionalProperties": False},
            },
        ),
        {"additionalProperties-closed"},
        set(),
    ),
    # $ref / $defs, recursive schemas
    (
        "ref-equivalent-to-inline",
        prop("n", I),
        {**prop("n", {"$ref": "#/$defs/Int"}), "$defs": {"Int": I}},
        set(),
        set(),
    ),
    (
        "ref-target-narrowed",
        {**prop("n", {"$ref": "#/$defs/Num"}), "$defs": {"Num": N}},
        {**prop("n", {"$ref": "#/$defs/Num"}), "$defs": {"Num": I}},
        {"type-narrowed"},
        set(),
    ),
    ("recursive-identical", TREE, copy.deepcopy(TREE), set(), set()),
    ("recursive-changed", TREE, TREE_STRING, {"type-narrowed"}, {"type-widened"}),
    ("recursive-widened", TREE, TREE_NUMBER, set(), {"type-widened"}),
    # oneOf / anyOf / allOf
    (
        "anyOf-branch-added",
        prop("v", {"anyOf": [S, I]}),
        prop("v", {"anyOf": [S, I, {"type": "null"}]}),
        set(),
        {"anyOf-widened"},
    ),
    (
        "anyOf-branch-removed",
        prop("v", {"anyOf": [S, I]}),
        prop("v", {"anyOf": [S]}),
        {"anyOf-narrowed"},
        set(),
    ),
    (
        "anyOf-to-type-list",
        prop("v", {"anyOf": [S, I]}),
        prop("v", {"type": ["string", "integer"]}),
        set(),
        set(),
    ),
    ("oneOf-identical", PAYMENT, copy.deepcopy(PAYMENT), set(), set()),
    ("oneOf-disjoint-branch-added", PAYMENT, PAYMENT_CASH, set(), {"oneOf-widened"}),
    (
        "oneOf-overlapping-branch-added",
        PAYMENT,
        PAYMENT_OVERLAP,
        {"one-of-overlap"},
        {"oneOf-widened"},
    ),
    (
        "allOf-member-narrowed",
        {"allOf": [OBJ, {"required": ["n"]}]},
        {"allOf": [OBJ, {"required": ["n", "id"]}]},
        set(),
        set(),
    ),
    (
        "allOf-added-constraint",
        OBJ,
        {"allOf": [OBJ, {"required": ["n"]}]},
        {"required-added"},
        set(),
    ),
    # keywords that cannot be proven
    (
        "not-added",
        prop("s", S),
        prop("s", {"type": "string", "not": {"const": "x"}}),
        {"not-changed"},
        set(),
    ),
    (
        "dependentRequired-added",
        OBJ,
        obj(dependentRequired={"id": ["n"]}),
        {"dependentRequired-changed"},
        set(),
    ),
    ("dependentRequired-implied", OBJ, obj(dependentRequired={"n": ["id"]}), set(), set()),
    # boolean schemas
    ("true-to-false", prop("x", True), prop("x", False), {"schema-closed"}, set()),
]


def rules(violations: list[Any]) -> set[str]:
    return {v.rule for v in violations}


@pytest.mark.parametrize(
    ("old", "new", "backward", "forward"),
    [pytest.param(o, n, b, f, id=i) for i, o, n, b, f in CASES],
)
def test_rule_in_both_directions(old: Any, new: Any, backward: set[str], forward: set[str]) -> None:
    got_backward = check_compatibility(old, new, Compatibility.BACKWARD)
    got_forward = check_compatibility(old, new, Compatibility.FORWARD)
    assert rules(got_backward) == backward, [v.message for v in got_backward]
    assert rules(got_forward) == forward, [v.message for v in got_forward]
    assert all(v.direction == "backward" for v in got_backward)
    assert all(v.direction == "forward" for v in got_forward)
    full = check_compatibility(old, new, Compatibility.FULL)
    assert {(v.rule, v.direction) for v in full} == {
        *((r, "backward") for r in backward),
        *((r, "forward") for r in forward),
    }
    assert check_compatibility(old, new, Compatibility.NONE) == []


def test_there_are_at_least_forty_rule_cases() -> None:
    assert len(CASES) >= 40
    assert sum(1 for c in CASES if c[3]) >= 15 and sum(1 for c in CASES if c[4]) >= 15


def test_violations_carry_pointer_rule_and_message() -> None:
    old = prop("o", {"type": "object", "properties": {"x": {"type": "string", "maxLength": 5}}})
    new = prop("o", {"type": "object", "properties": {"x": {"type": "string", "maxLength": 4}}})
    (violation,) = check_compatibility(old, new, "BACKWARD")
    assert violation.pointer == "/properties/o/properties/x/maxLength"
    assert violation.rule == "maxLength-decreased"
    assert "maxLength is 4 in the new schema, 5 in the old" in violation.message
    problem = violation.as_problem("orders.yaml")
    assert (problem.file, problem.pointer, problem.rule) == (
        "orders.yaml",
        violation.pointer,
        violation.rule,
    )


def test_unprovable_changes_say_so() -> None:
    old = prop("s", {"type": "string", "pattern": "^a+$"})
    new = prop("s", {"type": "string", "pattern": "^(?!b)a*$"})  # lookahead: not decided
    (violation,) = check_compatibility(old, new, "BACKWARD")
    assert "cannot prove compatibility" in violation.message


def test_enum_values_checked_against_the_whole_new_schema() -> None:
    old = prop("c", {"type": "string", "enum": ["ab", "abc"]})
    new = prop("c", {"type": "string", "maxLength": 2})
    (violation,) = check_compatibility(old, new, "BACKWARD")
    assert violation.rule == "enum-narrowed" and "'abc'" in violation.message


def test_transitive_mode_on_two_versions_is_the_plain_check() -> None:
    old, new = OBJ, obj(required=["id", "n"])
    assert rules(check_compatibility(old, new, Compatibility.BACKWARD_TRANSITIVE)) == {
        "required-added"
    }
    assert rules(check_compatibility(old, new, Compatibility.FORWARD_TRANSITIVE)) == set()
