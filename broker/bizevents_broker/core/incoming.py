"""Events as callers hand them in, before contracts are applied (pure).

`IncomingEvent` is what every ingress produces: the REST adapter from the CloudEvents HTTP
binding (structured, binary, batch) or a plain JSON body. `from_structured` reads the CloudEvents
JSON format (a dict) and says exactly which attribute is wrong.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bizevents.envelope import text_problem

from .errors import ErrorKind, GatewayError, ProblemDetail

SPECVERSION = "1.0"
JSON_TYPES = ("application/json", "text/json")
_CORE = frozenset(
    {"id", "source", "type", "specversion", "time", "subject", "dataschema", "datacontenttype",
     "data", "data_base64"}
)  # fmt: skip
_EXTENSION = re.compile(r"^[a-z0-9]{1,20}$")


@dataclass(frozen=True)
class IncomingEvent:
    type: str
    data: Any
    id: str | None = None
    source: str | None = None
    time: datetime | None = None
    subject: str | None = None
    dataschema: str | None = None
    key: str | None = None  # the `partitionkey` extension
    extensions: Mapping[str, str] = field(default_factory=dict)
    pointer: str = ""  # where this event sits in the request ("" or "/3" in a batch)


def check_text(value: str, what: str, kind: ErrorKind = ErrorKind.BAD_REQUEST) -> str:
    problem = text_problem(value)
    if problem is not None:
        raise GatewayError(kind, f"{what} {problem}")
    return value


def invalid(pointer: str, message: str) -> GatewayError:
    return GatewayError(
        ErrorKind.INVALID_CLOUDEVENT, message, problems=[ProblemDetail(message, pointer)]
    )


def is_json_type(content_type: str | None) -> bool:
    if not content_type:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media in JSON_TYPES or media.endswith("+json")


def check_id(value: str, pointer: str) -> str:
    """bizevents event ids are UUIDs (consumers dedupe and sort by them)."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise invalid(pointer, f"id must be a UUID (or left out), not {value!r}") from None


def parse_time(value: str, pointer: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise invalid(pointer, f"time must be an RFC 3339 timestamp, not {value!r}") from None
    if moment.tzinfo is None:
        raise invalid(pointer, "time must carry a time zone offset (e.g. Z)")
    return moment


def split_attributes(
    attrs: Mapping[str, str], pointer: str, *, required: tuple[str, ...]
) -> dict[str, Any]:
    """Check context attributes given as strings (binary-mode headers, or a structured event's
    scalars) and return the keyword arguments of an IncomingEvent (without data)."""
    for name in required:
        if not attrs.get(name):
            raise invalid(f"{pointer}/{name}", f"missing required attribute {name!r}")
    if attrs.get("specversion", SPECVERSION) != SPECVERSION:
        raise invalid(f"{pointer}/specversion", "specversion must be '1.0'")
    for name in ("source", "subject", "dataschema", "id"):
        if name in attrs and not attrs[name]:
            raise invalid(f"{pointer}/{name}", f"attribute {name!r} is present but empty")
    for name, value in attrs.items():
        problem = text_problem(value)
        if problem is not None:
            raise invalid(f"{pointer}/{name}", f"attribute {name!r} {problem}")
    extensions: dict[str, str] = {}
    for name, value in attrs.items():
        if name in _CORE or name == "partitionkey":
            continue
        if not _EXTENSION.match(name):
            raise invalid(
                f"{pointer}/{name}",
                f"invalid extension attribute name {name!r} (1-20 lower-case letters or digits)",
            )
        extensions[name] = value
    return {
        "type": attrs.get("type", ""),
        "id": check_id(attrs["id"], f"{pointer}/id") if attrs.get("id") else None,
        "source": attrs.get("source"),
        "time": parse_time(attrs["time"], f"{pointer}/time") if attrs.get("time") else None,
        "subject": attrs.get("subject"),
        "dataschema": attrs.get("dataschema"),
        "key": attrs.get("partitionkey") or None,
        "extensions": extensions,
        "pointer": pointer,
    }


def _scalar(name: str, value: Any, pointer: str) -> str:
    if isinstance(value, bool) or value is None:
        raise invalid(f"{pointer}/{name}", f"attribute {name!r} must be a string")
    if isinstance(value, int | float):  # CloudEvents allows integer (and boolean) extensions
        return json.dumps(value)
    if not isinstance(value, str):
        raise invalid(f"{pointer}/{name}", f"attribute {name!r} must be a string")
    return value


def from_structured(doc: Any, pointer: str = "") -> IncomingEvent:
    """One event in the CloudEvents JSON format."""
    if not isinstance(doc, dict):
        raise invalid(pointer or "/", "a CloudEvent must be a JSON object")
    content_type = doc.get("datacontenttype")
    if content_type is not None and (
        not isinstance(content_type, str) or not is_json_type(content_type)
    ):
        raise invalid(
            f"{pointer}/datacontenttype",
            "event data must be JSON (datacontenttype application/json or absent)",
        )
    attrs = {
        name: _scalar(name, value, pointer)
        for name, value in doc.items()
        if name not in ("data", "data_base64", "datacontenttype")
    }
    fields = split_attributes(attrs, pointer, required=("id", "source", "type", "specversion"))
    if "data" in doc and "data_base64" in doc:
        raise invalid(pointer or "/", "an event has data or data_base64, not both")
    if "data_base64" in doc:
        raw = doc["data_base64"]
        try:
            data = json.loads(base64.b64decode(raw, validate=True)) if isinstance(raw, str) else ...
        except (binascii.Error, ValueError):
            data = ...
        if data is ...:
            raise invalid(f"{pointer}/data_base64", "data_base64 must be base64 of a JSON value")
    else:
        data = doc.get("data")
    return IncomingEvent(data=data, **fields)
