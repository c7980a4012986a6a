"""What the docs page says about a payload schema (pure): a row per field, an example payload,
and durations in words. Readers should not need to read JSON Schema."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_CONSTRAINTS = (
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength",
    "pattern", "format", "minItems", "maxItems", "multipleOf", "const",
)  # fmt: skip
_EXAMPLE_BY_FORMAT = {
    "date-time": "2026-01-31T12:00:00Z",
    "date": "2026-01-31",
    "email": "someone@example.com",
    "uuid": "0190c9a8-7f3e-7b6c-9a1d-3c5e7f9a1b2d",
    "uri": "https://example.com/",
}
MAX_DEPTH = 4


@dataclass(frozen=True)
class FieldRow:
    name: str  # dotted path, [] for array items
    type: str
    required: bool
    constraints: str
    description: str


def _type(schema: dict[str, Any]) -> str:
    t = schema.get("type")
    if isinstance(t, list):
        return " or ".join(str(x) for x in t)
    if t:
        return str(t)
    for key in ("oneOf", "anyOf"):
        if isinstance(schema.get(key), list):
            return " | ".join(_type(s) for s in schema[key] if isinstance(s, dict)) or "any"
    if "enum" in schema:
        return "enum"
    if "$ref" in schema:
        return "see " + str(schema["$ref"]).rsplit("/", 1)[-1]
    return "any"


def _constraints(schema: dict[str, Any]) -> str:
    parts = [f"{k} {schema[k]}" for k in _CONSTRAINTS if k in schema]
    if isinstance(schema.get("enum"), list):
        parts.append("one of " + ", ".join(str(v) for v in schema["enum"]))
    if schema.get("additionalProperties") is False:
        parts.append("no other fields")
    return "; ".join(parts)


def field_rows(schema: Any, prefix: str = "", depth: int = 0) -> list[FieldRow]:
    """Every property, nested objects and array items included (bounded depth)."""
    if not isinstance(schema, dict) or depth > MAX_DEPTH:
        return []
    rows: list[FieldRow] = []
    required = set(schema.get("required") or ())
    properties = schema.get("properties")
    for name, sub in properties.items() if isinstance(properties, dict) else []:
        if not isinstance(sub, dict):
            continue
        path = f"{prefix}{name}"
        rows.append(
            FieldRow(
                path,
                _type(sub),
                name in required,
                _constraints(sub),
                str(sub.get("description") or ""),
            )
        )
        rows += field_rows(sub, path + ".", depth + 1)
        items = sub.get("items")
        if isinstance(items, dict):
            rows += field_rows(items, path + "[].", depth + 1)
    return rows


def example(schema: Any, depth: int = 0) -> Any:
    """A plausible instance: the schema's own examples/default/const/enum first, else by type
    and constraints. Optional properties are shown too (a reader wants to see them)."""
    if not isinstance(schema, dict) or depth > MAX_DEPTH:
        return None
    for key in ("const", "default"):
        if key in schema:
            return schema[key]
    if isinstance(schema.get("examples"), list) and schema["examples"]:
        return schema["examples"][0]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("oneOf", "anyOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return example(schema[key][0], depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        return {k: example(v, depth + 1) for k, v in props.items() if isinstance(v, dict)}
    if kind == "array":
        count = max(1, int(schema.get("minItems") or 1))
        return [example(schema.get("items"), depth + 1) for _ in range(min(count, 3))]
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        value = (low if isinstance(low, int | float) else 0) + (
            1 if "exclusiveMinimum" in schema else 0
        )
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    if kind == "string":
        if schema.get("format") in _EXAMPLE_BY_FORMAT:
            return _EXAMPLE_BY_FORMAT[schema["format"]]
        return _string(schema)
    return None


_CANDIDATES = ("example", "EUR", "ABC", "abc", "A1", "a-1", "123", "1", "example-1", "X")


def _string(schema: dict[str, Any]) -> str:
    """A string meeting the length bounds and, where a simple candidate does, the pattern."""
    low, high = int(schema.get("minLength") or 0), schema.get("maxLength")
    pattern = schema.get("pattern")
    for text in _CANDIDATES:
        text = text + "x" * max(0, low - len(text))
        if isinstance(high, int) and len(text) > high:
            continue
        if not isinstance(pattern, str):
            return text
        try:
            if re.search(pattern, text):
                return text
        except re.error:
            break
    return f"<matching {pattern}>" if isinstance(pattern, str) else "x" * max(low, 1)


def retention_words(retention_ms: Any) -> str:
    if retention_ms is None:
        return "the broker's default"
    if retention_ms == -1:
        return "forever"
    for unit, ms in (
        ("day", 86_400_000),
        ("hour", 3_600_000),
        ("minute", 60_000),
        ("second", 1000),
    ):
        if retention_ms % ms == 0:
            n = retention_ms // ms
            return f"{n} {unit}" + ("" if n == 1 else "s")
    return f"{retention_ms} ms"


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")
