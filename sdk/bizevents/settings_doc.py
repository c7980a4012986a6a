"""Every BIZEVENTS_* variable, described from the settings classes themselves (pure: no I/O).

The README's table and `bizevents settings` come from here, and a test keeps the README in step,
so a new setting cannot go undocumented.
"""

from __future__ import annotations

import json
import typing
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from .settings import ENV_PREFIX, ConnectionSettings

TABLE_START = "<!-- settings-table:start (generated: bizevents settings --markdown) -->"
TABLE_END = "<!-- settings-table:end -->"


@dataclass(frozen=True)
class Variable:
    name: str
    default: str
    kind: str
    description: str
    used_by: tuple[str, ...]


def settings_classes() -> list[tuple[type[BaseModel], str]]:
    """Each process's settings class and who reads it (the broker's only when installed)."""
    from .contracts.settings import ContractsSettings
    from .dlq.settings import DeadLetterSettings
    from .settings import DevSettings, RelaySettings
    from .worker.settings import WorkerSettings

    classes: list[tuple[type[BaseModel], str]] = [
        (ConnectionSettings, "all"),
        (RelaySettings, "relay"),
        (WorkerSettings, "worker"),
        (DeadLetterSettings, "dlq, replay"),
        (ContractsSettings, "contracts"),
        (DevSettings, "dev"),
    ]
    from .ops.overview import OpsSettings

    classes.append((OpsSettings, "status, ops page"))
    try:
        from bizevents_broker.settings import BrokerSettings
    except ImportError:
        return classes
    return [*classes, (BrokerSettings, "broker")]


def variables(classes: list[tuple[type[BaseModel], str]] | None = None) -> list[Variable]:
    """One entry per variable; a field shared by several classes lists all of its readers."""
    shared = set(ConnectionSettings.model_fields)
    found: dict[str, dict[str, Any]] = {}
    for cls, user in classes or settings_classes():
        for field_name, info in cls.model_fields.items():
            if field_name in shared and cls is not ConnectionSettings:
                continue
            entry = found.setdefault(
                field_name,
                {
                    "default": _default(info, field_name),
                    "kind": _kind(info.annotation),
                    "description": info.description or "",
                    "used_by": [],
                },
            )
            entry["used_by"].append(user)
    return [
        Variable(
            name=ENV_PREFIX + name.upper(),
            default=entry["default"],
            kind=entry["kind"],
            description=entry["description"],
            used_by=tuple(entry["used_by"]),
        )
        for name, entry in found.items()
    ]


def _default(info: FieldInfo, field_name: str) -> str:
    if field_name == "project_root":
        return "the checkout"
    value = info.get_default(call_default_factory=True, validated_data={})
    if value is PydanticUndefined or value is None:
        return ""
    if isinstance(value, SecretStr):
        return "***"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    if isinstance(value, Path):
        return str(value)
    return str(value)


def _kind(annotation: Any) -> str:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return "one of " + ", ".join(str(a) for a in typing.get_args(annotation))
    if origin in (list, tuple):
        return f"list of {_kind(args[0]) if args else 'text'}s (a,b)"
    if args and origin is not None:
        return _kind(args[0])
    return {
        int: "integer",
        float: "number",
        bool: "boolean (1/0)",
        str: "text",
        Path: "path",
        SecretStr: "secret",
    }.get(annotation, getattr(annotation, "__name__", str(annotation)))


def markdown_table(entries: list[Variable] | None = None) -> str:
    rows = ["| variable | default | type | used by | what |", "| --- | --- | --- | --- | --- |"]
    for v in entries or variables():
        default = f"`{v.default}`" if v.default else ""
        rows.append(
            f"| `{v.name}` | {default} | {v.kind} | {', '.join(v.used_by)} | {v.description} |"
        )
    return "\n".join(rows)


def with_table(readme: str) -> str:
    """`readme` with the text between the table markers replaced by the current table."""
    head, found, rest = readme.partition(TABLE_START)
    if not found or TABLE_END not in rest:
        raise ValueError(f"no {TABLE_START} ... {TABLE_END} block")
    tail = rest.split(TABLE_END, 1)[1]
    return f"{head}{TABLE_START}\n{markdown_table()}\n{TABLE_END}{tail}"


def as_json(entries: list[Variable] | None = None) -> str:
    return json.dumps(
        [
            {
                "name": v.name,
                "default": v.default,
                "type": v.kind,
                "used_by": list(v.used_by),
                "description": v.description,
            }
            for v in entries or variables()
        ],
        indent=2,
    )


def epilog(*classes: type[BaseModel]) -> str:
    """For a command's --help: the variables it reads (`bizevents settings` describes them)."""
    names: list[str] = []
    for cls in classes:
        names += [ENV_PREFIX + name.upper() for name in cls.model_fields if name not in names]
    unique = list(dict.fromkeys(names))
    return (
        "Reads the environment variables "
        + ", ".join(unique)
        + " (`bizevents settings` describes each)."
    )
