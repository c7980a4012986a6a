"""AsyncAPI Schema (a superset of JSON Schema draft-07) -> the draft 2020-12 subset our contracts
use. Pure. Refs are already inlined by the caller.

What changes: `definitions` becomes `$defs`, `dependencies` splits into `dependentRequired` /
`dependentSchemas`, a `$schema` of another draft is dropped, `$id` is dropped (refs are inlined,
so it names nothing). AsyncAPI's own keywords (`discriminator`, `externalDocs`, `deprecated`) and
`x-*` keys are annotations in 2020-12 and stay. What has no faithful equivalent is refused with
the reason: tuple `items: [...]` (2020-12 spells it `prefixItems`, which the AsyncAPI parser's
draft-07 dialect does not know), boolean `exclusiveMinimum`/`exclusiveMaximum` (draft-04).
"""

from __future__ import annotations

from typing import Any

from ..refs import join

# Keywords whose value is one schema / a map of schemas / a list of schemas.
_ONE = (
    "additionalProperties",
    "items",
    "contains",
    "propertyNames",
    "not",
    "if",
    "then",
    "else",
    "additionalItems",
    "unevaluatedItems",
    "unevaluatedProperties",
)
_MAP = ("properties", "patternProperties", "definitions", "$defs", "dependentSchemas")
_LIST = ("allOf", "anyOf", "oneOf")


class SchemaRefused(Exception):
    """The schema uses something that cannot be carried over faithfully."""

    def __init__(self, message: str, pointer: str) -> None:
        super().__init__(message)
        self.pointer = pointer


def to_2020_12(schema: Any, pointer: str = "") -> Any:
    """A converted copy of `schema`; raises SchemaRefused naming the first unconvertible spot."""
    if isinstance(schema, bool):
        return schema
    if not isinstance(schema, dict):
        raise SchemaRefused(f"a schema must be an object or a boolean, got {schema!r}", pointer)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        here = join(pointer, key)
        if key == "$schema" or key == "$id":
            continue
        if key in ("exclusiveMinimum", "exclusiveMaximum") and isinstance(value, bool):
            raise SchemaRefused(f"boolean {key} (draft-04 style) is not supported", here)
        if key == "items" and isinstance(value, list):
            raise SchemaRefused("tuple arrays (items: [...]) are not supported", here)
        if key == "definitions":
            key = "$defs"
        if key == "dependencies" and isinstance(value, dict):
            required = {k: v for k, v in value.items() if isinstance(v, list)}
            schemas = {
                k: to_2020_12(v, join(here, k)) for k, v in value.items() if not isinstance(v, list)
            }
            if required:
                out["dependentRequired"] = required
            if schemas:
                out["dependentSchemas"] = schemas
            continue
        if key in _ONE:
            out[key] = to_2020_12(value, here)
        elif key in _MAP and isinstance(value, dict):
            out[key] = {k: to_2020_12(v, join(here, k)) for k, v in value.items()}
        elif key in _LIST and isinstance(value, list):
            out[key] = [to_2020_12(v, join(here, i)) for i, v in enumerate(value)]
        else:
            out[key] = value
    return out
