"""Property test: whenever the checker says BACKWARD holds, sampled payloads valid under the old
schema are valid under the new one (the checker may be conservative, never unsound)."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from jsonschema import Draft202012Validator

from bizevents.contracts import check_compatibility

from .instances import accepts, payloads

pytestmark = pytest.mark.timeout(120)

KEYS = ["a", "b", "c"]
SCALARS: list[Any] = [None, True, False, 0, 1, -1, 2, 3, 0.5, -2.5, "", "x", "xy", "abc", "yx"]


def random_schema(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    roll = rng.random()
    if depth > 2 or roll < 0.25:
        kind = rng.choice(["string", "integer", "number", "boolean", "null"])
        schema: dict[str, Any] = {"type": kind}
        if kind == "string" and rng.random() < 0.4:
            schema[rng.choice(["maxLength", "minLength"])] = rng.randint(0, 3)
        if kind == "string" and rng.random() < 0.2:
            schema["enum"] = rng.sample(["", "x", "xy", "abc"], rng.randint(1, 3))
        if kind in ("integer", "number") and rng.random() < 0.5:
            schema[rng.choice(["minimum", "exclusiveMaximum"])] = rng.randint(-2, 2)
        if kind in ("integer", "number") and rng.random() < 0.2:
            schema["multipleOf"] = rng.choice([1, 2, 0.5])
        if rng.random() < 0.1:
            schema = {"const": rng.choice([0, 1, "x", None])}
        return schema
    if roll < 0.7:
        names = rng.sample(KEYS, rng.randint(0, 3))
        schema = {"type": "object", "properties": {k: random_schema(rng, depth + 1) for k in names}}
        if rng.random() < 0.5:
            schema["required"] = rng.sample(KEYS, rng.randint(0, 2))
        if rng.random() < 0.3:
            schema["additionalProperties"] = rng.choice([False, True, {"type": "integer"}])
        return schema
    if roll < 0.85:
        schema = {"type": "array", "items": random_schema(rng, depth + 1)}
        if rng.random() < 0.4:
            schema[rng.choice(["maxItems", "minItems"])] = rng.randint(0, 2)
        if rng.random() < 0.2:
            schema["uniqueItems"] = True
        return schema
    word = rng.choice(["anyOf", "oneOf"])
    return {word: [random_schema(rng, depth + 1) for _ in range(rng.randint(1, 3))]}


def mutated(rng: random.Random, schema: dict[str, Any]) -> dict[str, Any]:
    schema = copy.deepcopy(schema)
    subs: list[dict[str, Any]] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            subs.append(value)
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(schema)
    target = rng.choice(subs)
    if target and rng.random() < 0.3:
        del target[rng.choice(list(target))]
        return schema
    choices: dict[str, Any] = {
        "maxLength": rng.randint(0, 3),
        "minimum": rng.randint(-2, 2),
        "exclusiveMaximum": rng.randint(-1, 3),
        "required": rng.sample(KEYS, rng.randint(0, 2)),
        "additionalProperties": rng.choice([False, True, {"type": "integer"}]),
        "type": rng.choice(["string", "integer", "number", "object", ["integer", "null"]]),
        "enum": rng.sample(["", "x", "xy", 0, 1], rng.randint(1, 3)),
        "minItems": rng.randint(0, 2),
        "uniqueItems": rng.choice([True, False]),
        "multipleOf": rng.choice([1, 2, 0.5]),
    }
    key = rng.choice(sorted(choices))
    target[key] = choices[key]
    return schema


def random_instance(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 2 or roll < 0.5:
        return rng.choice(SCALARS)
    if roll < 0.8:
        names = rng.sample([*KEYS, "d"], rng.randint(0, 3))
        return {k: random_instance(rng, depth + 1) for k in names}
    return [random_instance(rng, depth + 1) for _ in range(rng.randint(0, 3))]


def counterexample(rng: random.Random, old: Any, new: Any) -> Any:
    valid_old, valid_new = Draft202012Validator(old), Draft202012Validator(new)
    for _ in range(200):
        payload = random_instance(rng)
        if valid_old.is_valid(payload) and not valid_new.is_valid(payload):
            return payload
    return None


@pytest.mark.parametrize("pairing", ["mutation", "independent"])
def test_compatible_verdicts_have_no_counterexample(pairing: str) -> None:
    rng = random.Random(f"bizevents-{pairing}")
    proven = refuted = 0
    for _ in range(300):
        old = random_schema(rng)
        new = mutated(rng, old) if pairing == "mutation" else random_schema(rng)
        if check_compatibility(old, new, "BACKWARD"):
            refuted += 1
            continue
        proven += 1
        found = counterexample(rng, old, new)
        assert found is None, f"unsound: {old} -> {new} rejects {found!r}"
        # FORWARD from new back to old asks the same question: same verdict.
        assert check_compatibility(new, old, "FORWARD") == []
    # Both verdicts occur (independent pairs are rarely compatible).
    assert proven > 10 and refuted > 20, (proven, refuted)


# -- the newer keywords and every rule added with them --------------------------------------
PATTERNS = [
    "^[A-Z]{3}$", "^(EUR|USD)$", "^[A-Z]{2,4}$", "^[0-9]+$", r"^\d+$", "^[a-z]+(-[a-z]+)*$",
    "^[a-z-]+$", "abc", "b", "^a", "^[ab]", "^(ab)+$", r"^\w+$", "x$", "^.?$", "[^a]",
]  # fmt: skip
STRINGS = ["", "a", "b", "ab", "abc", "abab", "EUR", "USD", "GBP", "EU", "ABCD", "12", "\u0661",
           "é", "a-b", "-", "x", "x\n", "EUR\n", "\n", "ba", "a_b", "A"]  # fmt: skip


def newer_schema(rng: random.Random, depth: int = 0) -> Any:
    """Schemas that exercise the normaliser and the newer keywords."""
    roll = rng.random()
    if depth > 2 or roll < 0.3:
        kinds = ["pattern", "pattern", "pattern", "int-range", "number-step", "enum-int", "bool"]
        kind = rng.choice([*kinds, "not"])
        if kind == "pattern":
            schema: dict[str, Any] = {"type": "string", "pattern": rng.choice(PATTERNS)}
            if rng.random() < 0.3:
                schema[rng.choice(["minLength", "maxLength"])] = rng.randint(0, 4)
            return schema
        if kind == "int-range":
            low = rng.randint(-2, 2)
            return {"type": "integer", "minimum": low, "maximum": low + rng.randint(0, 4)}
        if kind == "number-step":
            return {"type": "number", "multipleOf": rng.choice([1, 2, 0.5]),
                    "minimum": rng.randint(-2, 2)}  # fmt: skip
        if kind == "enum-int":
            return {"enum": rng.sample([-1, 0, 1, 2, 3, 4, "x", None], rng.randint(1, 4))}
        if kind == "bool":
            return rng.choice([{"type": "boolean"}, {"enum": [True, False]}, {"const": True}])
        return {"type": rng.choice(["string", ["string", "null"], "integer"]),
                "not": rng.choice([{"type": "null"}, {"const": "x"}, {"type": "integer"},
                                   {"pattern": "^a"}, {"enum": [0, 1]}])}  # fmt: skip
    if roll < 0.7:
        names = rng.sample(KEYS, rng.randint(1, 3))
        schema = {"type": "object", "properties": {k: newer_schema(rng, depth + 1) for k in names}}
        if rng.random() < 0.6:
            schema["required"] = rng.sample(KEYS, rng.randint(0, 2))
        extras: dict[str, Any] = {
            "additionalProperties": rng.choice([False, True, {"type": "integer"}]),
            "unevaluatedProperties": False,
            "propertyNames": rng.choice(
                [{"pattern": "^[a-b]+$"}, {"enum": ["a", "b", "c"]}, {"maxLength": 1}]
            ),
            "minProperties": rng.randint(0, 2),
            "maxProperties": rng.randint(1, 3),
            "dependentRequired": {rng.choice(KEYS): rng.sample(KEYS, rng.randint(1, 2))},
            "if": {"required": ["a"], "properties": {"a": {"const": rng.choice([0, 1, "x"])}}},
        }
        for word in rng.sample(sorted(extras), rng.randint(0, 2)):
            schema[word] = extras[word]
        if "if" in schema:
            schema["then"] = {"required": [rng.choice(KEYS)]}
            if rng.random() < 0.5:
                schema["else"] = {"required": [rng.choice(KEYS)]}
        if rng.random() < 0.2:
            schema = {
                "allOf": [schema, {"properties": {"c": newer_schema(rng, depth + 1)}}],
                **({"unevaluatedProperties": False} if rng.random() < 0.5 else {}),
            }
        return schema
    if roll < 0.9:
        schema = {"type": "array"}
        if rng.random() < 0.5:
            schema["prefixItems"] = [newer_schema(rng, depth + 1) for _ in range(rng.randint(1, 2))]
            schema["items"] = rng.choice([False, True, newer_schema(rng, depth + 1)])
        else:
            schema["items"] = newer_schema(rng, depth + 1)
        extras = {
            "maxItems": rng.randint(0, 3),
            "minItems": rng.randint(0, 2),
            "uniqueItems": True,
            "contains": rng.choice([{"type": "integer"}, {"const": 1}, {"type": "string"}]),
        }
        for word in rng.sample(sorted(extras), rng.randint(0, 2)):
            schema[word] = extras[word]
        return schema
    word = rng.choice(["anyOf", "oneOf"])
    return {word: [newer_schema(rng, depth + 1) for _ in range(rng.randint(1, 3))]}


def newer_mutation(rng: random.Random, schema: Any) -> Any:
    if rng.random() < 0.4:
        return newer_schema(rng)
    schema = copy.deepcopy(schema)
    nodes: list[dict[str, Any]] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            nodes.append(value)
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(schema)
    if not nodes:
        return schema
    strings = [n for n in nodes if "pattern" in n]
    if strings and rng.random() < 0.4:
        target = rng.choice(strings)
        target["pattern"] = rng.choice(PATTERNS)
        if rng.random() < 0.3:
            target[rng.choice(["minLength", "maxLength"])] = rng.randint(0, 4)
        return schema
    target = rng.choice(nodes)
    if target and rng.random() < 0.35:
        del target[rng.choice(sorted(target))]
        return schema
    choices: dict[str, Any] = {
        "pattern": rng.choice(PATTERNS),
        "maxLength": rng.randint(0, 4),
        "minLength": rng.randint(0, 3),
        "maxItems": rng.randint(0, 3),
        "uniqueItems": True,
        "maxProperties": rng.randint(0, 3),
        "minProperties": rng.randint(0, 3),
        "required": rng.sample(KEYS, rng.randint(0, 2)),
        "additionalProperties": rng.choice([False, True]),
        "multipleOf": rng.choice([1, 2, 0.5]),
        "maximum": rng.randint(-1, 5),
        "enum": rng.sample([0, 1, 2, 3, "x", "EUR", True], rng.randint(1, 4)),
        "not": rng.choice([{"type": "null"}, {"const": "x"}, {"const": 1}]),
        "propertyNames": rng.choice([{"pattern": "^[a-c]$"}, {"enum": ["a", "b"]}]),
        "dependentRequired": {rng.choice(KEYS): [rng.choice(KEYS)]},
        "contains": {"type": "integer"},
        "items": rng.choice([False, True]),
    }
    word = rng.choice(sorted(choices))
    target[word] = choices[word]
    return schema


def newer_instance(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 2 or roll < 0.5:
        return rng.choice([*SCALARS, *STRINGS, 4, 0.0, 1.0, 2.0, 1.5])
    if roll < 0.8:
        names = rng.sample([*KEYS, "d", "A", "a_b"], rng.randint(0, 4))
        return {k: newer_instance(rng, depth + 1) for k in names}
    return [newer_instance(rng, depth + 1) for _ in range(rng.randint(0, 4))]


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3))
def test_newer_keywords_never_unsound(seed: int) -> None:
    """Random pairs over the newer keywords: every "compatible" verdict survives payloads
    drawn at random and guided by the old schema (hypothesis), each checked the way the
    project accepts payloads (either validator)."""
    rng = random.Random(f"bizevents-newer-{seed}")
    proven = 0
    for _ in range(100):
        old = newer_schema(rng)
        new = newer_mutation(rng, old)
        if check_compatibility(old, new, "BACKWARD"):
            continue
        proven += 1
        in_old, in_new = accepts(old), accepts(new)
        for _ in range(100):
            payload = newer_instance(rng)
            if in_old(payload):
                assert in_new(payload), f"unsound: {old} -> {new} rejects {payload!r}"
        probe_guided(old, new, in_old, in_new)
    assert proven > 12, proven


def probe_guided(old: Any, new: Any, in_old: Any, in_new: Any) -> None:
    @settings(max_examples=6, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(payloads(old))
    def probe(batch: list[Any]) -> None:
        for payload in batch:
            if in_old(payload):
                assert in_new(payload), f"unsound: {old} -> {new} rejects {payload!r}"

    probe()
