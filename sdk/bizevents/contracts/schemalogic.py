"""Small pure helpers about JSON Schemas, for the compatibility checker."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

ALL_TYPES = frozenset({"null", "boolean", "object", "array", "number", "integer", "string"})
ANNOTATIONS = frozenset(
    {
        "title",
        "description",
        "$comment",
        "examples",
        "default",
        "deprecated",
        "readOnly",
        "writeOnly",
        "$schema",
        "$id",
        "$anchor",
        "contentEncoding",
        "contentMediaType",
        "contentSchema",
        "discriminator",
        "externalDocs",
    }
)
# Keywords handled structurally below; any other assertion keyword in `sup` that differs from
# `sub` cannot be proven and is reported as breaking.
HANDLED = frozenset(
    {
        "type",
        "enum",
        "const",
        "properties",
        "required",
        "additionalProperties",
        "patternProperties",
        "items",
        "prefixItems",
        "minItems",
        "maxItems",
        "uniqueItems",
        "minLength",
        "maxLength",
        "pattern",
        "format",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minProperties",
        "maxProperties",
        "anyOf",
        "oneOf",
        "allOf",
        "$ref",
        "$defs",
        "definitions",
        "not",
        "dependentRequired",
        "propertyNames",
        "contains",
        "minContains",
        "maxContains",
    }
)
SMALL_DOMAIN = 256  # integer ranges up to this size are compared value by value


def types_of(schema: Mapping[str, Any]) -> frozenset[str]:
    raw = schema.get("type")
    if raw is None:
        return ALL_TYPES
    types = frozenset([raw] if isinstance(raw, str) else raw)
    return types | {"integer"} if "number" in types else types


def strip(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: strip(v) for k, v in schema.items() if k not in ANNOTATIONS}
    if isinstance(schema, list):
        return [strip(v) for v in schema]
    return schema


def canon(schema: Any) -> str:
    return json.dumps(strip(schema), sort_keys=True, default=str)


def num(value: Any) -> Fraction | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return Fraction(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return None


def lower_bound(s: Mapping[str, Any], integer: bool) -> tuple[Fraction, bool] | None:
    """The tighter lower bound as (value, exclusive); integers get inclusive bounds."""
    bounds = []
    if (v := num(s.get("minimum"))) is not None:
        bounds.append((v, False))
    if (v := num(s.get("exclusiveMinimum"))) is not None:
        bounds.append((Fraction(math.floor(v) + 1), False) if integer else (v, True))
    return max(bounds, key=lambda b: (b[0], b[1])) if bounds else None


def upper_bound(s: Mapping[str, Any], integer: bool) -> tuple[Fraction, bool] | None:
    bounds = []
    if (v := num(s.get("maximum"))) is not None:
        bounds.append((v, False))
    if (v := num(s.get("exclusiveMaximum"))) is not None:
        bounds.append((Fraction(math.ceil(v) - 1), False) if integer else (v, True))
    return min(bounds, key=lambda b: (b[0], not b[1])) if bounds else None


def merge(base: Mapping[str, Any], extra: Mapping[str, Any] | bool) -> Mapping[str, Any] | bool:
    """An approximation of allOf(base, extra) as one schema. Where it cannot intersect two
    values it keeps one of them, which only widens the result: safe for the `sub` side."""
    if extra is False:
        return False
    if extra is True:
        return base
    merged = dict(base)
    for key, value in extra.items():
        if key not in merged:
            merged[key] = value
        elif key == "required":
            merged[key] = sorted(set(merged[key]) | set(value))
        elif key == "properties":
            props = dict(merged[key])
            for name, sub in value.items():
                props[name] = {"allOf": [props[name], sub]} if name in props else sub
            merged[key] = props
        elif key == "type":
            a, b = types_of(merged), types_of(extra)
            both = sorted(a & b)
            merged[key] = both if len(both) != 1 else both[0]
        elif key in ("minimum", "minLength", "minItems", "minProperties"):
            merged[key] = max(merged[key], value)
        elif key in ("maximum", "maxLength", "maxItems", "maxProperties"):
            merged[key] = min(merged[key], value)
        elif key == "additionalProperties" and value is False:
            merged[key] = False
    return merged


def finite(s: Mapping[str, Any]) -> list[Any] | None:
    if "const" in s:
        return [s["const"]]
    if isinstance(s.get("enum"), list):
        return list(s["enum"])
    return None


def finite_deep(s: Any) -> list[Any] | None:
    """finite(), also through `allOf` members (their values' intersection)."""
    if not isinstance(s, Mapping):
        return None
    values = finite(s)
    for member in s.get("allOf") or []:
        theirs = finite_deep(member)
        if theirs is not None:
            values = theirs if values is None else [v for v in values if any(
                same(v, w) for w in theirs)]  # fmt: skip
    return values


def small_domain(s: Mapping[str, Any]) -> list[Any] | None:
    """Every candidate instance when the schema's types are null, boolean or integer within
    a small range (a superset of its valid instances; callers validate each)."""
    if "type" not in s:
        return None
    types = types_of(s)
    if types - {"null", "boolean", "integer"}:
        return None
    values: list[Any] = []
    if "null" in types:
        values.append(None)
    if "boolean" in types:
        values += [True, False]
    if "integer" in types:
        low, high = lower_bound(s, True), upper_bound(s, True)
        if low is None or high is None:
            return None
        start, stop = math.ceil(low[0]), math.floor(high[0])
        if stop - start >= SMALL_DOMAIN:
            return None
        values += list(range(start, stop + 1))
    return values


def matches(name: str, patterns: Mapping[str, Any]) -> bool:
    for pattern in patterns:
        try:
            if re.search(pattern, name):
                return True
        except re.error:
            return True
    return False


def same(x: Any, y: Any) -> bool:
    """JSON equality as JSON Schema sees it (1 == 1.0, but true != 1)."""
    if isinstance(x, bool) or isinstance(y, bool):
        return isinstance(x, bool) and isinstance(y, bool) and x == y
    if isinstance(x, int | float) and isinstance(y, int | float):
        return x == y
    if isinstance(x, list) and isinstance(y, list):
        return len(x) == len(y) and all(same(a, b) for a, b in zip(x, y, strict=True))
    if isinstance(x, dict) and isinstance(y, dict):
        return x.keys() == y.keys() and all(same(x[k], y[k]) for k in x)
    return type(x) is type(y) and x == y


def disjoint(a: Any, b: Any, valid: Any = None, depth: int = 0) -> bool:
    """Provably no instance is valid under both: no common type, finite values the other
    refuses, string patterns or lengths, number ranges that cannot meet, or a property that
    one side requires and whose two schemas are themselves disjoint."""
    if not isinstance(a, Mapping) or not isinstance(b, Mapping):
        return a is False or b is False
    common = types_of(a) & types_of(b)
    if not common:
        return True
    if valid is not None:
        for one, other in ((a, b), (b, a)):
            values = finite_deep(one)
            # valid() may answer None (cannot tell): that counts as "maybe valid".
            if values is not None and all(valid(v, other) is False for v in values):
                return True
    fa, fb = finite_deep(a), finite_deep(b)
    if fa is not None and fb is not None and not any(same(x, y) for x in fa for y in fb):
        return True
    if common <= {"string"} and _strings_disjoint(a, b):
        return True
    if common <= {"number", "integer"} and _ranges_disjoint(a, b, "number" not in common):
        return True
    if common <= {"object"} and depth < 8:
        a_props, b_props = a.get("properties") or {}, b.get("properties") or {}
        needed = set(a.get("required", [])) | set(b.get("required", []))
        for name in needed:
            x: Any = a_props.get(name, a.get("additionalProperties", True))
            y: Any = b_props.get(name, b.get("additionalProperties", True))
            if name not in a_props and a.get("patternProperties"):
                x = True
            if name not in b_props and b.get("patternProperties"):
                y = True
            if x is False or y is False or disjoint(x, y, valid, depth + 1):
                return True
    return False


def _strings_disjoint(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    lo = max(a.get("minLength", 0), b.get("minLength", 0))
    highs = [h for h in (a.get("maxLength"), b.get("maxLength")) if isinstance(h, int)]
    if highs and min(highs) < lo:
        return True
    pa, pb = a.get("pattern"), b.get("pattern")
    if isinstance(pa, str) and isinstance(pb, str):
        from . import regex

        return regex.disjoint(pa, pb)
    return False


def _ranges_disjoint(a: Mapping[str, Any], b: Mapping[str, Any], integer: bool) -> bool:
    for low_side, high_side in ((a, b), (b, a)):
        low, high = lower_bound(low_side, integer), upper_bound(high_side, integer)
        if low is None or high is None:
            continue
        if low[0] > high[0] or (low[0] == high[0] and (low[1] or high[1])):
            return True
    return False
