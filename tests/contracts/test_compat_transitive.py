"""TRANSITIVE modes across three versions, and the history helper the registry uses."""

from __future__ import annotations

from typing import Any

import pytest

from bizevents.contracts import (
    Compatibility,
    check_compatibility,
    check_compatibility_transitive,
    check_history,
)


def schema(
    props: dict[str, Any], required: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": required or [], **extra}


S = {"type": "string"}
# BACKWARD drift: v1 is closed with `b` a string; v2 opens the model and drops `b` (fine for v1
# payloads); v3 re-adds `b` as an integer: v1 payloads (b: "x") are invalid under v3.
V1 = schema({"a": S, "b": S}, ["a"], additionalProperties=False)
V2 = schema({"a": S}, ["a"])
V3 = schema({"a": S, "b": {"type": "integer"}}, ["a"])
# FORWARD drift: v2 narrows an enum (new payloads still valid for v1 readers); v3 adds "z".
F1 = schema({"c": {"enum": ["x", "y"]}}, ["c"])
F2 = schema({"c": {"enum": ["x"]}}, ["c"])
F3 = schema({"c": {"enum": ["x", "z"]}}, ["c"])


def test_each_backward_step_is_compatible_but_not_transitively() -> None:
    assert check_compatibility(V1, V2, "BACKWARD") == []
    # v2 is open: adding a constrained `b` to an open model breaks v2 payloads too.
    assert {v.rule for v in check_compatibility(V2, V3, "BACKWARD")} == {
        "property-added-open-content"
    }
    found = check_compatibility_transitive([V1, V2, V3], Compatibility.BACKWARD)
    assert {(v.against, v.rule) for v in found} == {
        (0, "type-narrowed"),
        (1, "property-added-open-content"),
    }


def test_history_checks_latest_only_unless_transitive() -> None:
    latest_only = check_history([V1, V2], V3, Compatibility.BACKWARD)
    assert {v.against for v in latest_only} == {1}
    transitive = check_history([V1, V2], V3, Compatibility.BACKWARD_TRANSITIVE)
    assert {v.against for v in transitive} == {0, 1}
    assert check_history([V1, V2], V3, Compatibility.NONE) == []
    assert check_history([], V3, Compatibility.FULL_TRANSITIVE) == []


def test_forward_transitive_catches_value_reappearing_only_for_the_oldest_reader() -> None:
    # F2 narrows (fine for FORWARD), F3 adds "z": invalid for both F1 and F2 readers.
    assert check_compatibility(F1, F2, "FORWARD") == []
    plain = check_history([F1, F2], F3, Compatibility.FORWARD)
    assert {(v.against, v.rule) for v in plain} == {(1, "enum-widened")}
    transitive = check_history([F1, F2], F3, Compatibility.FORWARD_TRANSITIVE)
    assert {(v.against, v.rule) for v in transitive} == {(0, "enum-widened"), (1, "enum-widened")}


def test_forward_transitive_three_versions_where_only_the_oldest_breaks() -> None:
    g1 = schema({"n": {"type": "integer", "maximum": 10}}, ["n"])
    g2 = schema({"n": {"type": "integer", "maximum": 20}}, ["n"])  # FORWARD-breaks g1
    g3 = schema({"n": {"type": "integer", "maximum": 15}}, ["n"])  # fine for g2 readers
    assert check_history([g1, g2], g3, Compatibility.FORWARD) == []
    found = check_history([g1, g2], g3, Compatibility.FORWARD_TRANSITIVE)
    assert {(v.against, v.rule) for v in found} == {(0, "maximum-increased")}


def test_full_transitive_checks_both_directions_against_every_version() -> None:
    h1 = schema({"a": S}, ["a"])
    h2 = schema({"a": S, "b": {}}, ["a"])  # unconstrained optional field: FULL with h1
    h3 = schema({"a": S}, ["a", "b"])  # requires b: breaks BACKWARD against h1 and h2
    assert check_compatibility(h1, h2, "FULL") == []
    found = check_compatibility_transitive([h1, h2, h3], Compatibility.FULL)
    assert {(v.against, v.direction, v.rule) for v in found} == {
        (0, "backward", "required-added"),
        (1, "backward", "required-added"),
    }


@pytest.mark.parametrize("mode", list(Compatibility))
def test_identical_three_versions_are_compatible_under_every_mode(mode: Compatibility) -> None:
    assert check_compatibility_transitive([V2, dict(V2), dict(V2)], mode) == []


@pytest.mark.timeout(60)
def test_hostile_nested_unions_stop_with_cannot_prove() -> None:
    # Six levels of 4-way anyOf, integer leaves widened to number: compatible, but proving it
    # branch by branch takes more steps than the budget, so the answer is "cannot prove".
    def nest(level: int, leaf: str) -> dict[str, Any]:
        if level == 0:
            return {"type": leaf}
        branches = [
            {"type": "object", "properties": {f"p{i}": nest(level - 1, leaf)}} for i in range(4)
        ]
        return {"anyOf": branches}

    assert check_compatibility(nest(3, "integer"), nest(3, "number"), "BACKWARD") == []
    found = check_compatibility(nest(6, "integer"), nest(6, "number"), "BACKWARD")
    assert "too-complex" in {v.rule for v in found}
    assert all("cannot prove" in v.message or "too complex" in v.message for v in found)


def test_malformed_schemas_are_breaking_not_a_crash() -> None:
    old = {"type": "string", "maxLength": "ten"}
    new = {"type": "string", "maxLength": 5}
    (violation,) = check_compatibility(old, new, "BACKWARD")
    assert violation.rule == "schema-invalid" and "cannot" in violation.message
    found = check_compatibility({"$ref": "#/$defs/Missing"}, {"type": "string"}, "FULL")
    assert {v.rule for v in found} >= {"ref-unresolved"}
