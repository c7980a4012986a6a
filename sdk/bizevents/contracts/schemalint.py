"""Payload-schema checks beyond the meta-schema (pure): mistakes JSON Schema allows but that
break events in practice."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ..errors import Problem
from .refs import join
from .wording import did_you_mean

# Keywords whose value is one schema, a list of schemas, or a map of name -> schema.
_ONE = ("items", "additionalProperties", "not", "if", "then", "else", "contains")
_MANY = ("allOf", "anyOf", "oneOf", "prefixItems")
_MAP = ("properties", "$defs", "definitions", "patternProperties", "dependentSchemas")


def _schemas(schema: Any, pointer: str, depth: int = 0) -> Iterator[tuple[str, Mapping[str, Any]]]:
    if not isinstance(schema, Mapping) or depth > 64:
        return
    yield pointer, schema
    for key in _ONE:
        yield from _schemas(schema.get(key), join(pointer, key), depth + 1)
    for key in _MANY:
        items = schema.get(key)
        for i, sub in enumerate(items if isinstance(items, list) else []):
            yield from _schemas(sub, join(pointer, key, i), depth + 1)
    for key in _MAP:
        subs = schema.get(key)
        for name, sub in subs.items() if isinstance(subs, Mapping) else []:
            yield from _schemas(sub, join(pointer, key, name), depth + 1)


def required_problems(schema: Mapping[str, Any], file: str, pointer: str) -> list[Problem]:
    """A `required` name missing from `properties`: valid JSON Schema, but nobody can tell its
    type, generated models drop it, and every instance of such a model then fails validation."""
    problems = []
    for where, sub in _schemas(schema, pointer):
        required, props = sub.get("required"), sub.get("properties")
        if not isinstance(required, list) or not isinstance(props, Mapping):
            continue
        for i, name in enumerate(required):
            if isinstance(name, str) and name not in props:
                problems.append(
                    Problem(
                        f"{name!r} is required but not among the properties"
                        + (did_you_mean(name, props) or "; declare it under properties"),
                        join(where, "required", i),
                        file,
                        "required",
                    )
                )
    return problems


def is_closed(schema: Mapping[str, Any]) -> bool:
    return (
        schema.get("additionalProperties") is False or schema.get("unevaluatedProperties") is False
    )


def open_schema_notes(schema: Mapping[str, Any], file: str, pointer: str) -> list[Problem]:
    """An open payload (extra properties allowed) is legal, but under BACKWARD adding an optional
    property later is a breaking change (an old payload may carry that name with another type)."""
    if is_closed(schema):
        return []
    return [
        Problem(
            "open payload schema: adding an optional property later is a breaking change "
            "under BACKWARD; close it with 'additionalProperties: false' so such additions "
            "stay compatible",
            pointer,
            file,
            "open-schema",
        )
    ]
