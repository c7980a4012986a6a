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
    }
)


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


def matches(name: str, patterns: Mapping[str, Any]) -> bool:
    for pattern in patterns:
        try:
            if re.search(pattern, name):
                return True
        except re.error:
            return True
    return False


def disjoint(a: Any, b: Any) -> bool:
    """Provably no instance is valid under both (types, or a required discriminator property
    whose allowed values differ)."""
    if not isinstance(a, Mapping) or not isinstance(b, Mapping):
        return a is False or b is False
    if not (types_of(a) & types_of(b)):
        return True
    a_props, b_props = a.get("properties") or {}, b.get("properties") or {}
    for name in set(a.get("required", [])) & set(a_props) & set(b_props):
        av, bv = a_props[name], b_props[name]
        if isinstance(av, Mapping) and isinstance(bv, Mapping):
            fa, fb = finite(av), finite(bv)
            if fa is not None and fb is not None and not any(x == y for x in fa for y in fb):
                return True
    return False
