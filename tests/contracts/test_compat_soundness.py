"""Property test: whenever the checker says BACKWARD holds, sampled payloads valid under the old
schema are valid under the new one (the checker may be conservative, never unsound)."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from bizevents.contracts import check_compatibility

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
