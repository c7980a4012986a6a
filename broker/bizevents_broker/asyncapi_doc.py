"""The AsyncAPI document the broker serves for a service: self-contained and current.

An author's document may `$ref` sibling files (common.yaml#/...) that a reader of one URL cannot
fetch. We replace each message payload with the event's registered, bundled schema (which is also
what the registry checks) and drop `components.schemas` once nothing refers to it. Pure.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

_MESSAGES = "#/components/messages/"


def _refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        ref = value.get("$ref")
        if isinstance(ref, str):
            yield ref
        for item in value.values():
            yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def served_document(
    document: Mapping[str, Any], schemas: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """`document` with every channel's message payloads set to `schemas[event type]`."""
    doc: dict[str, Any] = copy.deepcopy(dict(document))
    components = _mapping(doc.get("components"))
    messages = _mapping(components.get("messages"))
    channels = _mapping(doc.get("channels"))
    for channel in channels.values():
        if not isinstance(channel, dict):
            continue
        event_type = channel.get("x-bizevents-type") or channel.get("address")
        schema = schemas.get(event_type) if isinstance(event_type, str) else None
        channel_messages = channel.get("messages")
        if schema is None or not isinstance(channel_messages, dict):
            continue
        for key, message in list(channel_messages.items()):
            if not isinstance(message, dict):
                continue
            ref = message.get("$ref")
            if isinstance(ref, str) and ref.startswith(_MESSAGES):
                target = messages.get(_unescape(ref[len(_MESSAGES) :]))
                if isinstance(target, dict):
                    target["payload"] = copy.deepcopy(dict(schema))
                    continue
            if isinstance(ref, str):  # a message in another file: inline a minimal one
                channel_messages[key] = {"name": key, "payload": copy.deepcopy(dict(schema))}
            else:
                message["payload"] = copy.deepcopy(dict(schema))
    rest = {k: v for k, v in doc.items() if k != "components"}
    others = {k: v for k, v in components.items() if k != "schemas"}
    if "schemas" in components and not any(
        r.startswith("#/components/schemas") for r in _refs([rest, others])
    ):
        del components["schemas"]
    return doc
