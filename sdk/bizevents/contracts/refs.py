"""`$ref` resolution across the documents of one contracts folder (pure, bounded).

Refs are local (`#/components/schemas/Money`) or to a sibling file inside the contracts root
(`common.yaml#/components/schemas/Money`, `common.yaml`). Remote refs and paths escaping the
root are refused. Payload schemas are bundled by inlining every ref, so a contract's schema is
self-contained; a ref that reaches itself again is reported as recursive (payload schemas must
be finite trees), and inlining stops at a node budget so ref "bombs" cannot explode.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from ..errors import Problem

# Keywords that only annotate: safe to merge beside an inlined `$ref`.
ANNOTATIONS = frozenset(
    {"title", "description", "$comment", "examples", "default", "deprecated", "readOnly",
     "writeOnly", "summary"}
)  # fmt: skip

MAX_REF_DEPTH = 32


def escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def join(pointer: str, *tokens: str | int) -> str:
    return pointer + "".join("/" + escape(str(t)) for t in tokens)


def split_pointer(pointer: str) -> list[str]:
    """The unescaped tokens of a JSON pointer ("" is the whole document)."""
    if not pointer or pointer == "/":
        return []
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer.lstrip("/").split("/")]


class RefError(Exception):
    """A ref that cannot be followed; carries the message for the Problem."""


@dataclass
class Resolver:
    """Follows and inlines refs. `load(rel_path)` returns a sibling document's data or raises
    RefError; documents are cached by their path relative to the contracts root."""

    root: Path
    documents: dict[str, Any]
    load: Callable[[str], Any]
    max_nodes: int = 200_000
    problems: list[Problem] = field(default_factory=list)

    def target_file(self, file: str, ref_path: str) -> str:
        if "://" in ref_path or ref_path.startswith("//"):
            raise RefError(f"remote $ref {ref_path!r} is not allowed (only local files)")
        base = (self.root / file).parent
        target = (base / unquote(ref_path)).resolve()
        root = self.root.resolve()
        if not target.is_relative_to(root):
            raise RefError(f"$ref {ref_path!r} points outside the contracts folder")
        return target.relative_to(root).as_posix()

    def document(self, file: str) -> Any:
        if file not in self.documents:
            self.documents[file] = self.load(file)
        return self.documents[file]

    def lookup(self, file: str, ref: str) -> tuple[str, str, Any]:
        """(file, pointer, value) that `ref`, written in `file`, names."""
        if not isinstance(ref, str):
            raise RefError("$ref must be a string")
        path, _, fragment = ref.partition("#")
        target = self.target_file(file, path) if path else file
        value = self.document(target)
        if fragment and not fragment.startswith("/"):
            raise RefError(f"$ref fragment {fragment!r} must be a JSON pointer starting with '/'")
        pointer = unquote(fragment)
        for raw in pointer.split("/")[1:]:
            token = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(value, dict) and token in value:
                value = value[token]
            elif isinstance(value, list) and token.isdigit() and int(token) < len(value):
                value = value[int(token)]
            else:
                raise RefError(f"$ref {ref!r} names nothing: no {pointer!r} in {target}")
        return target, pointer, value

    def follow(self, file: str, pointer: str, value: Any) -> tuple[str, str, Any]:
        """Follow a chain of pure `{"$ref": ...}` objects to the object they name."""
        seen: list[tuple[str, str]] = []
        while isinstance(value, dict) and "$ref" in value:
            if (file, pointer) in seen:
                chain = " -> ".join(f"{f}#{p}" for f, p in [*seen, (file, pointer)])
                raise RefError(f"recursive $ref: {chain}")
            seen.append((file, pointer))
            file, pointer, value = self.lookup(file, value["$ref"])
        return file, pointer, value

    def inline(self, file: str, pointer: str, value: Any) -> Any:
        """A deep copy of `value` with every ref replaced by what it names. Problems are
        recorded (naming the file and pointer of the bad ref); the bad ref becomes `{}`."""
        budget = [self.max_nodes]
        try:
            return self._inline(file, pointer, value, (), budget)
        except _BudgetExceeded:
            self.problems.append(
                Problem(
                    f"schema expands to more than {self.max_nodes} nodes when its $refs are "
                    "inlined (ref bomb?)",
                    pointer=pointer,
                    file=file,
                    rule="ref-size",
                )
            )
            return {}

    def _inline(
        self,
        file: str,
        pointer: str,
        value: Any,
        stack: tuple[tuple[str, str], ...],
        budget: list[int],
    ) -> Any:
        budget[0] -= 1
        if budget[0] < 0:
            raise _BudgetExceeded
        if isinstance(value, list):
            return [
                self._inline(file, join(pointer, i), v, stack, budget) for i, v in enumerate(value)
            ]
        if not isinstance(value, dict):
            return copy.copy(value)
        if "$ref" not in value:
            return {
                k: self._inline(file, join(pointer, k), v, stack, budget) for k, v in value.items()
            }
        try:
            tfile, tpointer, target = self.lookup(file, value["$ref"])
        except RefError as exc:
            self.problems.append(Problem(str(exc), pointer=pointer, file=file, rule="ref"))
            return {}
        if len(stack) >= MAX_REF_DEPTH:
            self.problems.append(
                Problem(
                    f"$refs nested more than {MAX_REF_DEPTH} levels deep",
                    pointer=pointer,
                    file=file,
                    rule="ref-depth",
                )
            )
            return {}
        if (tfile, tpointer) in stack:
            chain = " -> ".join(f"{f}#{p}" for f, p in [*stack, (tfile, tpointer)])
            self.problems.append(
                Problem(f"recursive $ref: {chain}", pointer=pointer, file=file, rule="ref-cycle")
            )
            return {}
        resolved = self._inline(tfile, tpointer, target, (*stack, (tfile, tpointer)), budget)
        siblings = {
            k: self._inline(file, join(pointer, k), v, stack, budget)
            for k, v in value.items()
            if k != "$ref"
        }
        if not siblings:
            return resolved
        if isinstance(resolved, dict) and set(siblings) <= ANNOTATIONS:
            return {**resolved, **siblings}
        # Keywords beside $ref apply together with it (draft 2020-12): keep both.
        return {**siblings, "allOf": [*siblings.get("allOf", []), resolved]}


class _BudgetExceeded(Exception):
    pass
