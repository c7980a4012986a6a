"""Safe YAML reading for contract files that may be hostile.

PyYAML's SafeLoader already refuses arbitrary Python objects. What it does not refuse:
- alias bombs ("billion laughs"): aliases are shared, not copied, but every later walk over the
  data (validation, JSON dumps) expands them; we measure the expanded size before building;
- deep nesting: composing is recursive and would hit RecursionError; we measure depth first,
  with PyYAML's event parser, which is an iterative state machine;
- huge files: read at most `max_bytes` + 1 bytes;
- duplicate keys (silently "last wins" in PyYAML) and non-string keys (not JSON).
Timestamps stay strings: contracts are JSON data, and `2024-01-01` in an example must not
become a `datetime`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceStartEvent,
)

from ..errors import Problem

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 200_000


@dataclass(frozen=True)
class Limits:
    max_bytes: int = MAX_BYTES
    max_depth: int = MAX_DEPTH
    max_nodes: int = MAX_NODES


class _Loader(yaml.SafeLoader):
    """SafeLoader without timestamps, refusing duplicate and non-string keys."""

    problems: list[Problem]
    file: str


# Copy the resolver table so removing timestamps does not change yaml.SafeLoader globally.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> dict[str, Any]:
    loader.flatten_mapping(node)
    result: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, str):
            loader.problems.append(
                Problem(
                    f"line {line}: mapping key {key!r} is not a string (quote it)",
                    file=loader.file,
                    rule="yaml-key",
                )
            )
            key = str(key)
        if key in result:
            loader.problems.append(
                Problem(
                    f"line {line}: duplicate key {key!r}", file=loader.file, rule="yaml-duplicate"
                )
            )
        result[key] = loader.construct_object(value_node, deep=True)
    return result


def _construct_str(loader: _Loader, node: yaml.ScalarNode) -> str:
    """Escapes (`"\\ud800"`, `"\\0"`) can make strings no UTF-8 text or PostgreSQL column holds:
    a lone UTF-16 surrogate or a NUL. Both are refused where they are written."""
    value = str(loader.construct_scalar(node))
    problem = None
    if "\x00" in value:
        problem = "a NUL character"
    elif not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            problem = "a lone UTF-16 surrogate (not valid Unicode)"
    if problem is not None:
        loader.problems.append(
            Problem(
                f"line {node.start_mark.line + 1}: text contains {problem}",
                file=loader.file,
                rule="yaml-text",
            )
        )
        value = value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "?")
    return value


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:str", _construct_str)


class _Loader12(_Loader):
    """YAML 1.2 booleans (only true/false), as the AsyncAPI parser (js-yaml) reads documents:
    `enum: [on, off]` is two strings there, two booleans under YAML 1.1."""


_BOOL_12 = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_Loader12.yaml_implicit_resolvers = {
    first: [
        (tag, _BOOL_12 if tag == "tag:yaml.org,2002:bool" else rx)
        for tag, rx in resolvers
        if tag != "tag:yaml.org,2002:bool" or first in "tTfF"
    ]
    for first, resolvers in _Loader.yaml_implicit_resolvers.items()
}


def _measure(text: str, file: str, limits: Limits) -> Problem | None:
    """Depth and expanded node count, from the event stream (no recursion, no tree built)."""
    depth = 0
    total = 0
    # One counter per open collection; anchored collections remember their expanded size.
    stack: list[tuple[int, str | None]] = []
    anchored: dict[str, int] = {}
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, MappingStartEvent | SequenceStartEvent):
            depth += 1
            if depth > limits.max_depth:
                line = event.start_mark.line + 1 if event.start_mark else 0
                return Problem(
                    f"line {line}: nesting deeper than {limits.max_depth} levels",
                    file=file,
                    rule="yaml-depth",
                )
            stack.append((total, event.anchor))
            total += 1
        elif isinstance(event, CollectionEndEvent):
            depth -= 1
            start, anchor = stack.pop()
            if anchor is not None:
                anchored[anchor] = total - start
        elif isinstance(event, ScalarEvent):
            total += 1
            if event.anchor is not None:
                anchored[event.anchor] = 1
        elif isinstance(event, AliasEvent):
            total += anchored.get(event.anchor or "", 1)
        if total > limits.max_nodes:
            line = event.start_mark.line + 1 if event.start_mark else 0
            return Problem(
                f"line {line}: document expands to more than {limits.max_nodes} nodes "
                "(alias bomb or oversized document)",
                file=file,
                rule="yaml-size",
            )
    return None


def read_text(path: Path, file: str, limits: Limits) -> tuple[str | None, Problem | None]:
    """The file's text, or a problem if it is too large, unreadable or not UTF-8."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(limits.max_bytes + 1)
    except OSError as exc:
        return None, Problem(f"cannot read file: {exc.strerror}", file=file, rule="io")
    if len(raw) > limits.max_bytes:
        return None, Problem(
            f"file larger than {limits.max_bytes} bytes, refused", file=file, rule="file-size"
        )
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        return None, Problem(f"not UTF-8 text: {exc.reason}", file=file, rule="encoding")


def parse_yaml(
    text: str, file: str, limits: Limits | None = None, *, yaml12: bool = False
) -> tuple[Any, list[Problem]]:
    """Parse one YAML document safely: (data, problems). Data is None on fatal problems.
    `yaml12`: YAML 1.2 booleans (yes/no/on/off stay strings)."""
    limits = limits or Limits()
    if len(text.encode("utf-8")) > limits.max_bytes:
        return None, [
            Problem(
                f"file larger than {limits.max_bytes} bytes, refused", file=file, rule="file-size"
            )
        ]
    try:
        over = _measure(text, file, limits)
        if over is not None:
            return None, [over]
        loader = (_Loader12 if yaml12 else _Loader)(text)
        loader.problems = []
        loader.file = file
        try:
            data = loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = " ".join(p for p in (exc.context, exc.problem) if p)
        return None, [Problem(f"{where}YAML syntax error: {what}", file=file, rule="yaml-syntax")]
    except yaml.YAMLError as exc:
        return None, [Problem(f"YAML error: {exc}", file=file, rule="yaml-syntax")]
    return data, loader.problems
