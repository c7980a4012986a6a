"""The contract model: event contracts, the services that declare them, compatibility modes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from ..errors import PayloadValidationError, Problem, UnknownEventTypeError

# The CloudEvents `dataschema` we attach: names the event type and the contract version.
DATASCHEMA_PREFIX = "urn:bizevents:contract:"
# Payload problems reported per call: enough to fix a payload, bounded for hostile payloads.
MAX_PAYLOAD_PROBLEMS = 50


class Compatibility(StrEnum):
    """Schema evolution rule of one event type, defined by valid instances (payloads).

    BACKWARD: every payload valid under the previous schema is valid under the new one
    (consumers on the new schema read old events). FORWARD: the reverse. FULL: both.
    *_TRANSITIVE: against every earlier version, not just the latest. NONE: no check.
    """

    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"
    NONE = "NONE"

    @property
    def transitive(self) -> bool:
        return self.value.endswith("_TRANSITIVE")

    @property
    def base(self) -> Compatibility:
        """The mode without TRANSITIVE: BACKWARD, FORWARD, FULL or NONE."""
        return Compatibility(self.value.removesuffix("_TRANSITIVE"))

    @property
    def backward(self) -> bool:
        return self.base in (Compatibility.BACKWARD, Compatibility.FULL)

    @property
    def forward(self) -> bool:
        return self.base in (Compatibility.FORWARD, Compatibility.FULL)


def canonical_dumps(value: Any) -> str:
    """Canonical JSON: sorted keys, no whitespace, UTF-8 kept (stable across Python versions)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _pointer(path: Any) -> str:
    parts = [str(p).replace("~", "~0").replace("/", "~1") for p in path]
    return "/" + "/".join(parts) if parts else ""


@dataclass(frozen=True, eq=False)
class EventContract:
    """One business event type, as declared by one channel of a service's AsyncAPI document."""

    event_type: str
    source: str
    topic: str
    version: str
    service: str
    owner: str
    schema: Mapping[str, Any]
    key_field: str | None = None
    compatibility: Compatibility = Compatibility.BACKWARD
    publishers: tuple[str, ...] = ()
    subscribers: tuple[str, ...] = ()
    retention_ms: int | None = None
    description: str = ""
    channel: str = ""
    message: str = ""
    file: str = ""
    # Wire conventions: "bizevents", or "mendix" (topic = Mendix channel id, see bizevents.mesh).
    mesh: str = "bizevents"
    # Set when the contract comes from the registry and is deprecated there ("since <date>:
    # <reason>"); not part of the contract's content or fingerprint.
    deprecation: str | None = None

    @property
    def dataschema(self) -> str:
        return f"{DATASCHEMA_PREFIX}{self.event_type}:{self.version}"

    @cached_property
    def validator(self) -> Draft202012Validator:
        # Compiled once per contract: validation is on the publish and receive hot paths.
        return Draft202012Validator(dict(self.schema), format_checker=FormatChecker())

    @cached_property
    def fast_validator(self) -> Any:
        """A compiled Rust validator (jsonschema-rs): ~30x faster for the common, valid case."""
        try:
            return jsonschema_rs.validator_for(dict(self.schema), validate_formats=True)
        except Exception:  # e.g. a $ref it cannot resolve: the Python validator decides alone
            return None

    def validate(self, payload: Any) -> None:
        """Raise PayloadValidationError listing every problem (JSON pointer + message)."""
        fast = self.fast_validator
        if fast is not None and fast.is_valid(payload):
            return
        # Invalid (or no fast validator): the reference validator reports every problem.
        problems: list[Problem] = []
        for error in self.validator.iter_errors(payload):
            problems.append(_payload_problem(error))
            if len(problems) >= MAX_PAYLOAD_PROBLEMS:
                break
        if problems:
            problems.sort(key=lambda p: p.pointer)
            raise PayloadValidationError(
                f"payload is not a valid {self.event_type} (contract {self.service} "
                f"{self.version})",
                problems,
            )

    def key_of(self, payload: Any) -> str | None:
        """The ordering key: the payload's key field as a string (None if no key field)."""
        if self.key_field is None or not isinstance(payload, Mapping):
            return None
        value = payload.get(self.key_field)
        return None if value is None else str(value)

    def to_dict(self) -> dict[str, Any]:
        """Everything about the contract as JSON data (the inverse of `from_dict`)."""
        return {
            "event_type": self.event_type,
            "source": self.source,
            "topic": self.topic,
            "version": self.version,
            "service": self.service,
            "owner": self.owner,
            "schema": self.schema,
            "key_field": self.key_field,
            "compatibility": self.compatibility.value,
            "publishers": list(self.publishers),
            "subscribers": list(self.subscribers),
            "retention_ms": self.retention_ms,
            "description": self.description,
            "channel": self.channel,
            "message": self.message,
            "file": self.file,
            # Only when not the default, so contracts without a mesh keep their fingerprints.
            **({"mesh": self.mesh} if self.mesh != "bizevents" else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EventContract:
        return cls(
            event_type=data["event_type"],
            source=data["source"],
            topic=data["topic"],
            version=data["version"],
            service=data["service"],
            owner=data.get("owner", ""),
            schema=data["schema"],
            key_field=data.get("key_field"),
            compatibility=Compatibility(data.get("compatibility", "BACKWARD")),
            publishers=tuple(data.get("publishers", ())),
            subscribers=tuple(data.get("subscribers", ())),
            retention_ms=data.get("retention_ms"),
            description=data.get("description", ""),
            channel=data.get("channel", ""),
            message=data.get("message", ""),
            file=data.get("file", ""),
            mesh=data.get("mesh", "bizevents"),
        )

    def canonical_content(self) -> dict[str, Any]:
        """What identifies this contract version's content. Leaves out the document version
        and file location: re-registering an unchanged event from a bumped document, or from
        another checkout, is the same content."""
        data = self.to_dict()
        for volatile in ("version", "file"):
            data.pop(volatile)
        return data

    def canonical_json(self) -> str:
        return canonical_dumps(self.canonical_content())

    def fingerprint(self) -> str:
        """sha256 (hex) of `canonical_json()`: the content address of this contract version."""
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()


def _payload_problem(error: ValidationError) -> Problem:
    pointer = _pointer(error.absolute_path)
    return Problem(error.message, pointer=pointer or "/", rule=str(error.validator))


@dataclass(frozen=True)
class ServiceDocument:
    """One AsyncAPI document: the events one service publishes."""

    name: str
    version: str
    owner: str
    file: str
    document: Mapping[str, Any]
    text: str
    event_types: tuple[str, ...]


class ContractSet:
    """All loaded contracts, by event type; iterating yields EventContracts."""

    def __init__(
        self,
        contracts: Mapping[str, EventContract],
        services: Mapping[str, ServiceDocument] | None = None,
    ) -> None:
        self._contracts = dict(sorted(contracts.items()))
        self.services: Mapping[str, ServiceDocument] = dict(sorted((services or {}).items()))
        # Advice from loading that does not make the contracts invalid (lint shows it).
        self.notes: list[Problem] = []

    def get(self, event_type: str) -> EventContract:
        try:
            return self._contracts[event_type]
        except KeyError:
            raise UnknownEventTypeError(event_type) from None

    def __contains__(self, event_type: object) -> bool:
        return event_type in self._contracts

    def __iter__(self) -> Iterator[EventContract]:
        return iter(self._contracts.values())

    def __len__(self) -> int:
        return len(self._contracts)

    @property
    def event_types(self) -> tuple[str, ...]:
        return tuple(self._contracts)

    def by_topic(self, topic: str) -> list[EventContract]:
        return [c for c in self._contracts.values() if c.topic == topic]

    def __repr__(self) -> str:
        return f"ContractSet({len(self)} events, services={list(self.services)})"
