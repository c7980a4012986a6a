"""Our `x-bizevents-*` AsyncAPI extensions: what AsyncAPI lacks (documented in contracts/README.md).

Info object:    x-bizevents-owner (required), x-bizevents-source (required), x-bizevents-mesh.
Channel object: x-bizevents-type (required), x-bizevents-key, x-bizevents-compatibility,
                x-bizevents-retention, x-bizevents-publishers, x-bizevents-subscribers,
                x-bizevents-source and x-bizevents-mesh (override the info ones).
Unknown `x-bizevents-*` names are errors (typos must not silently change behaviour).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import Problem
from .model import Compatibility
from .refs import join
from .wording import did_you_mean, shown

PREFIX = "x-bizevents-"
INFO_KEYS = frozenset({"x-bizevents-owner", "x-bizevents-source", "x-bizevents-mesh"})
CHANNEL_KEYS = frozenset(
    {
        "x-bizevents-type",
        "x-bizevents-key",
        "x-bizevents-compatibility",
        "x-bizevents-retention",
        "x-bizevents-publishers",
        "x-bizevents-subscribers",
        "x-bizevents-source",
        "x-bizevents-mesh",
    }
)
# Wire conventions (see bizevents.mesh): our own, or Mendix Business Events'.
MESHES = ("bizevents", "mendix")
# A Mendix channel id (a UUID in Mendix exports): one segment of the topic name.
MENDIX_CHANNEL = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
# Reverse-DNS, then the event name, then the major version: com.acme.orders.OrderShipped.v1
EVENT_TYPE = re.compile(r"^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+\.[A-Z][A-Za-z0-9]*\.v[1-9][0-9]*$")
APP_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
RETENTION = re.compile(r"^([1-9][0-9]{0,6})(ms|s|m|h|d)$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
FOREVER = -1


@dataclass(frozen=True)
class EventExtensions:
    event_type: str
    key_field: str | None
    compatibility: Compatibility
    retention_ms: int | None
    publishers: tuple[str, ...] | None
    subscribers: tuple[str, ...]
    source: str | None


def unknown_keys(
    obj: Mapping[str, Any], allowed: frozenset[str], file: str, pointer: str
) -> list[Problem]:
    return [
        Problem(
            f"unknown extension {key!r}"
            + (
                did_you_mean(key, allowed)
                or f" (allowed here: {', '.join(sorted(allowed)) or 'none'})"
            ),
            pointer=join(pointer, key),
            file=file,
            rule="extension",
        )
        for key in obj
        if isinstance(key, str) and key.startswith(PREFIX) and key not in allowed
    ]


def _text(
    obj: Mapping[str, Any], key: str, file: str, pointer: str, problems: list[Problem]
) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        problems.append(
            Problem(
                f"{key} must be a non-empty string, found {shown(value)}",
                join(pointer, key),
                file,
                "extension",
            )
        )
        return None
    return value


def info_extensions(info: Mapping[str, Any], file: str, problems: list[Problem]) -> tuple[str, str]:
    """(owner, source) of a service document."""
    problems.extend(unknown_keys(info, INFO_KEYS, file, "/info"))
    owner = _text(info, "x-bizevents-owner", file, "/info", problems)
    source = _text(info, "x-bizevents-source", file, "/info", problems)
    for key, value in (("x-bizevents-owner", owner), ("x-bizevents-source", source)):
        if value is None and key not in info:
            problems.append(Problem(f"{key} is required", "/info", file, "extension"))
    return owner or "", source or ""


def mesh_of(obj: Mapping[str, Any], file: str, pointer: str, problems: list[Problem]) -> str | None:
    """The `x-bizevents-mesh` of an info or channel object (None when absent or invalid)."""
    value = obj.get("x-bizevents-mesh")
    if value is None:
        return None
    if value not in MESHES:
        problems.append(
            Problem(
                f"x-bizevents-mesh {value!r} must be one of {', '.join(MESHES)}",
                join(pointer, "x-bizevents-mesh"),
                file,
                "extension",
            )
        )
        return None
    return str(value)


def _apps(
    obj: Mapping[str, Any], key: str, file: str, pointer: str, problems: list[Problem]
) -> tuple[str, ...] | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(
        isinstance(v, str) and APP_NAME.match(v) for v in value
    ):
        problems.append(
            Problem(
                f"{key} must be a list of app names (lowercase letters, digits, - and _, "
                f"starting with a letter), found {shown(value)}",
                join(pointer, key),
                file,
                "extension",
            )
        )
        return None
    if len(set(value)) != len(value):
        problems.append(Problem(f"{key} lists an app twice", join(pointer, key), file, "extension"))
    return tuple(value)


def parse_retention(value: Any) -> int | None:
    """ "7d", "12h", "30m", "45s", "500ms" -> milliseconds; "forever" -> -1 (Kafka's unlimited)."""
    if value == "forever":
        return FOREVER
    match = RETENTION.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(value)
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def channel_extensions(
    channel: Mapping[str, Any], file: str, pointer: str, problems: list[Problem]
) -> EventExtensions | None:
    problems.extend(unknown_keys(channel, CHANNEL_KEYS, file, pointer))
    before = len(problems)
    event_type = channel.get("x-bizevents-type")
    if event_type is None:
        problems.append(
            Problem("x-bizevents-type is required on every channel", pointer, file, "extension")
        )
    elif not isinstance(event_type, str) or not EVENT_TYPE.match(event_type):
        problems.append(
            Problem(
                f"x-bizevents-type {event_type!r} must be reverse-DNS + event name + major "
                "version, e.g. com.acme.orders.OrderShipped.v1",
                join(pointer, "x-bizevents-type"),
                file,
                "event-type",
            )
        )
    key_field = _text(channel, "x-bizevents-key", file, pointer, problems)
    compatibility = Compatibility.BACKWARD
    raw_mode = channel.get("x-bizevents-compatibility")
    if raw_mode is not None:
        try:
            compatibility = Compatibility(raw_mode)
        except ValueError:
            problems.append(
                Problem(
                    f"x-bizevents-compatibility {shown(raw_mode)} must be one of "
                    + ", ".join(m.value for m in Compatibility)
                    + did_you_mean(str(raw_mode).upper(), [m.value for m in Compatibility]),
                    join(pointer, "x-bizevents-compatibility"),
                    file,
                    "extension",
                )
            )
    retention: int | None = None
    if "x-bizevents-retention" in channel:
        try:
            retention = parse_retention(channel["x-bizevents-retention"])
        except ValueError:
            problems.append(
                Problem(
                    f"x-bizevents-retention {shown(channel['x-bizevents-retention'])} must be a "
                    "duration like 7d, 12h, 30m, 45s, 500ms or 'forever'",
                    join(pointer, "x-bizevents-retention"),
                    file,
                    "extension",
                )
            )
    publishers = _apps(channel, "x-bizevents-publishers", file, pointer, problems)
    subscribers = _apps(channel, "x-bizevents-subscribers", file, pointer, problems) or ()
    source = _text(channel, "x-bizevents-source", file, pointer, problems)
    if len(problems) > before or not isinstance(event_type, str):
        return None
    return EventExtensions(
        event_type, key_field, compatibility, retention, publishers, subscribers, source
    )


def key_problems(
    key_field: str, schema: Mapping[str, Any], file: str, pointer: str
) -> list[Problem]:
    """The key field must be a required top-level string or integer property of the payload."""
    props = schema.get("properties")
    prop = props.get(key_field) if isinstance(props, dict) else None
    where = join(pointer, "x-bizevents-key")
    if not isinstance(prop, dict):
        return [
            Problem(f"key field {key_field!r} is not a property of the payload", where, file, "key")
        ]
    problems = []
    required = schema.get("required")
    if not isinstance(required, list) or key_field not in required:
        problems.append(Problem(f"key field {key_field!r} must be required", where, file, "key"))
    types = prop.get("type")
    types = [types] if isinstance(types, str) else types
    if not isinstance(types, list) or not set(types) <= {"string", "integer"}:
        problems.append(
            Problem(f"key field {key_field!r} must have type string or integer", where, file, "key")
        )
    return problems
