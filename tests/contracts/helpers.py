"""Small contract documents for loader and CLI tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "contracts"


def document(
    title: str = "things",
    events: dict[str, dict[str, Any]] | None = None,
    *,
    owner: str | None = "team-things",
    source: str | None = "/acme/things",
) -> dict[str, Any]:
    """An AsyncAPI 3.0 document; `events` maps channel id -> channel extensions + `payload`."""
    events = events if events is not None else {"thingHappened": thing_channel()}
    info: dict[str, Any] = {"title": title, "version": "1.0.0"}
    if owner is not None:
        info["x-bizevents-owner"] = owner
    if source is not None:
        info["x-bizevents-source"] = source
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for channel_id, spec in events.items():
        spec = dict(spec)
        payload = spec.pop("payload")
        channels[channel_id] = {**spec, "messages": {"Msg": {"payload": payload}}}
        operations[f"send_{channel_id}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel_id}"},
        }
    return {"asyncapi": "3.0.0", "info": info, "channels": channels, "operations": operations}


def thing_channel(
    event_type: str = "com.acme.things.ThingHappened.v1", **extra: Any
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "address": event_type,
        "x-bizevents-type": event_type,
        "x-bizevents-key": "id",
        "payload": {
            "type": "object",
            "required": ["id"],
            "properties": {"id": {"type": "string"}, "size": {"type": "integer", "minimum": 0}},
        },
    }
    spec.update(extra)
    return spec


def write(folder: Path, name: str, data: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path
