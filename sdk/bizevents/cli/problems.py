"""Problem lists on a terminal, in CI logs and for machines (pure rendering, no I/O).

`table`: one line per problem, `file:line:column: [rule] message`, then its JSON pointer: readable
at any width and without a TTY (no box drawing). `github`: workflow commands, so each problem
annotates its line in a pull request. `json`: one document.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import Any

from ..errors import Problem


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"
    GITHUB = "github"


def problem_dict(p: Problem) -> dict[str, Any]:
    return {
        "file": p.file,
        "line": p.line,
        "column": p.column,
        "pointer": p.pointer,
        "rule": p.rule,
        "message": p.message,
    }


def as_lines(problems: Iterable[Problem], label: str = "") -> list[str]:
    lines = []
    for p in problems:
        where = p.position or "(contracts)"
        lines.append(f"{label}{where}: [{p.rule}] {p.message}")
        if p.pointer and p.pointer != "/":
            lines.append(f"    at {p.pointer}")
    return lines


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def as_github(problems: Iterable[Problem], base: Path | None, level: str = "error") -> list[str]:
    """`::error file=contracts/orders.yaml,line=14,col=5,title=...::message` per problem."""
    lines = []
    for p in problems:
        props = []
        if p.file:
            path = base / p.file if base is not None else Path(p.file)
            props.append(f"file={_escape_property(path.as_posix())}")
        if p.line is not None:
            props += [f"line={p.line}", f"col={p.column or 1}"]
        props.append(f"title={_escape_property(f'bizevents [{p.rule}]')}")
        where = f" (at {p.pointer})" if p.pointer and p.pointer != "/" else ""
        lines.append(f"::{level} {','.join(props)}::{_escape_data(p.message + where)}")
    return lines


def as_json(ok: bool, summary: str, problems: list[Problem], notes: list[Problem]) -> str:
    return json.dumps(
        {
            "ok": ok,
            **({"error": summary} if not ok else {}),
            "problems": [problem_dict(p) for p in problems],
            "notes": [problem_dict(p) for p in notes],
        },
        indent=2,
    )
