"""Mendix Business Events attributes <-> JSON Schema (pure).

A Mendix business event is an entity with flat attributes; its AsyncAPI export describes each
attribute as one JSON Schema property. The mapping, both ways:

| Mendix      | JSON Schema                               | note                                  |
|-------------|-------------------------------------------|---------------------------------------|
| String      | type: string                              | any other string format stays String  |
| Integer     | type: integer, format: int32              | 32-bit                                |
| Long        | type: integer, format: int64              | an integer without format: Long       |
| Decimal     | type: number                              | format (e.g. decimal, double) kept    |
| Boolean     | type: boolean                             |                                       |
| DateTime    | type: string, format: date-time           | RFC 3339                              |
| Enumeration | type: string, enum: [...]                 | the enumeration's value names         |

Anything else (nested objects, lists, binary data, a property without a type) has no Mendix
attribute type and is refused with the attribute's name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

TABLE = (
    ("String", "type: string"),
    ("Integer", "type: integer, format: int32"),
    ("Long", "type: integer, format: int64"),
    ("Decimal", "type: number"),
    ("Boolean", "type: boolean"),
    ("DateTime", "type: string, format: date-time"),
    ("Enumeration", "type: string, enum: [...]"),
)
_BINARY_FORMATS = frozenset({"binary", "byte", "base64"})


def attribute_type(schema: Any) -> str | None:
    """The Mendix attribute type of one property's schema, or None when there is none."""
    if not isinstance(schema, Mapping):
        return None
    kind = schema.get("type")
    if isinstance(kind, list):  # ["string", "null"]: Mendix attributes are nullable anyway
        rest = [k for k in kind if k != "null"]
        kind = rest[0] if len(rest) == 1 else None
    fmt = schema.get("format")
    if kind == "string":
        if isinstance(schema.get("enum"), list):
            return "Enumeration"
        if fmt == "date-time":
            return "DateTime"
        return None if fmt in _BINARY_FORMATS else "String"
    if kind == "integer":
        return "Integer" if fmt == "int32" else "Long"
    if kind == "number":
        return "Decimal"
    if kind == "boolean":
        return "Boolean"
    return None


def attributes(schema: Mapping[str, Any]) -> tuple[dict[str, str], list[str]]:
    """({attribute: Mendix type}, [why each unmappable attribute is refused])."""
    found: dict[str, str] = {}
    refused: list[str] = []
    props = schema.get("properties")
    for name, prop in props.items() if isinstance(props, Mapping) else []:
        mendix = attribute_type(prop)
        if mendix is None:
            kind = prop.get("type", "no type") if isinstance(prop, Mapping) else prop
            fmt = prop.get("format") if isinstance(prop, Mapping) else None
            shown = f"{kind}" + (f" (format {fmt})" if fmt else "")
            refused.append(
                f"attribute {name!r}: {shown} has no Mendix attribute type (String, Integer, "
                "Long, Decimal, Boolean, DateTime, Enumeration; attributes are flat)"
            )
        else:
            found[str(name)] = mendix
    for keyword in ("oneOf", "anyOf", "allOf", "patternProperties"):
        if keyword in schema:
            refused.append(f"{keyword} has no Mendix equivalent (an event is flat attributes)")
    return found, refused


def export_service(contracts: Any, service: str) -> dict[str, Any]:
    """The Mendix-mesh events of `service` as a business event service document in the shape a
    Mendix export has (AsyncAPI 2.x: one channel per event named by its Mendix channel id,
    `subscribe` for what the service publishes, `publish` for what others send it), for Mendix
    Studio Pro to consume. Attributes keep only what the mapping above carries."""
    chosen = [c for c in contracts if c.service == service and c.mesh == "mendix"]
    if not chosen:
        raise ValueError(f"service {service!r} has no events with x-bizevents-mesh mendix")
    document = contracts.services[service].document if service in contracts.services else {}
    raw_info = document.get("info")
    info: Mapping[str, Any] = raw_info if isinstance(raw_info, Mapping) else {}
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for contract in chosen:
        name = contract.message
        operation = "subscribe" if service in contract.publishers else "publish"
        channels[contract.topic] = {
            operation: {"message": {"$ref": f"#/components/messages/{name}"}}
        }
        message: dict[str, Any] = {"name": name, "title": name, "contentType": "application/json"}
        if contract.description:
            message["description"] = contract.description
        message["payload"] = {"$ref": f"#/components/schemas/{name}"}
        messages[name] = message
        properties: dict[str, Any] = {}
        for attribute, prop in (contract.schema.get("properties") or {}).items():
            kept = {k: prop[k] for k in ("type", "format", "enum", "description") if k in prop}
            if attribute_type(prop) == "Long" and "format" not in kept:
                kept["format"] = "int64"
            properties[attribute] = kept
        schemas[name] = {"type": "object", "properties": properties}
    return {
        "asyncapi": "2.2.0",
        "info": {
            "title": service,
            "version": str(info.get("version") or chosen[0].version),
            **({"description": info["description"]} if info.get("description") else {}),
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "components": {"messages": messages, "schemas": schemas},
    }
